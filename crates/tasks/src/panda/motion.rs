//! Seeded trajectories of the simulated Panda at 1 ms: the data of the robot-dynamics tasks.
//!
//! A learned dynamics model needs data that look like a robot at work: smooth motions that use
//! a good part of the joint ranges, velocities and torques without leaving them. [`generate`]
//! makes the arm track a smooth reference motion under a computed-torque controller and records
//! what a torque-controlled robot logs every millisecond.
//!
//! # The reference motions ([`Family`])
//!
//! Both stay inside a safe box (the joint ranges shrunk by [`MotionConfig::margin`] at each
//! end) and use at most [`MotionConfig::speed`] of the velocity and acceleration limits.
//!
//! - [`Family::PointToPoint`]: pick-and-place-like moves. Random poses in the safe box, joined
//!   by minimum-jerk moves `q(t) = a + (b − a)·s(t/T)`, `s(τ) = 10τ³ − 15τ⁴ + 6τ⁵` (zero
//!   velocity and acceleration at both ends; peak `|ṡ| = 1.875/T`, `|s̈| = 5.774/T²`), each
//!   move as short as the velocity and acceleration budgets allow (at least 0.3 s), with a
//!   random hold in [`MotionConfig::hold`] before the next.
//! - [`Family::Sinusoids`]: per joint, `q_i(t) = c_i + Σ_k a_ik sin(ω_ik t + φ_ik)` with
//!   [`MotionConfig::components`] terms, frequencies uniform in
//!   `[0.05, max_frequency]` Hz, random phases, and amplitudes scaled so that
//!   `Σ a ≤` the safe half-range, `Σ a ω ≤ speed · QD_MAX` and `Σ a ω² ≤ speed · QDD_MAX`.
//!
//! # The controller and the simulation
//!
//! Computed torque on measured state `(q̃, q̃̇)`:
//! `τ = clamp(ID(q̃, q̃̇, q̈_ref + kp (q_ref − q̃) + kd (q̇_ref − q̃̇)), ±TAU_MAX)`, where `ID` is
//! the controller's arm ([`Panda::inverse_dynamics`]; pass the plant itself for a perfect
//! model, or e.g. an arm without the payload for a controller that does not know it). The
//! plant integrates `q̈ = FD(q, q̇, τ)` ([`Panda::forward_dynamics`]) by semi-implicit Euler at
//! [`DT`] = 1 ms: `q̇ ← q̇ + DT q̈`, then `q ← q + DT q̇`. Sensor noise, if any, is Gaussian
//! on the measured `q` and `q̇` ([`Noise`]).
//!
//! # Determinism
//!
//! Everything random comes from ChaCha8 seeded by `seed` (stream 0 for the reference, stream 1
//! for the noise, so turning noise on does not change the reference), and the arithmetic is
//! fixed, so a seed gives the same trajectory bit for bit (a test checks it). Training and
//! held-out trajectories should use disjoint seeds.
//!
//! ```
//! use lrmem_tasks::panda::motion::{generate, Family, MotionConfig};
//! use lrmem_tasks::panda::{Panda, PandaConfig};
//!
//! let arm = Panda::new(PandaConfig::default())?;
//! let config = MotionConfig { family: Family::Sinusoids, steps: 500, ..MotionConfig::default() };
//! let run = generate(&arm, &arm, &config, 42)?;
//! assert_eq!(run.len(), 500);
//! assert_eq!(run, generate(&arm, &arm, &config, 42)?); // a seed fixes the trajectory
//! # Ok::<(), lrmem_tasks::TaskError>(())
//! ```

use super::{Joints, Panda, DOF, QDD_MAX, QD_MAX, Q_MAX, Q_MIN, TAU_MAX};
use crate::random::{normal, unit};
use crate::TaskError;
use rand_chacha::ChaCha8Rng;

/// The simulation's time step, s: the 1 ms control period of Franka's torque interface.
pub const DT: f64 = 0.001;

/// The shortest minimum-jerk move, s: very short moves look like impacts, not motions.
pub const MIN_MOVE_TIME: f64 = 0.3;

/// The lowest frequency of [`Family::Sinusoids`], Hz.
pub const MIN_FREQUENCY: f64 = 0.05;

/// Which kind of reference motion the arm tracks (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Family {
    /// Minimum-jerk moves between random poses, with holds: like picking and placing objects.
    #[default]
    PointToPoint,
    /// A sum of sinusoids per joint: continuous, never-resting motion.
    Sinusoids,
}

