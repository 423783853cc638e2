//! The contract every optimizer of lrmem passes, as one reusable check.
//!
//! ```
//! use lrmem_optimizers::{contract, Sgd, SgdConfig};
//! contract::check(|| Sgd::new(SgdConfig::with_lr(0.1)).unwrap());
//! ```
//! It panics with a message naming the broken promise (it is meant for tests). It is public on
//! purpose: an optimizer you write against [`Optimizer`] can be held to the
//! same promises as lrmem's own (convergence, bit-exact checkpoints, errors that change
//! nothing, `step_model` and `next_task` as documented) from your own tests.

use crate::optimizer::{Checkpoint, OptimError, Optimizer, Tensor};

/// A separable quadratic ½Σ a_i (w_i − b_i)² over two tensors, with its gradient.
fn quadratic(w: &[f32], offset: usize) -> (f32, Vec<f32>) {
    let mut loss = 0.0;
    let grad = w
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let k = (i + offset) as f32;
            let a = 0.5 + (k * 0.37).fract() * 1.5;
            let b = (k * 0.61).fract() - 0.5;
            loss += 0.5 * a * (x - b) * (x - b);
            a * (x - b)
        })
        .collect();
    (loss, grad)
}

fn init() -> (Vec<f32>, Vec<f32>) {
    (
        (0..8).map(|i| 1.0 - 0.25 * i as f32).collect(),
        vec![0.75, -0.5, 0.25],
    )
}

/// How an optimizer is handed the model: tensor by tensor (`step`, as most optimizers are used),
/// or all at once (`step_model`, which the whole-model optimizers need).
#[derive(Clone, Copy, PartialEq)]
enum Stepping {
    PerTensor,
    WholeModel,
}

fn run_as<O: Optimizer>(
    how: Stepping,
    opt: &mut O,
    a: &mut [f32],
    b: &mut [f32],
    steps: usize,
) -> f32 {
    if how == Stepping::WholeModel {
        run_model(opt, a, b, steps);
        return quadratic(a, 0).0 + quadratic(b, 100).0;
    }
    for _ in 0..steps {
        let (_, ga) = quadratic(a, 0);
        let (_, gb) = quadratic(b, 100);
        opt.step("a", a, &ga)
            .expect("step on finite gradients must succeed");
        opt.step("b", b, &gb)
            .expect("step on finite gradients must succeed");
    }
    quadratic(a, 0).0 + quadratic(b, 100).0
}

/// The bits of every value, so that comparisons are exact (and NaN equals itself).
fn bits(a: &[f32], b: &[f32]) -> (Vec<u32>, Vec<u32>) {
    (
        a.iter().map(|x| x.to_bits()).collect(),
        b.iter().map(|x| x.to_bits()).collect(),
    )
}

/// Asserts that two optimizers, `x` after stepping `xs` and `y` after stepping `ys`, are one:
/// the same parameters bit for bit (else it panics with `steps`) and the same saved state (else
/// with `state`).
fn assert_one<O: Checkpoint>(
    (x, xs): (&O, (&[f32], &[f32])),
    (y, ys): (&O, (&[f32], &[f32])),
    steps: &str,
    state: &str,
) {
    assert_eq!(bits(xs.0, xs.1), bits(ys.0, ys.1), "{steps}");
    assert_eq!(x.save().unwrap(), y.save().unwrap(), "{state}");
}

/// Like [`run`], but each step hands both tensors to [`Optimizer::step_model`] at once.
fn run_model<O: Optimizer>(opt: &mut O, a: &mut [f32], b: &mut [f32], steps: usize) {
    for _ in 0..steps {
        let (_, ga) = quadratic(a, 0);
        let (_, gb) = quadratic(b, 100);
        opt.step_model(&mut [Tensor::new("a", a, &ga), Tensor::new("b", b, &gb)])
            .expect("step_model on finite gradients must succeed");
    }
}

