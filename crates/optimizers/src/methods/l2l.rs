//! The learned LSTM optimizer of Andrychowicz et al., "Learning to learn by gradient descent by
//! gradient descent" (NeurIPS 2016): the offline "learning to learn" that the memory of
//! learning rates is measured against.
//!
//! A small LSTM, shared by every coordinate, reads one preprocessed gradient coordinate per
//! step and writes that coordinate's update: θ_{t+1} = θ_t + g_t with
//! g_t = scale · (w_o · h²_t + b_o) and (h_t, c_t) the state of a 2-layer LSTM of
//! [`HIDDEN`] = 20 units per layer that this coordinate alone carries from step to step. The
//! input is the gradient under **LogAndSign** with k = 5 (the authors' code's preprocessing
//! for MNIST): (max(ln|g| / k, −1), clamp(g·e^k, −1, 1)), so that gradients of every
//! magnitude reach the LSTM as numbers of order one.
//!
//! This module holds the network's weights φ ([`L2lWeights`]: save and load, versioned and
//! checksummed), its forward pass with a tape and its backward pass through time
//! ([`L2lWeights::forward`], [`L2lWeights::backward`]): everything meta-training needs, so that
//! the network's derivative lives next to the network. What φ is trained *on* (quadratics, an
//! MNIST MLP) lives with the tasks (`lrmem_tasks::l2l`). [`L2l`] is the meta-trained network as
//! an [`Optimizer`] like any other; its registry entry `l2l` loads the weights shipped with
//! this crate (`weights=mnist`, the default, or `weights=quadratic`, each meta-trained by
//! `cargo xtask bench --l2l`) or a file written by [`L2lWeights::save`] (`weights=PATH`).
//!
//! Every transcendental function is computed here from `+ − × ÷` and bit operations
//! ([`exp`]), so that a run gives the same bits on every machine and the compiler vectorises
//! the gate loops.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::optimizer::hyper::{self, Hyper};
use crate::optimizer::inputs::check_inputs;
use crate::optimizer::model::sat;
use crate::optimizer::state::{Field, Fields, StateView};
use crate::optimizer::state::{Inspect, TensorStates};
use crate::optimizer::{Checkpoint, OptimError, Optimizer, StateBytes};
use lrmem_memory_core::NonFinite;

/// Hidden units per LSTM layer (the paper's 20).
pub const HIDDEN: usize = 20;
const H: usize = HIDDEN;
/// Gate pre-activations per layer: input, forget, cell candidate, output.
const G: usize = 4 * H;
/// Inputs of the first layer: the two LogAndSign features and its own h.
const IN1: usize = 2 + H;
/// Inputs of the second layer: the first layer's new h and its own h.
const IN2: usize = 2 * H;
/// Offsets of the parameter blocks in φ: W₁ (IN1 × G, row per input), b₁, W₂, b₂, w_o, b_o.
const W1: usize = 0;
const B1: usize = W1 + IN1 * G;
const W2: usize = B1 + G;
const B2: usize = W2 + IN2 * G;
const WO: usize = B2 + G;
const BO: usize = WO + H;
/// How many numbers φ has: 5,141.
pub const NUM_PARAMS: usize = BO + 1;
/// LSTM state per coordinate: h and c of both layers, in that order.
pub const STATE_PER_COORDINATE: usize = 4 * H;
/// Tape floats per coordinate and step: layer 1's inputs, previous c, gate activations and new
/// c, then the same for layer 2.
pub const TAPE_PER_COORDINATE: usize = IN1 + H + G + H + IN2 + H + G + H;

/// The version of the weights format written by this build.
const WEIGHTS_KIND: &str = "L2lWeights";

/// The most bytes a file written by [`L2lWeights::save`] can have: lrmem's envelope (8 bytes of
/// magic, version and kind of file, and a 4-byte CRC-32C at the end), the kind `L2lWeights`
/// (a length byte and 10 bytes), k and the scale (4 bytes each), φ's length (a varint, at most
/// 10 bytes) and φ itself ([`NUM_PARAMS`] numbers of 4 bytes): 20 605 bytes, of which a file
/// written today uses 20 597. Weights have exactly [`NUM_PARAMS`] numbers
/// ([`L2lWeights::new`]), so that no larger file can load; `l2l:weights=PATH` refuses one
/// without reading it, and reads no more than this from any file.
pub const MAX_WEIGHTS_BYTES: u64 =
    8 + 1 + WEIGHTS_KIND.len() as u64 + 4 + 4 + 10 + 4 * NUM_PARAMS as u64 + 4;