/// Gaussian sensor noise on the measured joint positions and velocities.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Noise {
    /// Standard deviation of the position noise, rad, finite and ≥ 0. Default 0 (off).
    pub q_std: f64,
    /// Standard deviation of the velocity noise, rad/s, finite and ≥ 0. Default 0 (off).
    pub qd_std: f64,
}

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotionConfig {
    /// The reference family. Default [`Family::PointToPoint`].
    pub family: Family,
    /// Number of 1 ms steps recorded, ≥ 1 and ≤ 10⁸. Default 10 000 (10 s).
    pub steps: usize,
    /// Fraction of [`QD_MAX`] and [`QDD_MAX`] the reference may use, in (0, 1]. Default 0.5:
    /// leaves room for tracking errors and keeps the torques within [`TAU_MAX`].
    pub speed: f64,
    /// Fraction of each joint's range kept free at both ends, in [0, 0.45]. Default 0.1.
    pub margin: f64,
    /// Position gain, 1/s², finite and > 0. Default 400 (natural frequency 20 rad/s).
    pub kp: f64,
    /// Velocity gain, 1/s, finite and > 0. Default 40 (critically damped with the default kp).
    pub kd: f64,
    /// Hold time range between point-to-point moves, s, `0 ≤ hold[0] ≤ hold[1] ≤ 60`.
    /// Default [0.2, 0.6].
    pub hold: [f64; 2],
    /// Sinusoids per joint, 1 to 16. Default 3.
    pub components: usize,
    /// Highest sinusoid frequency, Hz, in [`MIN_FREQUENCY`, 5]. Default 0.5.
    pub max_frequency: f64,
    /// Sensor noise. Default off.
    pub noise: Noise,
}

impl Default for MotionConfig {
    fn default() -> Self {
        MotionConfig {
            family: Family::PointToPoint,
            steps: 10_000,
            speed: 0.5,
            margin: 0.1,
            kp: 400.0,
            kd: 40.0,
            hold: [0.2, 0.6],
            components: 3,
            max_frequency: 0.5,
            noise: Noise::default(),
        }
    }
}

impl MotionConfig {
    /// Checks every field against its documented range.
    pub fn validate(&self) -> Result<(), TaskError> {
        let bad = |what: String| Err(TaskError::Argument(what));
        if self.steps == 0 || self.steps > 100_000_000 {
            return bad(format!(
                "steps = {}; pass 1 to 10^8 (1 ms each)",
                self.steps
            ));
        }
        if !(self.speed > 0.0 && self.speed <= 1.0) {
            return bad(format!(
                "speed = {}; pass a fraction in (0, 1] of the limits",
                self.speed
            ));
        }
        if !(0.0..=0.45).contains(&self.margin) {
            return bad(format!(
                "margin = {}; pass a fraction in [0, 0.45]",
                self.margin
            ));
        }
        if !(self.kp.is_finite() && self.kp > 0.0 && self.kd.is_finite() && self.kd > 0.0) {
            return bad(format!(
                "gains kp = {}, kd = {}; pass finite positive gains (default 400, 40)",
                self.kp, self.kd
            ));
        }
        let [lo, hi] = self.hold;
        if !(lo >= 0.0 && lo <= hi && hi <= 60.0) {
            return bad(format!(
                "hold = {:?}; pass 0 ≤ hold[0] ≤ hold[1] ≤ 60 s",
                self.hold
            ));
        }
        if !(1..=16).contains(&self.components) {
            return bad(format!("components = {}; pass 1 to 16", self.components));
        }
        if !(MIN_FREQUENCY..=5.0).contains(&self.max_frequency) {
            return bad(format!(
                "max_frequency = {} Hz; pass {MIN_FREQUENCY} to 5",
                self.max_frequency
            ));
        }
        let n = self.noise;
        if !(n.q_std >= 0.0 && n.q_std.is_finite() && n.qd_std >= 0.0 && n.qd_std.is_finite()) {
            return bad(format!("noise {n:?}; pass finite standard deviations ≥ 0"));
        }
        Ok(())
    }
}

/// A recorded trajectory: row `k` is the arm at time `k · DT`.
///
/// `q`, `qd` are what the sensors read (the true state plus [`Noise`], if any), `tau` the
/// torque commanded (and applied) during step `k`, `qdd` the true acceleration it produced,
/// `q_ref` the reference position. The true state after the last row is not recorded, so a
/// forward model's target for row `k` is row `k + 1`.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    /// Measured joint positions, rad.
    pub q: Vec<Joints>,
    /// Measured joint velocities, rad/s.
    pub qd: Vec<Joints>,
    /// True joint accelerations, rad/s².
    pub qdd: Vec<Joints>,
    /// Applied joint torques, N·m (within ±[`TAU_MAX`]).
    pub tau: Vec<Joints>,
    /// Reference joint positions, rad.
    pub q_ref: Vec<Joints>,
}