/// Runs every check on optimizers made by `make` (tuned so that 500 steps solve a unit-scale
/// quadratic): convergence, bit-exact save/load, rejection of bad lengths and NaN without side
/// effects, rejection of damaged checkpoints, `Send + Sync`, and the model-level methods:
///
/// - [`Optimizer::step_model`] over two tensors is bit for bit stepping them one by one, and a
///   bad tensor, first or last (a NaN or a short gradient, a name given twice), makes it fail
///   with its typed error before anything moves: every parameter and the saved state stay bit
///   for bit (an optimizer of your own implements [`Optimizer::check_step`] for that);
/// - [`Optimizer::next_task`] on a fresh optimizer changes nothing: the next steps are bit for
///   bit those of a freshly made one;
/// - after training, `next_task` keeps exactly what [`Optimizer::memory_thetas`] reports: an
///   optimizer that reports no memory behaves as a freshly made one afterwards; one with
///   memories keeps every θ unchanged (and may keep nothing else that this check can see
///   without knowing the optimizer), and steps on with finite parameters.
pub fn check<O, F>(make: F)
where
    O: Optimizer + Checkpoint + Send + Sync + 'static,
    F: Fn() -> O,
{
    check_as(Stepping::PerTensor, make)
}

/// [`check`] for optimizers whose step needs the whole model at once (a norm or a distance over
/// every tensor: Prodigy, D-Adaptation, DoG, Schedule-Free, Mechanic), stepped by
/// [`Optimizer::step_model`] throughout. Instead of "`step_model` is stepping the tensors one by
/// one" it requires that a bad *last* tensor fails the whole step without changing anything,
/// the first tensor's parameters included (which [`check`] requires too).
///
/// ```
/// use lrmem_optimizers::{contract, Prodigy, ProdigyConfig};
/// contract::check_model(|| Prodigy::new(ProdigyConfig::default()).unwrap());
/// ```
pub fn check_model<O, F>(make: F)
where
    O: Optimizer + Checkpoint + Send + Sync + 'static,
    F: Fn() -> O,
{
    check_as(Stepping::WholeModel, make)
}

/// The checks of [`check`] and [`check_model`] on optimizers made by `make`, stepped as `how`
/// says; each promise a method of its own, run in turn by [`check_as`].
struct Contract<'f, F> {
    how: Stepping,
    make: &'f F,
}

fn check_as<O, F>(how: Stepping, make: F)
where
    O: Optimizer + Checkpoint + Send + Sync + 'static,
    F: Fn() -> O,
{
    fn send_sync<T: Send + Sync>() {}
    send_sync::<O>();
    let c = Contract { how, make: &make };
    c.converges();
    let (mut opt, mut a, b) = c.resumes_exactly();
    let before = c.refuses_bad_lengths(&mut opt, &mut a);
    c.refuses_non_finite(opt, a, b, &before);
    c.refuses_damaged_checkpoints(&before);
    c.steps_the_model();
    c.next_task_on_a_fresh_one_changes_nothing();
    c.next_task_keeps_the_memories();
}

