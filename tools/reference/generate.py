"""Reference trajectories of the learning-rate-free optimizers, for lrmem-optimizers' tests.

Feeds one fixed, seeded gradient sequence for three named tensors (`scalar`: 1 coordinate,
`bias`: 7, all zero at the start, `weight`: 5,000) to each reference implementation and writes
JSON fixtures into `crates/optimizers/tests/fixtures/reference/`:

* `init.json`: tensor name -> initial values; `grads.json`: a list of steps, each mapping
  tensor names to gradients. These are the INIT and GRADS files of the `trajectory` example.
* `<case>.json`: the lrmem spec of the case, the reference call it was compared with, and the
  parameters after every step (`weight` every `STRIDE`-th coordinate; all of it after the last
  step), plus the point the optimizer evaluates at (`eval`) where it has one (Schedule-Free's x,
  DoG's polynomial average).

Not run by CI (torch is large). Run it in a scratch venv:

    python -m venv /tmp/refvenv && /tmp/refvenv/bin/pip install -r tools/reference/requirements.txt
    /tmp/refvenv/bin/python tools/reference/generate.py

Every gradient and parameter is a float32 value, written as the shortest decimal that reads back
as the same float32. The references run in float32, as lrmem does. Each torch case also carries
`steps64`, the same reference run on float64 tensors of the same values: how far float32 rounding
alone moves the reference. Where an algorithm amplifies rounding (Prodigy's d is a ratio of sums
of x₀ − x, which loses most of its digits in float32 after a small step), the tests hold lrmem to
that distance instead of a fixed 1e-5.
"""

import json
import math
import os
import sys

import numpy as np
import torch

STEPS = 20
STRIDE = 25
SHAPES = {"scalar": (1,), "bias": (7,), "weight": (50, 100)}
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "optimizers", "tests",
                   "fixtures", "reference")


def f32(x):
    """The shortest decimal string of a float32 that reads back as the same float32."""
    return float(np.format_float_positional(np.float32(x), unique=True, trim="-"))


def values(t):
    return [f32(v) for v in t.detach().reshape(-1).numpy()]


def problem():
    """Initial values and a gradient sequence: a persistent direction per coordinate (so that
    the gradient keeps its sign for a while, as on a real loss), noise, and a scale that changes
    over the steps."""
    rng = np.random.default_rng(20231127)
    init = {
        "scalar": np.array([1.5], dtype=np.float32),
        "bias": np.zeros(7, dtype=np.float32),
        "weight": (0.1 * rng.standard_normal(5000)).astype(np.float32),
    }
    direction = {k: rng.standard_normal(v.size).astype(np.float32) for k, v in init.items()}
    grads = []
    for t in range(STEPS):
        scale = 1.0 + 0.5 * math.sin(0.7 * t)
        step = {}
        for k, v in init.items():
            noise = rng.standard_normal(v.size)
            decay = 0.9 ** t
            step[k] = (scale * (decay * direction[k] + 0.3 * noise)).astype(np.float32)
        grads.append(step)
    return init, grads


def params_of(init, dtype=np.float32):
    return {k: torch.nn.Parameter(torch.tensor(v.astype(dtype).reshape(SHAPES[k])))
            for k, v in init.items()}


def record(ps, stride=True):
    out = {}
    for k, p in ps.items():
        v = values(p)
        out[k] = v[::STRIDE] if (stride and k == "weight") else v
    return out


def run(make, init, grads, eval_point=None, after_step=None, dtype=np.float32):
    """Steps the optimizer `make(params)` through `grads`; returns the recorded trajectory."""
    ps = params_of(init, dtype)
    opt = make(list(ps.values()))
    if hasattr(opt, "train"):
        opt.train()
    steps, evals = [], []
    for g in grads:
        for k, p in ps.items():
            p.grad = torch.tensor(g[k].astype(dtype).reshape(SHAPES[k]))
        opt.step()
        if after_step is not None:
            after_step()
        steps.append(record(ps))
        if eval_point is not None:
            evals.append(eval_point(ps, opt))
    out = {"steps": steps, "final": record(ps, stride=False)}
    if eval_point is not None:
        out["eval"] = evals
    return out


def schedule_free_x(ps, opt):
    """The point Schedule-Free evaluates at: x, what `opt.eval()` swaps in."""
    return {k: (v[::STRIDE] if k == "weight" else v)
            for k, v in ((k, values(opt.state[p]["x"])) for k, p in ps.items())}