/// e^x for f32 from `+ − × ÷` and bit operations: range reduction by ln 2 (rounded with the
/// 1.5·2²³ trick, which needs no rounding instruction) and a degree-6 Taylor polynomial on
/// |r| ≤ ln 2 / 2 (relative error below 2·10⁻⁷). Saturates outside [−87, 88].
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const SHIFT: f32 = 12_582_912.0; // 1.5 · 2²³
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2E + SHIFT;
    let k = t - SHIFT;
    let r = x - k * LN2_HI - k * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let ki = t.to_bits() as i32 - SHIFT.to_bits() as i32;
    p * f32::from_bits(((ki + 127) << 23) as u32)
}

/// The logistic function 1 / (1 + e^−x), for |x| ≤ 40 (beyond, f32 holds 0 or 1 to within
/// 5·10⁻¹⁸, and smaller values would breed subnormal numbers, which x86 CPUs compute 100×
/// slower).
#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x.clamp(-40.0, 40.0)))
}

/// tanh x = 2σ(2x) − 1, computed for |x| ≤ 20 (beyond, tanh x is ±1 in f32).
#[inline(always)]
fn tanh(x: f32) -> f32 {
    2.0 / (1.0 + exp(-2.0 * x.clamp(-20.0, 20.0))) - 1.0
}

/// Values below 10⁻³⁰ in magnitude become 0: an LSTM state or gradient that small has no
/// effect on any result, and letting it decay into subnormal numbers (a forget gate's c·f·f·…)
/// slows every operation on it a hundredfold.
#[inline(always)]
fn flush(x: f32) -> f32 {
    if x.abs() < 1e-30 {
        0.0
    } else {
        x
    }
}

/// ln x for x > 0 (finite): exponent from the bits, ln of the mantissa m ∈ [√½, √2) by
/// atanh's series in s = (m − 1)/(m + 1) (error below 10⁻⁶ absolute).
#[inline(always)]
fn ln(x: f32) -> f32 {
    const LN2: f32 = std::f32::consts::LN_2;
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 127;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    if m > std::f32::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let series =
        2.0 * s * (1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 / 9.0))));
    e as f32 * LN2 + series
}

/// LogAndSign(k) of one gradient coordinate: (max(ln|g| / k, −1), clamp(g·e^k, −1, 1)).
/// |g| below e^−k (zero included) gives −1 as the first feature; subnormal |g| count as zero.
#[inline(always)]
pub fn log_and_sign(g: f32, k: f32, ek: f32) -> [f32; 2] {
    let a = g.abs();
    let log = if a >= f32::MIN_POSITIVE {
        (ln(a) / k).max(-1.0)
    } else {
        -1.0
    };
    [log, (g * ek).clamp(-1.0, 1.0)]
}

/// The learned optimizer's weights φ and the settings they were trained with.
///
/// A value of this type is always usable: [`L2lWeights::new`] and [`L2lWeights::load`] check
/// the length, that every number is finite and the settings' ranges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct L2lWeights {
    /// k of LogAndSign (the paper's code: 5).
    k: f32,
    /// The output scale: 0.01 for MNIST, 1 for the quadratics (the paper's).
    scale: f32,
    /// φ: W₁, b₁, W₂, b₂, w_o, b_o, [`NUM_PARAMS`] numbers.
    params: Vec<f32>,
}

impl L2lWeights {
    /// Weights from their parts, checked: `params` has [`NUM_PARAMS`] finite numbers, `k` and
    /// `scale` are finite and in (0, 1e6].
    pub fn new(k: f32, scale: f32, params: Vec<f32>) -> Result<Self, OptimError> {
        let w = L2lWeights { k, scale, params };
        w.check()?;
        Ok(w)
    }