impl<O, F> Contract<'_, F>
where
    O: Optimizer + Checkpoint + Send + Sync + 'static,
    F: Fn() -> O,
{
    fn run(&self, opt: &mut O, a: &mut [f32], b: &mut [f32], steps: usize) -> f32 {
        run_as(self.how, opt, a, b, steps)
    }

    /// Converges on a quadratic.
    fn converges(&self) {
        let (mut a, mut b) = init();
        let start = quadratic(&a, 0).0 + quadratic(&b, 100).0;
        let end = self.run(&mut (self.make)(), &mut a, &mut b, 500);
        assert!(
            end.is_finite() && end < 1e-2 * start,
            "does not converge on a quadratic: loss {start} -> {end}"
        );
    }

    /// save → load → continue is bit-identical to continuing.
    fn resumes_exactly(&self) -> (O, Vec<f32>, Vec<f32>) {
        let mut opt = (self.make)();
        let (mut a, mut b) = init();
        self.run(&mut opt, &mut a, &mut b, 7);
        let bytes = opt.save().expect("save");
        let mut other = (self.make)();
        other.load(&bytes).expect("load what save wrote");
        let (mut a2, mut b2) = (a.clone(), b.clone());
        self.run(&mut opt, &mut a, &mut b, 5);
        self.run(&mut other, &mut a2, &mut b2, 5);
        assert_eq!(
            (a.clone(), b.clone()),
            (a2, b2),
            "state does not round-trip through save/load"
        );
        assert_eq!(
            other.save().unwrap(),
            opt.save().unwrap(),
            "saved bytes differ after identical steps"
        );
        (opt, a, b)
    }

    /// Bad lengths are errors and change nothing.
    fn refuses_bad_lengths(&self, opt: &mut O, a: &mut [f32]) -> Vec<u8> {
        let before = opt.save().unwrap();
        let mut short = vec![0.0f32; 3];
        let err = opt
            .step("a", a, &[1.0, 2.0])
            .expect_err("grads shorter than params must be rejected");
        assert!(
            matches!(err, OptimError::LengthMismatch { .. }),
            "wrong error {err:?}"
        );
        let err = opt
            .step("a", &mut short, &[1.0, 2.0, 3.0])
            .expect_err("a tensor that changed length must be rejected");
        assert!(
            matches!(err, OptimError::LengthMismatch { .. }),
            "wrong error {err:?}"
        );
        assert_eq!(short, [0.0; 3], "rejected step changed params");
        assert_eq!(opt.save().unwrap(), before, "rejected step changed state");
        before
    }

    /// NaN and ∞ are errors and change nothing: the trajectory goes on as if they never came.
    fn refuses_non_finite(&self, mut opt: O, mut a: Vec<f32>, mut b: Vec<f32>, before: &[u8]) {
        let (snap_a, snap_b) = (a.clone(), b.clone());
        let mut g = quadratic(&a, 0).1;
        g[3] = f32::NAN;
        let err = opt
            .step("a", &mut a, &g)
            .expect_err("NaN gradient must be rejected");
        assert!(
            matches!(err, OptimError::NonFiniteGradient { index: 3, .. }),
            "wrong error {err:?}"
        );
        g[3] = 0.0;
        g[0] = f32::INFINITY;
        assert!(
            opt.step("a", &mut a, &g).is_err(),
            "infinite gradient must be rejected"
        );
        assert_eq!(a, snap_a, "rejected NaN step changed params");
        assert_eq!(
            opt.save().unwrap(),
            before,
            "rejected NaN step changed state"
        );
        let mut replay = (self.make)();
        replay.load(before).unwrap();
        let (mut ra, mut rb) = (snap_a.clone(), snap_b.clone());
        self.run(&mut opt, &mut a, &mut b, 3);
        self.run(&mut replay, &mut ra, &mut rb, 3);
        assert_eq!(
            (a, b),
            (ra, rb),
            "a rejected step left a trace on later steps"
        );
    }

    /// Damaged checkpoints are errors, never panics, and leave the optimizer usable.
    fn refuses_damaged_checkpoints(&self, before: &[u8]) {
        let mut fresh = (self.make)();
        for bad in [
            &before[..before.len() / 2],
            &before[..3],
            b"not an lrmem file at all".as_slice(),
            &[],
        ] {
            assert!(
                fresh.load(bad).is_err(),
                "loading {} damaged bytes succeeded",
                bad.len()
            );
        }
        let mut flipped = before.to_vec();
        flipped[0] ^= 0xff;
        assert!(fresh.load(&flipped).is_err(), "bad magic accepted");
        let (mut a, mut b) = init();
        self.run(&mut fresh, &mut a, &mut b, 1);
    }

    /// step_model over two tensors is stepping them one by one, bit for bit; a bad tensor
    fn steps_the_model(&self) {
        // (the first; for whole-model optimizers the last) fails the step and changes nothing.
        let mut opt = (self.make)();
        let (mut a, mut b) = init();
        run_model(&mut opt, &mut a, &mut b, 6);
        if self.how == Stepping::PerTensor {
            let mut by_tensor = (self.make)();
            let (mut a2, mut b2) = init();
            self.run(&mut by_tensor, &mut a2, &mut b2, 6);
            assert_one(
                (&opt, (&a, &b)),
                (&by_tensor, (&a2, &b2)),
                "step_model differs from stepping each tensor in turn",
                "step_model leaves a different state than stepping each tensor in turn",
            );
            assert_eq!(opt.memory_thetas(), by_tensor.memory_thetas());
        }
        let before = opt.save().unwrap();
        let (snap_a, snap_b) = (a.clone(), b.clone());
        let (ga, gb) = (quadratic(&a, 0).1, quadratic(&b, 100).1);
        let (bad_first, bad_last) = ([1.0f32], [1.0f32]);
        let (ga, gb): (&[f32], &[f32]) = match self.how {
            Stepping::PerTensor => (&bad_first, &gb),
            Stepping::WholeModel => (&ga, &bad_last),
        };
        let err = opt
            .step_model(&mut [Tensor::new("a", &mut a, ga), Tensor::new("b", &mut b, gb)])
            .expect_err("step_model with a bad tensor must fail");
        assert!(
            matches!(err, OptimError::LengthMismatch { .. }),
            "wrong error {err:?}"
        );
        assert_eq!(
            bits(&a, &b),
            bits(&snap_a, &snap_b),
            "a failed step_model changed params"
        );
        assert_eq!(
            opt.save().unwrap(),
            before,
            "a failed step_model changed state"
        );
        self.refuses_a_bad_later_tensor(opt, a, b);
    }

    /// A model of three tensors whose last one is bad (a NaN gradient, a gradient of the wrong
    /// length, a name given twice) fails the whole `step_model` before anything moves: every
    /// parameter and the saved state stay bit for bit as before, whether the optimizer steps
    /// tensor by tensor or the whole model at once (docs/guide.md §11).
    fn refuses_a_bad_later_tensor(&self, mut opt: O, mut a: Vec<f32>, mut b: Vec<f32>) {
        let before = opt.save().unwrap();
        let (snap_a, snap_b) = (a.clone(), b.clone());
        let (ga, gb) = (quadratic(&a, 0).1, quadratic(&b, 100).1);
        type Expect = fn(&OptimError) -> bool;
        let cases: [(&str, &[f32], &str, Expect); 3] = [
            (
                "c",
                &[0.1, f32::NAN],
                "a NaN gradient in the last tensor",
                |e| matches!(e, OptimError::NonFiniteGradient { index: 1, .. }),
            ),
            ("c", &[0.1], "a short gradient in the last tensor", |e| {
                matches!(e, OptimError::LengthMismatch { .. })
            }),
            (
                "a",
                &[0.1, 0.2],
                "the name `a` given twice",
                |e| matches!(e, OptimError::DuplicateTensor { tensor } if tensor == "a"),
            ),
        ];
        for (name, gc, what, expected) in cases {
            let mut c = vec![0.5f32, -0.25];
            let err = opt
                .step_model(&mut [
                    Tensor::new("a", &mut a, &ga),
                    Tensor::new("b", &mut b, &gb),
                    Tensor::new(name, &mut c, gc),
                ])
                .expect_err(&format!("step_model with {what} must fail"));
            assert!(expected(&err), "{what}: wrong error {err:?}");
            assert_eq!(
                (bits(&a, &b), c),
                (bits(&snap_a, &snap_b), vec![0.5, -0.25]),
                "step_model failed on {what} but changed parameters"
            );
            assert_eq!(
                opt.save().unwrap(),
                before,
                "step_model failed on {what} but changed the optimizer's state"
            );
        }
    }

    /// next_task on a fresh optimizer changes nothing.
    fn next_task_on_a_fresh_one_changes_nothing(&self) {
        let (mut renewed, mut fresh) = ((self.make)(), (self.make)());
        renewed.next_task();
        let ((mut a, mut b), (mut a2, mut b2)) = (init(), init());
        self.run(&mut renewed, &mut a, &mut b, 5);
        self.run(&mut fresh, &mut a2, &mut b2, 5);
        assert_one(
            (&renewed, (&a, &b)),
            (&fresh, (&a2, &b2)),
            "next_task on a fresh optimizer changed its steps",
            "next_task on a fresh optimizer changed its state",
        );
    }

    /// After training, next_task keeps exactly the memories' θ.
    fn next_task_keeps_the_memories(&self) {
        let mut trained = (self.make)();
        let (mut a, mut b) = init();
        self.run(&mut trained, &mut a, &mut b, 9);
        let thetas = trained.memory_thetas();
        assert!(
            thetas.iter().all(|(_, t)| t.iter().all(|x| x.is_finite())),
            "memory_thetas reports a non-finite θ"
        );
        trained.next_task();
        assert_eq!(trained.memory_thetas(), thetas, "next_task changed θ");
        let ((mut a, mut b), (mut a2, mut b2)) = (init(), init());
        self.run(&mut trained, &mut a, &mut b, 5);
        assert!(
            a.iter().chain(&b).all(|x| x.is_finite()),
            "steps after next_task are not finite"
        );
        if thetas.is_empty() {
            let mut fresh = (self.make)();
            self.run(&mut fresh, &mut a2, &mut b2, 5);
            assert_one(
                (&trained, (&a, &b)),
                (&fresh, (&a2, &b2)),
                "after next_task, an optimizer without a memory must step as a fresh one",
                "after next_task, an optimizer without a memory must keep no state",
            );
        }
    }
}