impl Trajectory {
    /// Number of recorded steps.
    pub fn len(&self) -> usize {
        self.q.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }
}

/// Simulates `plant` tracking a seeded reference motion under computed torque with
/// `controller`'s model (see the module docs) and records `config.steps` steps.
///
/// Fails with [`TaskError::Argument`] for a bad `config`, and with the dynamics' error if the
/// simulation leaves the finite numbers (it cannot with the documented ranges).
pub fn generate(
    plant: &Panda,
    controller: &Panda,
    config: &MotionConfig,
    seed: u64,
) -> Result<Trajectory, TaskError> {
    config.validate()?;
    let mut ref_rng = crate::random::stream(seed, 0);
    let mut noise_rng = crate::random::stream(seed, 1);

    let (lo, hi) = safe_box(config.margin);
    let mut reference = match config.family {
        Family::PointToPoint => Reference::p2p(config, lo, hi, &mut ref_rng),
        Family::Sinusoids => Reference::sinusoids(config, lo, hi, &mut ref_rng),
    };
    let (mut q, mut qd, _) = reference.at(0, config, lo, hi, &mut ref_rng);

    let n = config.steps;
    let mut out = Trajectory {
        q: Vec::with_capacity(n),
        qd: Vec::with_capacity(n),
        qdd: Vec::with_capacity(n),
        tau: Vec::with_capacity(n),
        q_ref: Vec::with_capacity(n),
    };
    for k in 0..n {
        let (q_ref, qd_ref, qdd_ref) = reference.at(k, config, lo, hi, &mut ref_rng);
        let mut q_meas = q;
        let mut qd_meas = qd;
        if config.noise.q_std > 0.0 || config.noise.qd_std > 0.0 {
            for i in 0..DOF {
                q_meas[i] += config.noise.q_std * normal(&mut noise_rng);
                qd_meas[i] += config.noise.qd_std * normal(&mut noise_rng);
            }
        }
        let mut qdd_cmd = [0.0; DOF];
        for i in 0..DOF {
            qdd_cmd[i] = qdd_ref[i]
                + config.kp * (q_ref[i] - q_meas[i])
                + config.kd * (qd_ref[i] - qd_meas[i]);
        }
        let mut tau = controller.inverse_dynamics(&q_meas, &qd_meas, &qdd_cmd)?;
        for i in 0..DOF {
            tau[i] = tau[i].clamp(-TAU_MAX[i], TAU_MAX[i]);
        }
        let qdd = plant.forward_dynamics(&q, &qd, &tau)?;
        out.q.push(q_meas);
        out.qd.push(qd_meas);
        out.qdd.push(qdd);
        out.tau.push(tau);
        out.q_ref.push(q_ref);
        for i in 0..DOF {
            qd[i] += DT * qdd[i];
            q[i] += DT * qd[i];
        }
    }
    Ok(out)
}

/// The joint ranges shrunk by `margin` of their width at each end.
fn safe_box(margin: f64) -> (Joints, Joints) {
    let mut lo = Q_MIN;
    let mut hi = Q_MAX;
    for i in 0..DOF {
        let m = margin * (Q_MAX[i] - Q_MIN[i]);
        lo[i] += m;
        hi[i] -= m;
    }
    (lo, hi)
}

fn random_pose(lo: &Joints, hi: &Joints, rng: &mut ChaCha8Rng) -> Joints {
    std::array::from_fn(|i| lo[i] + (hi[i] - lo[i]) * unit(rng))
}

/// The reference generator: the state of the current move, or the sinusoids' coefficients.
enum Reference {
    P2p {
        /// Start and end pose of the current move.
        from: Joints,
        to: Joints,
        /// Steps at which the current move starts and ends, and the hold after it ends.
        start: usize,
        moving: usize,
        hold: usize,
    },
    Sinusoids {
        center: Joints,
        /// Per joint and component: amplitude, angular frequency, phase.
        terms: Vec<[(f64, f64, f64); DOF]>,
    },
}