def cases():
    import dadaptation
    import dog
    import mechanic_pytorch
    import prodigyopt
    import schedulefree

    sf_sgd = schedulefree.SGDScheduleFreeReference
    sf_adamw = schedulefree.AdamWScheduleFreeReference
    return [
        # (file, lrmem spec, reference call as text, constructor, extras)
        ("prodigy", "prodigy", "prodigyopt.Prodigy(params)",
         lambda p: prodigyopt.Prodigy(p), {}),
        ("prodigy-options", "prodigy:weight_decay=0.1,use_bias_correction=true,safeguard_warmup=true,d_coef=2,growth_rate=1.5,d0=1e-4",
         "prodigyopt.Prodigy(params, weight_decay=0.1, use_bias_correction=True, safeguard_warmup=True, d_coef=2.0, growth_rate=1.5, d0=1e-4)",
         lambda p: prodigyopt.Prodigy(p, weight_decay=0.1, use_bias_correction=True,
                                      safeguard_warmup=True, d_coef=2.0, growth_rate=1.5, d0=1e-4), {}),
        ("prodigy-coupled", "prodigy:weight_decay=0.1,decouple=false,beta1=0,beta3=0.9",
         "prodigyopt.Prodigy(params, weight_decay=0.1, decouple=False, betas=(0.0, 0.999), beta3=0.9)",
         lambda p: prodigyopt.Prodigy(p, weight_decay=0.1, decouple=False, betas=(0.0, 0.999),
                                      beta3=0.9), {}),
        ("dadapt-adam", "dadapt-adam", "dadaptation.DAdaptAdam(params)",
         lambda p: dadaptation.DAdaptAdam(p), {}),
        ("dadapt-adam-options", "dadapt-adam:weight_decay=0.1,decouple=true,use_bias_correction=true,growth_rate=1.5,d0=1e-4",
         "dadaptation.DAdaptAdam(params, weight_decay=0.1, decouple=True, use_bias_correction=True, growth_rate=1.5, d0=1e-4)",
         lambda p: dadaptation.DAdaptAdam(p, weight_decay=0.1, decouple=True,
                                          use_bias_correction=True, growth_rate=1.5, d0=1e-4), {}),
        ("dadapt-sgd", "dadapt-sgd", "dadaptation.DAdaptSGD(params)",
         lambda p: dadaptation.DAdaptSGD(p), {}),
        ("dadapt-sgd-options", "dadapt-sgd:momentum=0.9,weight_decay=0.01,growth_rate=1.5",
         "dadaptation.DAdaptSGD(params, momentum=0.9, weight_decay=0.01, growth_rate=1.5)",
         lambda p: dadaptation.DAdaptSGD(p, momentum=0.9, weight_decay=0.01, growth_rate=1.5), {}),
        ("dog", "dog:average=8", "dog.DoG(params) with dog.PolynomialDecayAverager(gamma=8) as the eval point",
         lambda p: dog.DoG(p), {"averager": 8.0}),
        ("dog-options", "dog:weight_decay=0.01,reps_rel=1e-4", "dog.DoG(params, weight_decay=0.01, reps_rel=1e-4)",
         lambda p: dog.DoG(p, weight_decay=0.01, reps_rel=1e-4), {}),
        ("dog-init-eta", "dog:init_eta=1e-3", "dog.DoG(params, init_eta=1e-3)",
         lambda p: dog.DoG(p, init_eta=1e-3), {}),
        ("ldog", "ldog", "dog.LDoG(params)", lambda p: dog.LDoG(p), {}),
        ("sf-sgd", "sf-sgd", "schedulefree.SGDScheduleFreeReference(params)",
         lambda p: sf_sgd(p), {"x": True}),
        ("sf-sgd-options", "sf-sgd:lr=0.5,momentum=0.8,weight_decay=0.01,warmup_steps=5,r=0.5,weight_lr_power=1",
         "schedulefree.SGDScheduleFreeReference(params, lr=0.5, momentum=0.8, weight_decay=0.01, warmup_steps=5, r=0.5, weight_lr_power=1)",
         lambda p: sf_sgd(p, lr=0.5, momentum=0.8, weight_decay=0.01, warmup_steps=5, r=0.5,
                          weight_lr_power=1), {"x": True}),
        ("sf-adamw", "sf-adamw", "schedulefree.AdamWScheduleFreeReference(params)",
         lambda p: sf_adamw(p), {"x": True}),
        ("sf-adamw-options", "sf-adamw:lr=0.01,beta1=0.8,weight_decay=0.1,warmup_steps=5,r=0.5,decay_at_z=true",
         "schedulefree.AdamWScheduleFreeReference(params, lr=0.01, betas=(0.8, 0.999), weight_decay=0.1, warmup_steps=5, r=0.5, decay_at_z=True)",
         lambda p: sf_adamw(p, lr=0.01, betas=(0.8, 0.999), weight_decay=0.1, warmup_steps=5,
                            r=0.5, decay_at_z=True), {"x": True}),
        ("mechanic-sgd", "mechanic-sgd:lr=0.01",
         "mechanic_pytorch.mechanize(torch.optim.SGD)(params, lr=0.01)",
         lambda p: mechanic_pytorch.mechanize(torch.optim.SGD)(p, lr=0.01), {}),
        ("mechanic-adam", "mechanic-adam:lr=0.001",
         "mechanic_pytorch.mechanize(torch.optim.Adam)(params, lr=0.001)",
         lambda p: mechanic_pytorch.mechanize(torch.optim.Adam)(p, lr=0.001), {}),
        ("mechanic-adam-options", "mechanic-adam:lr=0.001,s_decay=0.1,s_init=1e-6",
         "mechanic_pytorch.mechanize(torch.optim.Adam, s_decay=0.1, s_init=1e-6)(params, lr=0.001)",
         lambda p: mechanic_pytorch.mechanize(torch.optim.Adam, s_decay=0.1, s_init=1e-6)(p, lr=0.001), {}),
    ]


