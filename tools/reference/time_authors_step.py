"""Times one step of the authors' PyTorch Meta-SGD (fmeier/online-meta-learning,
`meta_learning/backend/pytorch/optimizers/{meta_sgd,memory_static_1d,memory_optimizer}.py`),
the figure lrmem's speed target is a multiple of.

The authors' code is Python 2 (print statements), so it cannot be imported under Python 3; this
script runs the same tensor operations in the same order, on one parameter tensor of D
coordinates with M evenly spaced centres over ±1 (`lm_scale` 0.5), the gradient clamped to ±1,
Adam on θ (ξ = 1e-3): per step

  update_state: grad_prev ← grad; grad ← g; activation_prev ← activation;
                activation = exp(−0.5 (g − c)² / σ²)            (a D×M tensor)
                G = mean_d(clamp(g·g_prev, −1, 1) · activation_prev)  and Adam's moments
  update_memory: θ ← clamp(θ + ξ_t · m/(√v + ε), 1e−9, 1)
  compute_eta:  η = Σ_m activation·θ / Σ_m activation              (D×M again)
  w ← w − η · g

Not run by CI (torch is large). In a scratch venv, one thread, a quiet machine:

    python -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch numpy
    /tmp/torchvenv/bin/python tools/reference/time_authors_step.py --d 1000000 --m 20

Without torch it prints the last measured figure and says so. lrmem's side of the ratio is
`cargo xtask bench --speed` (ns per coordinate of `meta-sgd:m=20` at D = 10⁶).
"""

import argparse
import math
import statistics
import sys
import time

# The last figure measured with this script's operations (torch 2, one thread, D = 10⁶,
# M = 20): what the speed report compares with when torch is not installed.
LAST_MEASURED_MS = 466.0


class AuthorsMetaSgd:
    """The authors' MetaSgd over one tensor with a MemoryStatic1d memory and Adam on θ."""

    def __init__(self, torch, d, m, lr=1e-3, xi=1e-3, lm_scale=0.5, clip=1.0):
        self.t = torch
        self.clip = clip
        self.centers = torch.linspace(-clip, clip, m)
        self.sigmasq = torch.tensor([(lm_scale * float(self.centers[0] - self.centers[1])) ** 2])
        self.value = torch.ones(m) * lr
        self.one = torch.ones(1)
        self.grad_prev = torch.zeros(d)
        self.grad = torch.zeros(d)
        self.activation = torch.zeros(d, m)
        self.activation_prev = torch.zeros(d, m)
        # Adam on θ (memory_optimizer.Adam).
        self.xi, self.beta1, self.beta2, self.eps = xi, 0.9, 0.999, 1e-8
        self.step_count = 0
        self.exp_avg = torch.zeros(m)
        self.exp_avg_sq = torch.zeros(m)

    def step(self, param, grad):
        t = self.t
        grad.clamp_(min=-self.clip, max=self.clip)
        # update_state
        self.grad_prev.copy_(self.grad)
        self.grad.copy_(grad)
        self.activation_prev.copy_(self.activation)
        g = self.grad.view(-1, 1).expand_as(self.activation)
        c = self.centers.view(1, -1).expand_as(self.activation)
        self.activation = t.exp(-0.5 * ((g - c) ** 2 / self.sigmasq))
        change = t.max(t.min(self.grad * self.grad_prev, self.one), -self.one)
        weighted = change.view(-1, 1).expand_as(self.activation_prev) * self.activation_prev
        mean = weighted.mean(0)
        self.step_count += 1
        self.exp_avg.mul_(self.beta1).add_(mean, alpha=1 - self.beta1)
        self.exp_avg_sq.mul_(self.beta2).addcmul_(mean, mean, value=1 - self.beta2)
        direction = self.exp_avg / (self.exp_avg_sq.sqrt() + self.eps)
        lr_t = self.xi * math.sqrt(1 - self.beta2 ** self.step_count) / (
            1 - self.beta1 ** self.step_count)
        # update_memory
        self.value = t.max(t.min(self.value + lr_t * direction, self.one), self.one * 1e-9)
        # compute_eta
        total = self.activation.sum(1)
        eta = (self.activation * self.value.view(1, -1).expand_as(self.activation)).sum(1) / total
        param.add_(-(eta.view(param.size()) * grad))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--d", type=int, default=1_000_000, help="coordinates of the tensor")
    ap.add_argument("--m", type=int, default=20, help="centres M")
    ap.add_argument("--steps", type=int, default=20, help="timed steps (after 3 warm-up steps)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    a = ap.parse_args()
    try:
        import torch
    except ImportError:
        print(f"torch is not installed: the last measured step (torch 2, one thread, "
              f"D = 10^6, M = 20) took {LAST_MEASURED_MS} ms")
        return 0
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    opt = AuthorsMetaSgd(torch, a.d, a.m)
    param = torch.randn(a.d) * 0.1
    times = []
    for i in range(a.steps + 3):
        grad = torch.randn(a.d) * 0.05
        start = time.perf_counter()
        opt.step(param, grad)
        elapsed = time.perf_counter() - start
        if i >= 3:
            times.append(elapsed * 1e3)
    print(f"authors' Meta-SGD step, torch {torch.__version__}, {a.threads} thread(s), "
          f"D = {a.d}, M = {a.m}: median {statistics.median(times):.1f} ms "
          f"(min {min(times):.1f}, max {max(times):.1f}) over {a.steps} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