    /// Initial weights for meta-training, drawn from `seed`: every weight uniform in
    /// ±1/√fan_in (the LSTM layers' fan-in is their inputs plus h), biases 0 except the forget
    /// gates' 1 (so that a fresh LSTM remembers), and an output layer ten times smaller, so
    /// that the first updates are small.
    pub fn init(k: f32, scale: f32, seed: u64) -> Result<Self, OptimError> {
        let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut uniform = |bound: f32| {
            rng ^= rng >> 12;
            rng ^= rng << 25;
            rng ^= rng >> 27;
            let u = (rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32;
            (2.0 * u - 1.0) * bound
        };
        let mut p = vec![0.0f32; NUM_PARAMS];
        let b1 = 1.0 / (IN1 as f32).sqrt();
        p[W1..B1].iter_mut().for_each(|w| *w = uniform(b1));
        let b2 = 1.0 / (IN2 as f32).sqrt();
        p[W2..B2].iter_mut().for_each(|w| *w = uniform(b2));
        let bo = 0.1 / (H as f32).sqrt();
        p[WO..BO].iter_mut().for_each(|w| *w = uniform(bo));
        p[B1 + H..B1 + 2 * H].fill(1.0);
        p[B2 + H..B2 + 2 * H].fill(1.0);
        L2lWeights::new(k, scale, p)
    }

    fn check(&self) -> Result<(), OptimError> {
        hyper::check_positive("k", self.k)?;
        hyper::check_positive("scale", self.scale)?;
        if self.params.len() != NUM_PARAMS {
            return Err(OptimError::Corrupt {
                reason: format!(
                    "learned-optimizer weights have {} numbers, {NUM_PARAMS} expected (a 2-layer LSTM of {HIDDEN} units); the file is damaged or was written for another network",
                    self.params.len()
                ),
            });
        }
        if let Some(i) = self.params.iter().position(|x| !x.is_finite()) {
            return Err(OptimError::Corrupt {
                reason: format!(
                    "learned-optimizer weight {i} is {}; the file is damaged, or meta-training diverged",
                    self.params[i]
                ),
            });
        }
        Ok(())
    }

    /// k of LogAndSign.
    pub fn k(&self) -> f32 {
        self.k
    }

    /// The output scale.
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// φ, [`NUM_PARAMS`] numbers.
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    /// Replaces φ (a meta-training step), checked as by [`new`](Self::new); an error changes
    /// nothing.
    pub fn set_params(&mut self, params: &[f32]) -> Result<(), OptimError> {
        let next = L2lWeights::new(self.k, self.scale, params.to_vec())?;
        *self = next;
        Ok(())
    }

    /// The weights in lrmem's versioned, checksummed envelope (kind `L2lWeights`): the file
    /// behind `l2l:weights=PATH`.
    pub fn save(&self) -> Result<Vec<u8>, OptimError> {
        crate::optimizer::checkpoint::save(WEIGHTS_KIND, self)
    }

    /// Reads what [`save`](Self::save) wrote, checked (envelope, checksum, kind, length, finite
    /// numbers, ranges): damaged bytes are an error, never a panic.
    ///
    /// ```
    /// use lrmem_optimizers::l2l::L2lWeights;
    /// let w = L2lWeights::init(5.0, 0.01, 1)?;
    /// assert_eq!(L2lWeights::load(&w.save()?)?, w);
    /// assert!(L2lWeights::load(&w.save()?[..40]).is_err());
    /// # Ok::<(), lrmem_optimizers::OptimError>(())
    /// ```
    pub fn load(bytes: &[u8]) -> Result<Self, OptimError> {
        let w: L2lWeights = crate::optimizer::checkpoint::load(WEIGHTS_KIND, bytes)?;
        w.check()?;
        Ok(w)
    }

    /// The weights shipped with this crate, meta-trained by `cargo xtask bench --l2l` on one of
    /// the paper's task families: `"mnist"` (an MLP of 20 sigmoid units on MNIST) or
    /// `"quadratic"` (random 10-D quadratics). `None` for another name.
    pub fn shipped(name: &str) -> Option<Self> {
        let bytes: &[u8] = match name {
            "mnist" => include_bytes!("../../weights/l2l-mnist.lrw"),
            "quadratic" => include_bytes!("../../weights/l2l-quadratic.lrw"),
            _ => return None,
        };
        Some(L2lWeights::load(bytes).expect("the shipped weights load (tested)"))
    }

    /// One step of the LSTM for `grads.len()` coordinates: reads each coordinate's gradient and
    /// state (`state`, [`STATE_PER_COORDINATE`] numbers each, updated in place) and writes its
    /// update g_t to `out`. With a `tape` ([`TAPE_PER_COORDINATE`] numbers per coordinate),
    /// records what [`backward`](Self::backward) needs.
    ///
    /// Panics if the slices' lengths disagree (callers size them from `grads.len()`); gradients
    /// must be finite (callers check them).
    pub fn forward(
        &self,
        grads: &[f32],
        state: &mut [f32],
        out: &mut [f32],
        mut tape: Option<&mut [f32]>,
    ) {
        let n = grads.len();
        assert!(state.len() == n * STATE_PER_COORDINATE && out.len() == n);
        if let Some(t) = tape.as_deref() {
            assert_eq!(t.len(), n * TAPE_PER_COORDINATE);
        }
        let p = &self.params;
        let ek = exp(self.k);
        let mut t = Tape::default();
        for (i, (&g, o)) in grads.iter().zip(out.iter_mut()).enumerate() {
            let s = &mut state[i * STATE_PER_COORDINATE..(i + 1) * STATE_PER_COORDINATE];
            let (h1, rest) = s.split_at_mut(H);
            let (c1, rest) = rest.split_at_mut(H);
            let (h2, c2) = rest.split_at_mut(H);
            t.in1[..2].copy_from_slice(&log_and_sign(g, self.k, ek));
            t.in1[2..].copy_from_slice(h1);
            t.c1p.copy_from_slice(c1);
            cell(&p[W1..B1], &p[B1..W2], &t.in1, &t.c1p, &mut t.a1, c1, h1);
            t.c1.copy_from_slice(c1);
            t.in2[..H].copy_from_slice(h1);
            t.in2[H..].copy_from_slice(h2);
            t.c2p.copy_from_slice(c2);
            cell(&p[W2..B2], &p[B2..WO], &t.in2, &t.c2p, &mut t.a2, c2, h2);
            t.c2.copy_from_slice(c2);
            let mut y = p[BO];
            for (w, h) in p[WO..BO].iter().zip(h2.iter()) {
                y += w * h;
            }
            *o = self.scale * y;
            if let Some(tape) = tape.as_deref_mut() {
                t.write(&mut tape[i * TAPE_PER_COORDINATE..(i + 1) * TAPE_PER_COORDINATE]);
            }
        }
    }

    /// Backpropagation through time over the steps whose tapes are `tapes` (oldest first, as
    /// [`forward`](Self::forward) wrote them for the same coordinates): adds ∂L/∂φ to `grad`,
    /// where `d_out[t][i]` is ∂L/∂g_t for coordinate i.
    ///
    /// The gradients the LSTM read are inputs, not functions of φ: the paper's "we drop the
    /// second derivatives", which makes the meta-gradient one backward pass through the LSTM
    /// alone. The state at the first tape's start is a constant (truncated BPTT).
    ///
    /// Panics if the lengths disagree.
    pub fn backward(&self, tapes: &[&[f32]], d_out: &[&[f32]], grad: &mut [f32]) {
        assert_eq!(tapes.len(), d_out.len());
        assert_eq!(grad.len(), NUM_PARAMS);
        let Some(n) = d_out.first().map(|d| d.len()) else {
            return;
        };
        let p = &self.params;
        let mut carry = vec![0.0f32; n * STATE_PER_COORDINATE];
        let (mut dz1, mut dz2) = ([0.0f32; G], [0.0f32; G]);
        let mut t = Tape::default();
        for (tape, dy) in tapes.iter().zip(d_out).rev() {
            assert!(tape.len() == n * TAPE_PER_COORDINATE && dy.len() == n);
            for i in 0..n {
                t.read(&tape[i * TAPE_PER_COORDINATE..(i + 1) * TAPE_PER_COORDINATE]);
                let cs = &mut carry[i * STATE_PER_COORDINATE..(i + 1) * STATE_PER_COORDINATE];
                let (dh1, rest) = cs.split_at_mut(H);
                let (dc1, rest) = rest.split_at_mut(H);
                let (dh2, dc2) = rest.split_at_mut(H);
                // Output layer: g = scale·(w_o·h² + b_o).
                let d = dy[i] * self.scale;
                grad[BO] += d;
                for j in 0..H {
                    let h2 = t.a2[3 * H + j] * tanh(t.c2[j]);
                    grad[WO + j] += d * h2;
                    dh2[j] += d * p[WO + j];
                }
                // Layer 2, then what flows into layer 1's new h and layer 2's previous h.
                cell_backward(&t.a2, &t.c2p, &t.c2, dh2, dc2, &mut dz2);
                accumulate(&mut grad[W2..WO], &t.in2, &dz2);
                let mut d_in2 = [0.0f32; IN2];
                input_grad(&p[W2..B2], &dz2, &mut d_in2);
                for j in 0..H {
                    dh2[j] = flush(d_in2[H + j]);
                    dh1[j] = flush(dh1[j] + d_in2[j]);
                }
                cell_backward(&t.a1, &t.c1p, &t.c1, dh1, dc1, &mut dz1);
                accumulate(&mut grad[W1..W2], &t.in1, &dz1);
                let mut d_in1 = [0.0f32; IN1];
                input_grad(&p[W1..B1], &dz1, &mut d_in1);
                for (d, &x) in dh1.iter_mut().zip(&d_in1[2..]) {
                    *d = flush(x);
                }
            }
        }
    }
}

/// One coordinate's record of one step.
struct Tape {
    in1: [f32; IN1],
    c1p: [f32; H],
    a1: [f32; G],
    c1: [f32; H],
    in2: [f32; IN2],
    c2p: [f32; H],
    a2: [f32; G],
    c2: [f32; H],
}

impl Default for Tape {
    fn default() -> Self {
        Tape {
            in1: [0.0; IN1],
            c1p: [0.0; H],
            a1: [0.0; G],
            c1: [0.0; H],
            in2: [0.0; IN2],
            c2p: [0.0; H],
            a2: [0.0; G],
            c2: [0.0; H],
        }
    }
}

impl Tape {
    fn parts(&mut self) -> [&mut [f32]; 8] {
        [
            &mut self.in1,
            &mut self.c1p,
            &mut self.a1,
            &mut self.c1,
            &mut self.in2,
            &mut self.c2p,
            &mut self.a2,
            &mut self.c2,
        ]
    }