impl Reference {
    fn p2p(config: &MotionConfig, lo: Joints, hi: Joints, rng: &mut ChaCha8Rng) -> Self {
        let from = random_pose(&lo, &hi, rng);
        let mut r = Reference::P2p {
            from,
            to: from,
            start: 0,
            moving: 0,
            hold: 0,
        };
        r.next_move(config, &lo, &hi, rng, 0);
        r
    }

    fn sinusoids(config: &MotionConfig, lo: Joints, hi: Joints, rng: &mut ChaCha8Rng) -> Self {
        let mut terms = vec![[(0.0, 0.0, 0.0); DOF]; config.components];
        let mut center = [0.0; DOF];
        for i in 0..DOF {
            center[i] = 0.5 * (lo[i] + hi[i]);
            let (mut sa, mut saw, mut saw2) = (0.0, 0.0, 0.0);
            for t in terms.iter_mut() {
                let a = 0.2 + 0.8 * unit(rng);
                let hz = MIN_FREQUENCY + (config.max_frequency - MIN_FREQUENCY) * unit(rng);
                let w = std::f64::consts::TAU * hz;
                let phase = std::f64::consts::TAU * unit(rng);
                t[i] = (a, w, phase);
                sa += a;
                saw += a * w;
                saw2 += a * w * w;
            }
            let scale = (0.5 * (hi[i] - lo[i]) / sa)
                .min(config.speed * QD_MAX[i] / saw)
                .min(config.speed * QDD_MAX[i] / saw2);
            for t in terms.iter_mut() {
                t[i].0 *= scale;
            }
        }
        Reference::Sinusoids { center, terms }
    }

    /// Starts the next point-to-point move at step `now`.
    fn next_move(
        &mut self,
        config: &MotionConfig,
        lo: &Joints,
        hi: &Joints,
        rng: &mut ChaCha8Rng,
        now: usize,
    ) {
        if let Reference::P2p {
            from,
            to,
            start,
            moving,
            hold,
        } = self
        {
            *from = *to;
            *to = random_pose(lo, hi, rng);
            let mut t = MIN_MOVE_TIME;
            for i in 0..DOF {
                let d = (to[i] - from[i]).abs();
                t = t
                    .max(1.875 * d / (config.speed * QD_MAX[i]))
                    .max((5.774 * d / (config.speed * QDD_MAX[i])).sqrt());
            }
            let held = config.hold[0] + (config.hold[1] - config.hold[0]) * unit(rng);
            *start = now;
            *moving = (t / DT).ceil() as usize;
            *hold = (held / DT).round() as usize;
        }
    }

    /// The reference `(q, q̇, q̈)` at step `k` (called with k = 0, then 0, 1, 2, … in order).
    fn at(
        &mut self,
        k: usize,
        config: &MotionConfig,
        lo: Joints,
        hi: Joints,
        rng: &mut ChaCha8Rng,
    ) -> (Joints, Joints, Joints) {
        if let Reference::P2p {
            start,
            moving,
            hold,
            ..
        } = self
        {
            if k >= *start + *moving + *hold {
                self.next_move(config, &lo, &hi, rng, k);
            }
        }
        match self {
            Reference::P2p {
                from,
                to,
                start,
                moving,
                ..
            } => {
                let big_t = *moving as f64 * DT;
                let tau = (((k - *start) as f64) * DT / big_t).min(1.0);
                let (t2, t3) = (tau * tau, tau * tau * tau);
                let s = t3 * (10.0 - 15.0 * tau + 6.0 * t2);
                let sd = 30.0 * t2 * (1.0 - tau) * (1.0 - tau) / big_t;
                let sdd = 60.0 * tau * (1.0 - tau) * (1.0 - 2.0 * tau) / (big_t * big_t);
                let mut q = [0.0; DOF];
                let mut qd = [0.0; DOF];
                let mut qdd = [0.0; DOF];
                for i in 0..DOF {
                    let d = to[i] - from[i];
                    q[i] = from[i] + d * s;
                    qd[i] = d * sd;
                    qdd[i] = d * sdd;
                }
                (q, qd, qdd)
            }
            Reference::Sinusoids { center, terms } => {
                let t = k as f64 * DT;
                let mut q = *center;
                let mut qd = [0.0; DOF];
                let mut qdd = [0.0; DOF];
                for term in terms.iter() {
                    for i in 0..DOF {
                        let (a, w, p) = term[i];
                        let (s, c) = (w * t + p).sin_cos();
                        q[i] += a * s;
                        qd[i] += a * w * c;
                        qdd[i] -= a * w * w * s;
                    }
                }
                (q, qd, qdd)
            }
        }
    }
}