def cocob_cases(init, grads):
    """COCOB-Backprop from optax (JAX): the updates are added to float32 parameters."""
    import jax
    import jax.numpy as jnp
    import optax
    from optax import contrib

    jax.config.update("jax_enable_x64", False)
    out = []
    for name, spec, call, make in [
        ("cocob", "cocob", "optax.contrib.cocob()", lambda: contrib.cocob()),
        ("cocob-options", "cocob:alpha=50,eps=1e-6,weight_decay=0.01",
         "optax.contrib.cocob(alpha=50.0, eps=1e-6, weight_decay=0.01)",
         lambda: contrib.cocob(alpha=50.0, eps=1e-6, weight_decay=0.01)),
    ]:
        opt = make()
        ps = {k: jnp.asarray(v) for k, v in init.items()}
        state = opt.init(ps)
        steps = []
        for g in grads:
            gj = {k: jnp.asarray(g[k]) for k in ps}
            updates, state = opt.update(gj, state, ps)
            ps = optax.apply_updates(ps, updates)
            steps.append({k: [f32(x) for x in (np.asarray(v)[::STRIDE] if k == "weight" else np.asarray(v))]
                          for k, v in ps.items()})
        final = {k: [f32(x) for x in np.asarray(v)] for k, v in ps.items()}
        out.append((name, spec, call, {"steps": steps, "final": final}))
    return out


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    init, grads = problem()
    versions = {m: __import__(m).__version__ if hasattr(__import__(m), "__version__") else "?"
                for m in ["torch", "numpy"]}
    with open(os.path.join(OUT, "init.json"), "w") as f:
        json.dump({k: [f32(x) for x in v] for k, v in init.items()}, f, separators=(",", ":"))
    with open(os.path.join(OUT, "grads.json"), "w") as f:
        json.dump([{k: [f32(x) for x in v] for k, v in g.items()} for g in grads], f,
                  separators=(",", ":"))

    def write(name, spec, call, traj):
        doc = {
            "spec": spec,
            "reference": call,
            "generated_by": "tools/reference/generate.py (packages pinned in tools/reference/requirements.txt)",
            "versions": versions,
            "stride": STRIDE,
            **traj,
        }
        with open(os.path.join(OUT, f"{name}.json"), "w") as f:
            json.dump(doc, f, separators=(",", ":"))
        print(name, "written", file=sys.stderr)

    import dog as dogmod
    for name, spec, call, make, extra in cases():
        if "averager" in extra:
            holder = {}

            class Model(torch.nn.Module):
                pass

            def make_with_avg(p, make=make):
                model = Model()
                for k, t in zip(SHAPES, p):
                    model.register_parameter(k, t)
                holder["avg"] = dogmod.PolynomialDecayAverager(model, gamma=extra["averager"])
                return make(p)

            def avg_point(ps, opt):
                av = dict(holder["avg"].averaged_model.named_parameters())
                return {k: (values(av[k])[::STRIDE] if k == "weight" else values(av[k])) for k in ps}

            traj = run(make_with_avg, init, grads, eval_point=avg_point,
                       after_step=lambda: holder["avg"].step())
        elif extra.get("x"):
            traj = run(make, init, grads, eval_point=schedule_free_x)
        else:
            traj = run(make, init, grads)
        # The same run in float64: how far float32 rounding alone takes the reference.
        exact = run(make, init, grads, dtype=np.float64)
        traj["steps64"], traj["final64"] = exact["steps"], exact["final"]
        write(name, spec, call, traj)
    for name, spec, call, traj in cocob_cases(init, grads):
        write(name, spec, call, traj)
    # Adam-HD: Baydin's AdamHD keeps one learning rate per parameter group, updated tensor by
    # tensor inside a step; lrmem's keeps one per tensor, which is AdamHD with one group per
    # tensor.
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "vendor"))
    from adam_hd import AdamHD
    per_tensor = lambda p: AdamHD([{"params": [t]} for t in p], lr=1e-3, hypergrad_lr=1e-7)
    traj = run(per_tensor, init, grads)
    exact = run(per_tensor, init, grads, dtype=np.float64)
    traj["steps64"], traj["final64"] = exact["steps"], exact["final"]
    write("adam-hd", "adam-hd:beta=1e-7",
          "vendor/adam_hd.py AdamHD([{'params': [t]} for t in params], lr=1e-3, hypergrad_lr=1e-7)",
          traj)


if __name__ == "__main__":
    main()