    fn write(&mut self, out: &mut [f32]) {
        let mut at = 0;
        for part in self.parts() {
            out[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
    }

    fn read(&mut self, from: &[f32]) {
        let mut at = 0;
        for part in self.parts() {
            let len = part.len();
            part.copy_from_slice(&from[at..at + len]);
            at += len;
        }
    }
}

/// One LSTM cell for one coordinate: gate activations `act` (σ(i), σ(f), tanh(ĉ), σ(o)),
/// c = σ(f)·c_prev + σ(i)·tanh(ĉ), h = σ(o)·tanh(c).
#[inline(always)]
fn cell(
    w: &[f32],
    b: &[f32],
    input: &[f32],
    c_prev: &[f32],
    act: &mut [f32; G],
    c: &mut [f32],
    h: &mut [f32],
) {
    act.copy_from_slice(b);
    for (k, &x) in input.iter().enumerate() {
        let row = &w[k * G..(k + 1) * G];
        for (a, &wj) in act.iter_mut().zip(row) {
            *a += x * wj;
        }
    }
    let (sig, rest) = act.split_at_mut(2 * H);
    let (cand, out) = rest.split_at_mut(H);
    sig.iter_mut()
        .chain(out.iter_mut())
        .for_each(|a| *a = sigmoid(*a));
    cand.iter_mut().for_each(|a| *a = tanh(*a));
    for j in 0..H {
        c[j] = flush(act[H + j] * c_prev[j] + act[j] * act[2 * H + j]);
        h[j] = flush(act[3 * H + j] * tanh(c[j]));
    }
}

/// The backward pass of [`cell`]: from ∂L/∂h (`dh`) and ∂L/∂c flowing back from the next
/// step (`dc`), the gate pre-activations' gradients `dz`; `dc` becomes ∂L/∂c_prev.
#[inline(always)]
fn cell_backward(
    act: &[f32; G],
    c_prev: &[f32; H],
    c: &[f32; H],
    dh: &[f32],
    dc: &mut [f32],
    dz: &mut [f32; G],
) {
    for j in 0..H {
        let (i, f, g, o) = (act[j], act[H + j], act[2 * H + j], act[3 * H + j]);
        let tc = tanh(c[j]);
        let dcj = dc[j] + dh[j] * o * (1.0 - tc * tc);
        dz[j] = flush(dcj * g * i * (1.0 - i));
        dz[H + j] = flush(dcj * c_prev[j] * f * (1.0 - f));
        dz[2 * H + j] = flush(dcj * i * (1.0 - g * g));
        dz[3 * H + j] = flush(dh[j] * tc * o * (1.0 - o));
        dc[j] = flush(dcj * f);
    }
}

/// ∂L/∂W += input ⊗ dz, ∂L/∂b += dz, for a layer's block of φ (W's rows, then b).
#[inline(always)]
fn accumulate(block: &mut [f32], input: &[f32], dz: &[f32; G]) {
    let (gw, gb) = block.split_at_mut(input.len() * G);
    for (k, &x) in input.iter().enumerate() {
        for (g, &d) in gw[k * G..(k + 1) * G].iter_mut().zip(dz) {
            *g += x * d;
        }
    }
    for (g, &d) in gb.iter_mut().zip(dz) {
        *g += d;
    }
}

/// ∂L/∂input = W·dz, in eight lanes so that the compiler vectorises the sums.
#[inline(always)]
fn input_grad(w: &[f32], dz: &[f32; G], out: &mut [f32]) {
    for (k, o) in out.iter_mut().enumerate() {
        let row = &w[k * G..(k + 1) * G];
        let mut acc = [0.0f32; 8];
        for (r, d) in row.chunks_exact(8).zip(dz.chunks_exact(8)) {
            for l in 0..8 {
                acc[l] += r[l] * d[l];
            }
        }
        *o = acc.iter().sum();
    }
}

/// Configuration of [`L2l`]: what is set at use, not learned.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct L2lConfig {
    /// A multiplier of the learned update (default 1, the update as meta-trained): the knob a
    /// tuned run searches, as Prodigy's `lr` multiplies its learned step.
    pub lr: f32,
    /// NaN/∞ gradients: error (default), or `Skip`: a zero gradient there ([`NonFinite::Skip`]).
    pub non_finite: NonFinite,
}

impl Default for L2lConfig {
    fn default() -> Self {
        L2lConfig {
            lr: 1.0,
            non_finite: NonFinite::Error,
        }
    }
}

impl L2lConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), OptimError> {
        hyper::check_positive("lr", self.lr)
    }
}

impl Hyper for L2lConfig {
    crate::optimizer::macros::hyper_fields!(lr);
}

/// Per-tensor state of [`L2l`]: each coordinate's LSTM state (h¹, c¹, h², c²).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct L2lState {
    /// [`STATE_PER_COORDINATE`] numbers per coordinate.
    pub lstm: Vec<f32>,
}

/// The learned LSTM optimizer as an [`Optimizer`]: each coordinate of each tensor runs the
/// shared LSTM over its gradients and moves by what it writes, times `lr`.
///
/// ```
/// use lrmem_optimizers::l2l::{L2l, L2lConfig, L2lWeights};
/// use lrmem_optimizers::Optimizer;
/// // The weights meta-trained on random 10-D quadratics, at the scale they were trained with.
/// let mut opt = L2l::new(L2lConfig::default(), L2lWeights::shipped("quadratic").unwrap())?;
/// let mut w = vec![1.0f32, -2.0, 0.5];
/// let start: f32 = w.iter().map(|x| x * x).sum();
/// for _ in 0..50 {
///     let grad: Vec<f32> = w.iter().map(|x| 2.0 * x).collect(); // ∇‖w‖²
///     opt.step("w", &mut w, &grad)?;
/// }
/// assert!(w.iter().map(|x| x * x).sum::<f32>() < start);
/// # Ok::<(), lrmem_optimizers::OptimError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct L2l {
    config: L2lConfig,
    weights: Arc<L2lWeights>,
    states: TensorStates<L2lState>,
}

impl L2l {
    /// Validates `config`; the weights are checked when made.
    pub fn new(config: L2lConfig, weights: L2lWeights) -> Result<Self, OptimError> {
        config.validate()?;
        Ok(L2l {
            config,
            weights: Arc::new(weights),
            states: TensorStates::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &L2lConfig {
        &self.config
    }

    /// The weights.
    pub fn weights(&self) -> &L2lWeights {
        &self.weights
    }

    /// Forget every tensor's LSTM state (a new task starts); the weights stay.
    pub fn reset(&mut self) {
        self.states.clear();
    }
}

impl Optimizer for L2l {
    /// Forgets every tensor's LSTM state ([`reset`](Self::reset)); the meta-trained weights
    /// are what carries over, as they carry over to every task they were not trained on.
    fn next_task(&mut self) {
        self.reset();
    }

    /// `lr`, the multiplier of the learned update.
    fn hyperparameters(&self) -> Vec<(String, f32)> {
        hyper::list(&self.config)
    }

    /// Sets `lr` (validated as by [`L2l::new`]); it applies from the next step.
    fn set_hyperparameter(&mut self, name: &str, value: f32) -> Result<(), OptimError> {
        self.config = hyper::updated(&self.config, name, value, false)?;
        Ok(())
    }

    crate::optimizer::macros::tensor_checks!();

    fn step(&mut self, name: &str, params: &mut [f32], grads: &[f32]) -> Result<(), OptimError> {
        let cfg = self.config;
        let grads = check_inputs(name, params, grads, cfg.non_finite)?;
        let n = params.len();
        let st = self.states.get_or_init(name, n, || L2lState {
            lstm: vec![0.0; n * STATE_PER_COORDINATE],
        })?;
        let mut out = vec![0.0f32; n];
        self.weights.forward(&grads, &mut st.lstm, &mut out, None);
        for (w, u) in params.iter_mut().zip(&out) {
            *w = sat(*w + cfg.lr * u);
        }
        Ok(())
    }
}

impl Inspect for L2l {
    /// Each tensor's `lstm` state.
    fn state(&self) -> StateView<'_> {
        let mut view = StateView::default();
        for (name, s) in self.states.iter() {
            let mut fields = Fields::new();
            fields.insert("lstm".into(), Field::Values(&s.lstm));
            view.tensors.insert(name.to_owned(), fields);
        }
        view
    }
}

impl StateBytes for L2l {
    /// The LSTM state: 4 × 20 floats.
    fn bytes_per_coordinate(&self) -> usize {
        STATE_PER_COORDINATE * 4
    }
}

impl Checkpoint for L2l {
    /// Config, weights and every tensor's LSTM state.
    fn save(&self) -> Result<Vec<u8>, OptimError> {
        crate::optimizer::checkpoint::save("L2l", &(&self.config, &*self.weights, &self.states))
    }

    /// Restores config, weights and states, each checked first (weights as by
    /// [`L2lWeights::load`], states of the right length with finite values, and |h| ≤ 1 since h
    /// is a product of a sigmoid and a tanh); an error changes nothing.
    fn load(&mut self, bytes: &[u8]) -> Result<(), OptimError> {
        let (config, weights, states): (L2lConfig, L2lWeights, TensorStates<L2lState>) =
            crate::optimizer::checkpoint::load("L2l", bytes)?;
        config.validate()?;
        weights.check()?;
        for (name, s) in states.iter() {
            let len = states.len_of(name).unwrap_or(0);
            let want = len.checked_mul(STATE_PER_COORDINATE);
            let bad = if want != Some(s.lstm.len()) {
                Some(format!(
                    "has {} LSTM numbers for {len} coordinates ({STATE_PER_COORDINATE} per coordinate expected)",
                    s.lstm.len(),
                ))
            } else if s.lstm.iter().any(|x| !x.is_finite()) {
                Some("has non-finite LSTM state".to_owned())
            } else if s
                .lstm
                .chunks(H)
                .step_by(2)
                .any(|h| h.iter().any(|x| x.abs() > 1.0))
            {
                Some("has an LSTM output |h| > 1".to_owned())
            } else {
                None
            };
            if let Some(what) = bad {
                return Err(OptimError::Corrupt {
                    reason: format!("the state of tensor `{name}` {what}; the checkpoint is damaged or was not written by lrmem"),
                });
            }
        }
        self.config = config;
        self.weights = Arc::new(weights);
        self.states = states;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_ln_and_activations_match_std() {
        for i in -2000..=2000 {
            let x = i as f32 * 0.05;
            let (e, want) = (exp(x), x.exp());
            if x > -87.0 && x < 88.0 {
                assert!(
                    ((e - want) / want).abs() < 4e-7,
                    "exp({x}) = {e}, std {want}"
                );
            }
            assert!((tanh(x) - x.tanh()).abs() < 3e-7, "tanh({x})");
            assert!((sigmoid(x) - 1.0 / (1.0 + (-x).exp())).abs() < 3e-7);
        }
        for x in [
            1e-30f32,
            1e-8,
            0.3,
            0.7,
            0.72,
            1.0,
            1.5,
            2.0,
            1e8,
            1e30,
            f32::MAX,
        ] {
            assert!(
                (ln(x) - x.ln()).abs() < 2e-6 * x.ln().abs().max(1.0),
                "ln({x})"
            );
        }
        assert_eq!(exp(-1e30), exp(-87.0));
        assert!(exp(1e30).is_finite());
    }

    #[test]
    fn log_and_sign_features() {
        let ek = 5f32.exp();
        assert_eq!(log_and_sign(0.0, 5.0, ek), [-1.0, 0.0]);
        assert_eq!(log_and_sign(1e-40, 5.0, ek), [-1.0, 1e-40 * ek]);
        let [l, s] = log_and_sign(-2.0, 5.0, ek);
        assert!((l - 2f32.ln() / 5.0).abs() < 1e-6 && s == -1.0);
        let [l, s] = log_and_sign(1e-3, 5.0, ek);
        assert!((l - (-1.0f32).max(1e-3f32.ln() / 5.0)).abs() < 1e-6);
        assert!((s - 1e-3 * ek).abs() < 1e-6);
    }

    /// The meta-gradient of a loss of the LSTM's outputs over a few steps, against central
    /// differences: L = Σ_t Σ_i c_{t,i}·g_t[i] with fixed gradient inputs.
    #[test]
    fn backward_matches_finite_differences() {
        let w = L2lWeights::init(5.0, 0.5, 3).unwrap();
        let (n, steps) = (3usize, 4usize);
        let grads: Vec<Vec<f32>> = (0..steps)
            .map(|t| {
                (0..n)
                    .map(|i| ((t * n + i) as f32 * 0.7).sin() * 0.3)
                    .collect()
            })
            .collect();
        let coef: Vec<Vec<f32>> = (0..steps)
            .map(|t| (0..n).map(|i| ((t + 2 * i) as f32 * 1.3).cos()).collect())
            .collect();
        let loss = |w: &L2lWeights| -> f64 {
            let mut state = vec![0.0f32; n * STATE_PER_COORDINATE];
            let mut out = vec![0.0f32; n];
            let mut l = 0.0f64;
            for t in 0..steps {
                w.forward(&grads[t], &mut state, &mut out, None);
                l += out
                    .iter()
                    .zip(&coef[t])
                    .map(|(o, c)| f64::from(o * c))
                    .sum::<f64>();
            }
            l
        };
        let mut state = vec![0.0f32; n * STATE_PER_COORDINATE];
        let mut out = vec![0.0f32; n];
        let mut tapes = vec![vec![0.0f32; n * TAPE_PER_COORDINATE]; steps];
        for t in 0..steps {
            w.forward(&grads[t], &mut state, &mut out, Some(&mut tapes[t]));
        }
        let mut grad = vec![0.0f32; NUM_PARAMS];
        let tr: Vec<&[f32]> = tapes.iter().map(|t| t.as_slice()).collect();
        let dr: Vec<&[f32]> = coef.iter().map(|c| c.as_slice()).collect();
        w.backward(&tr, &dr, &mut grad);
        let mut checked = 0;
        for idx in (0..NUM_PARAMS)
            .step_by(37)
            .chain([B1 + 3, B2 + 50, WO + 2, BO])
        {
            let h = 1e-2f32;
            let mut p = w.params().to_vec();
            p[idx] += h;
            let up = loss(&L2lWeights::new(5.0, 0.5, p.clone()).unwrap());
            p[idx] -= 2.0 * h;
            let down = loss(&L2lWeights::new(5.0, 0.5, p).unwrap());
            let fd = (up - down) / (2.0 * f64::from(h));
            let an = f64::from(grad[idx]);
            assert!(
                (fd - an).abs() <= 2e-3 + 2e-2 * an.abs(),
                "φ[{idx}]: analytic {an}, finite differences {fd}"
            );
            checked += 1;
        }
        assert!(checked > 100);
        assert!(grad.iter().any(|g| g.abs() > 1e-3));
    }

    #[test]
    fn damaged_weights_and_states_are_refused() {
        let w = L2lWeights::init(5.0, 0.01, 0).unwrap();
        let mut p = w.params().to_vec();
        p[7] = f32::NAN;
        assert!(L2lWeights::new(5.0, 0.01, p).is_err());
        assert!(L2lWeights::new(5.0, 0.01, vec![0.0; 3]).is_err());
        assert!(L2lWeights::new(0.0, 0.01, w.params().to_vec()).is_err());
        let mut opt = L2l::new(L2lConfig::default(), w).unwrap();
        let mut x = vec![1.0f32, 2.0];
        opt.step("x", &mut x, &[0.1, -0.2]).unwrap();
        let saved = opt.save().unwrap();
        let mut other = opt.clone();
        other.states.get_mut("x").unwrap().lstm[0] = 3.0;
        let bad = other.save().unwrap();
        assert!(opt.load(&bad).is_err());
        assert_eq!(opt.save().unwrap(), saved);
        opt.load(&saved).unwrap();
    }

    #[test]
    fn saved_weights_fit_the_bound_of_a_weights_file() {
        for name in ["mnist", "quadratic"] {
            let bytes = L2lWeights::shipped(name).unwrap().save().unwrap();
            assert!(bytes.len() as u64 <= MAX_WEIGHTS_BYTES, "{}", bytes.len());
            assert_eq!(
                MAX_WEIGHTS_BYTES - bytes.len() as u64,
                8,
                "the varint's slack only"
            );
        }
    }

    #[test]
    fn shipped_weights_load_and_the_spec_builds() {
        for name in ["mnist", "quadratic"] {
            let w = L2lWeights::shipped(name).unwrap();
            assert_eq!(w.params().len(), NUM_PARAMS);
        }
        assert!((L2lWeights::shipped("mnist").unwrap().scale() - 0.01).abs() < 1e-9);
        assert_eq!(L2lWeights::shipped("quadratic").unwrap().scale(), 1.0);
        let spec = crate::registry::OptimizerSpec::parse("l2l:weights=quadratic,lr=0.5").unwrap();
        spec.build().unwrap();
        let err = crate::registry::OptimizerSpec::parse("l2l:weights=/no/such/file")
            .unwrap()
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("L2lWeights::save"), "{err}");
    }
}
