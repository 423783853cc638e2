//! A simulated Franka Emika Panda: rigid-body dynamics of a real 7-joint arm from public facts.
//!
//! The robot-learning tasks need an arm whose dynamics are those of a real robot, and no measured
//! arm data set is public. This module computes the Panda's dynamics from its published
//! description, so the tasks learn the dynamics of a real machine rather than of a toy.
//!
//! # The model
//!
//! The arm obeys the rigid-body equation of motion
//!
//! ```text
//! τ = M(q) q̈ + C(q, q̇) q̇ + g(q) + τ_f(q̇)
//! ```
//!
//! with joint angles `q`, velocities `q̇ = qd`, accelerations `q̈ = qdd` and joint torques `τ`
//! (all `[f64; 7]`, joint 1 at the base to joint 7 at the flange; N·m, rad, rad/s, rad/s²).
//! `M` is the joint-space mass matrix, `C q̇` the Coriolis and centrifugal torques, `g` the
//! gravity torques and `τ_f` optional joint friction ([`Friction`]).
//!
//! - [`Panda::inverse_dynamics`] computes `τ` from `(q, q̇, q̈)` with the recursive Newton–Euler
//!   algorithm (RNEA), O(n);
//! - [`Panda::forward_dynamics`] computes `q̈ = M⁻¹ (τ − τ_f − C q̇ − g)` from `(q, q̇, τ)` with
//!   the articulated-body algorithm (ABA), O(n).
//!
//! Both are `phyz-rigid`'s Featherstone implementations (pinned to 0.4.0), not hand-written
//! code. `crates/tasks/tests/panda.rs` holds them to Pinocchio's at seeded random states
//! (relative error ≤ 1e−6 in the ∞-norm), and to the gravity torques at [`READY_POSE`].
//!
//! # Where the numbers come from
//!
//! - Kinematics and inertias: the URDF of the `example-robot-data` 6.0.0 wheel (Apache-2.0, from
//!   Franka's `franka_description`), vendored byte for byte in `crates/tasks/data/panda/` with
//!   its licence and a PROVENANCE.md (wheel, sha256, path). Its links 1–7 carry the inertial
//!   parameters identified by Gaz et al., "Dynamic Identification of the Franka Emika Panda
//!   Robot With Retrieval of Feasible Parameters Using Penalty-Based Optimization", IEEE RA-L
//!   4(4), 2019 (masses 4.970684, 0.646926, 3.228604, 3.587895, 1.225946, 1.666555, 0.735522 kg,
//!   checked by a test); the hand (0.73 kg) is franka_description's.
//! - The gripper's two finger joints are made fixed at opening 0 (their 2 × 0.015 kg ride on the
//!   hand): the arm has 7 degrees of freedom. The URDF's joint damping and soft position limits
//!   are dropped, so that the model is the pure rigid body that Pinocchio computes; friction is
//!   [`Friction`]'s, and the limits are the constants below.
//! - Limits ([`Q_MIN`], [`Q_MAX`], [`QD_MAX`], [`QDD_MAX`], [`TAU_MAX`], [`PAYLOAD_MAX`]): Franka's
//!   datasheet, "Robot and interface specifications" of the Franka Control Interface
//!   documentation (the joint-space limits table, and the 3 kg payload of the Panda's
//!   technical data). The position, velocity and torque limits are also the URDF's `<limit>`s.
//!
//! [`motion`] makes seeded trajectories of the arm at 1 ms (the robot tasks' data); [`query`]
//! is the `panda` example's JSON input and output.
//!
//! # Example
//!
//! ```
//! use lrmem_tasks::panda::{Panda, PandaConfig, READY_POSE};
//!
//! let arm = Panda::new(PandaConfig::default())?;
//! // Holding the ready pose still takes the gravity torques.
//! let tau = arm.inverse_dynamics(&READY_POSE, &[0.0; 7], &[0.0; 7])?;
//! assert!((tau[3] - 22.022).abs() < 1e-3);
//! // Applying exactly those torques, the arm does not accelerate.
//! let qdd = arm.forward_dynamics(&READY_POSE, &[0.0; 7], &tau)?;
//! assert!(qdd.iter().all(|a| a.abs() < 1e-9));
//! # Ok::<(), lrmem_tasks::TaskError>(())
//! ```

pub mod motion;
pub mod query;

use crate::TaskError;
use phyz_math::{DVec, SpatialInertia, Vec3};
use phyz_model::{Model, State};

/// Number of joints (degrees of freedom) of the arm: the length of every joint vector.
pub const DOF: usize = 7;

/// One value per joint, joint 1 (base) to joint 7 (flange).
pub type Joints = [f64; DOF];

/// Lower joint position limits, rad (Franka datasheet; also the URDF's `<limit lower>`).
pub const Q_MIN: Joints = [
    -2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973,
];
/// Upper joint position limits, rad (Franka datasheet; also the URDF's `<limit upper>`).
pub const Q_MAX: Joints = [2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973];
/// Joint velocity limits (symmetric), rad/s (Franka datasheet; also the URDF's `velocity`).
pub const QD_MAX: Joints = [2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61];
/// Joint acceleration limits (symmetric), rad/s² (Franka datasheet).
pub const QDD_MAX: Joints = [15.0, 7.5, 10.0, 12.5, 15.0, 20.0, 20.0];
/// Joint torque limits (symmetric), N·m (Franka datasheet; also the URDF's `effort`).
pub const TAU_MAX: Joints = [87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0];
/// The Panda's rated payload, kg (Franka datasheet); [`Payload::mass`] may not exceed it.
pub const PAYLOAD_MAX: f64 = 3.0;

/// Franka's "ready" pose (arm bent, hand pointing down), rad: a natural start and rest pose.
pub const READY_POSE: Joints = [0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785];

/// Distance from the flange to the point between the fingertips along the flange's z axis, m
/// (the URDF's `panda_hand_tcp_joint`): where a grasped object sits.
pub const FLANGE_TO_TCP: f64 = 0.1034;

/// Standard gravity, m/s², as Pinocchio and phyz use it: the default of [`PandaConfig::gravity`].
pub const STANDARD_GRAVITY: f64 = 9.81;

/// Default of [`Friction::velocity_scale`], rad/s.
pub const DEFAULT_FRICTION_VELOCITY_SCALE: f64 = 0.1;

/// The vendored URDF (see `crates/tasks/data/panda/PROVENANCE.md`), compiled into the crate so
/// that the packaged crate needs no file at run time.
pub const URDF: &str = include_str!("../../data/panda/panda.urdf");

/// The sha256 of [`URDF`] as shipped in the `example-robot-data` 6.0.0 wheel (PROVENANCE.md).
pub const URDF_SHA256: &str = "63792d2679f22c4e41cda2c4d9d903644e628970ad0656b9eec8485113941555";

/// A grasped object: a point mass rigidly attached to the flange (link 7).
///
/// A point mass is the simplest payload that changes every term of the dynamics (mass matrix,
/// Coriolis and gravity torques); the payload tasks carry 1.5 kg.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Payload {
    /// Mass, kg, in `[0, PAYLOAD_MAX]`. Default 0 (no payload).
    pub mass: f64,
    /// Position of the mass in the flange frame (`panda_link8`: link 7's frame moved 0.107 m
    /// along its z axis), m, each coordinate finite and the distance at most 1 m. Default
    /// `[0, 0, FLANGE_TO_TCP]`: between the fingertips, where a grasped object sits.
    pub offset: [f64; 3],
}

impl Default for Payload {
    fn default() -> Self {
        Payload {
            mass: 0.0,
            offset: [0.0, 0.0, FLANGE_TO_TCP],
        }
    }
}

/// Joint friction: `τ_f,i = viscous_i · q̇_i + coulomb_i · tanh(q̇_i / velocity_scale)`.
///
/// Real joints lose torque to friction, and a learned dynamics model should meet it. The
/// Coulomb term uses `tanh` rather than `sign` so that the dynamics stay smooth (a learned model
/// and an explicit integrator both suffer at a jump); `tanh(q̇ / s)` is within 2 % of `sign(q̇)`
/// once `|q̇| > 2.3 s`. Friction opposes motion: [`Panda::inverse_dynamics`] adds `τ_f`,
/// [`Panda::forward_dynamics`] subtracts it from the applied torque.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Friction {
    /// Viscous coefficients, N·m·s/rad, finite and ≥ 0. Default all 0 (off).
    pub viscous: Joints,
    /// Coulomb friction torques, N·m, finite and ≥ 0. Default all 0 (off).
    pub coulomb: Joints,
    /// The velocity over which the Coulomb term turns from −coulomb to +coulomb, rad/s, finite
    /// and > 0. Default [`DEFAULT_FRICTION_VELOCITY_SCALE`] (0.1 rad/s, a few percent of the
    /// velocity limits).
    pub velocity_scale: f64,
}

impl Default for Friction {
    fn default() -> Self {
        Friction {
            viscous: [0.0; DOF],
            coulomb: [0.0; DOF],
            velocity_scale: DEFAULT_FRICTION_VELOCITY_SCALE,
        }
    }
}

impl Friction {
    /// The friction torque `τ_f(q̇)` (see the type's docs), N·m.
    pub fn torque(&self, qd: &Joints) -> Joints {
        let mut t = [0.0; DOF];
        for i in 0..DOF {
            t[i] = self.viscous[i] * qd[i] + self.coulomb[i] * (qd[i] / self.velocity_scale).tanh();
        }
        t
    }

    /// Whether every coefficient is zero (friction off).
    pub fn is_off(&self) -> bool {
        self.viscous.iter().chain(&self.coulomb).all(|&c| c == 0.0)
    }
}

/// What to simulate: the payload, the joint friction and gravity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PandaConfig {
    /// The grasped object. Default: none ([`Payload::default`]).
    pub payload: Payload,
    /// Joint friction. Default: off ([`Friction::default`]).
    pub friction: Friction,
    /// Gravity in the base frame (z up), m/s². Default `[0, 0, -STANDARD_GRAVITY]`; all finite.
    pub gravity: [f64; 3],
}

impl Default for PandaConfig {
    /// No payload, no friction, standard gravity.
    fn default() -> Self {
        PandaConfig {
            payload: Payload::default(),
            friction: Friction::default(),
            gravity: [0.0, 0.0, -STANDARD_GRAVITY],
        }
    }
}

impl PandaConfig {
    /// Checks every field against its documented range.
    pub fn validate(&self) -> Result<(), TaskError> {
        let p = &self.payload;
        if !p.mass.is_finite() || !(0.0..=PAYLOAD_MAX).contains(&p.mass) {
            return Err(TaskError::Argument(format!(
                "payload mass {} kg is outside [0, {PAYLOAD_MAX}] (the Panda's rated payload); \
                 pass a mass in that range",
                p.mass
            )));
        }
        check_finite("payload offset", &p.offset)?;
        let dist = p.offset.iter().map(|x| x * x).sum::<f64>().sqrt();
        if dist > 1.0 {
            return Err(TaskError::Argument(format!(
                "payload offset {:?} is {dist:.3} m from the flange; a grasped object sits \
                 within 1 m of it (the default is {FLANGE_TO_TCP} m along z)",
                p.offset
            )));
        }
        let f = &self.friction;
        check_finite("friction viscous", &f.viscous)?;
        check_finite("friction coulomb", &f.coulomb)?;
        if f.viscous.iter().chain(&f.coulomb).any(|&c| c < 0.0) {
            return Err(TaskError::Argument(format!(
                "friction coefficients must be ≥ 0 (friction opposes motion); got viscous {:?}, \
                 coulomb {:?}",
                f.viscous, f.coulomb
            )));
        }
        if !f.velocity_scale.is_finite() || f.velocity_scale <= 0.0 {
            return Err(TaskError::Argument(format!(
                "friction velocity_scale {} rad/s must be finite and > 0 (default \
                 {DEFAULT_FRICTION_VELOCITY_SCALE})",
                f.velocity_scale
            )));
        }
        check_finite("gravity", &self.gravity)?;
        Ok(())
    }
}

/// The Panda's dynamics with a given payload, friction and gravity.
///
/// Built once (it parses the vendored URDF), then queried any number of times; queries take
/// `&self`, so one arm can serve several threads.
#[derive(Debug, Clone)]
pub struct Panda {
    model: Model,
    config: PandaConfig,
}

impl Panda {
    /// Builds the arm after checking `config` ([`PandaConfig::validate`]).
    pub fn new(config: PandaConfig) -> Result<Self, TaskError> {
        config.validate()?;
        let model = load_model(&config)?;
        Ok(Panda { model, config })
    }

    /// The configuration the arm was built with.
    pub fn config(&self) -> &PandaConfig {
        &self.config
    }

    /// Inverse dynamics (RNEA): the joint torques `τ` that produce accelerations `qdd` at
    /// positions `q` and velocities `qd`, friction included.
    ///
    /// Each argument must have [`DOF`] finite entries ([`TaskError::JointCount`],
    /// [`TaskError::NonFinite`] otherwise).
    pub fn inverse_dynamics(
        &self,
        q: &[f64],
        qd: &[f64],
        qdd: &[f64],
    ) -> Result<Joints, TaskError> {
        let [q, qd, qdd] = all_joints([("q", q), ("qd", qd), ("qdd", qdd)])?;
        let state = self.state(&q, &qd);
        let tau = phyz_rigid::rnea(&self.model, &state, &DVec::from_slice(&qdd));
        let mut out = to_joints(&tau);
        if let Some(friction) = self.friction(&qd) {
            for (t, f) in out.iter_mut().zip(friction) {
                *t += f;
            }
        }
        Ok(out)
    }

    /// Forward dynamics (ABA): the joint accelerations `qdd` that torques `tau` produce at
    /// positions `q` and velocities `qd`, after friction.
    ///
    /// Each argument must have [`DOF`] finite entries ([`TaskError::JointCount`],
    /// [`TaskError::NonFinite`] otherwise).
    pub fn forward_dynamics(
        &self,
        q: &[f64],
        qd: &[f64],
        tau: &[f64],
    ) -> Result<Joints, TaskError> {
        let [q, qd, mut tau] = all_joints([("q", q), ("qd", qd), ("tau", tau)])?;
        if let Some(friction) = self.friction(&qd) {
            for (t, f) in tau.iter_mut().zip(friction) {
                *t -= f;
            }
        }
        let mut state = self.state(&q, &qd);
        // The model has no actuators, so `ctrl` is the generalized force on each joint.
        state.ctrl = DVec::from_slice(&tau);
        Ok(to_joints(&phyz_rigid::aba(&self.model, &state)))
    }

    /// The gravity torques `g(q)`: what holding the arm still at `q` takes (no friction, since
    /// nothing moves).
    pub fn gravity_torque(&self, q: &[f64]) -> Result<Joints, TaskError> {
        self.inverse_dynamics(q, &[0.0; DOF], &[0.0; DOF])
    }

    /// The masses of links 1–7 as loaded, kg: for checking the inertial parameters' provenance.
    pub fn link_masses(&self) -> Joints {
        let mut m = [0.0; DOF];
        for (i, mass) in m.iter_mut().enumerate() {
            let name = format!("panda_link{}", i + 1);
            if let Some(b) = self.model.body_index(&name) {
                *mass = self.model.bodies[b].inertia.mass;
            }
        }
        m
    }

    /// The friction torques at velocities `qd`, `None` when friction is off (so that nothing
    /// is added, not even zeros).
    fn friction(&self, qd: &Joints) -> Option<Joints> {
        let f = &self.config.friction;
        (!f.is_off()).then(|| f.torque(qd))
    }

    fn state(&self, q: &Joints, qd: &Joints) -> State {
        let mut state = self.model.default_state();
        state.q = DVec::from_slice(q);
        state.v = DVec::from_slice(qd);
        state
    }
}

/// Checks that `v` has [`DOF`] finite entries and returns them as an array.
pub(crate) fn joints(what: &str, v: &[f64]) -> Result<Joints, TaskError> {
    let arr: Joints = v.try_into().map_err(|_| TaskError::JointCount {
        what: what.to_string(),
        expected: DOF,
        found: v.len(),
    })?;
    check_finite(what, &arr)?;
    Ok(arr)
}

/// [`joints`] of each (name, values), checked in order.
fn all_joints<const N: usize>(args: [(&str, &[f64]); N]) -> Result<[Joints; N], TaskError> {
    let mut out = [[0.0; DOF]; N];
    for (o, (what, v)) in out.iter_mut().zip(args) {
        *o = joints(what, v)?;
    }
    Ok(out)
}

fn check_finite(what: &str, v: &[f64]) -> Result<(), TaskError> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(TaskError::NonFinite {
            what: what.to_string(),
            index,
            value: v[index],
        }),
        None => Ok(()),
    }
}

fn to_joints(v: &DVec) -> Joints {
    let mut out = [0.0; DOF];
    out.copy_from_slice(&v.as_slice()[..DOF]);
    out
}

/// Parses the vendored URDF into the 7-joint rigid-body model that `config` describes.
fn load_model(config: &PandaConfig) -> Result<Model, TaskError> {
    // Fingers fixed: the arm has 7 degrees of freedom. Rewriting the two joint types keeps the
    // vendored file byte-identical to the wheel's.
    let mut xml = URDF.to_string();
    for finger in ["panda_finger_joint1", "panda_finger_joint2"] {
        let from = format!(r#"<joint name="{finger}" type="prismatic">"#);
        if xml.matches(&from).count() != 1 {
            return Err(TaskError::Robot(format!(
                "no single prismatic joint `{finger}`"
            )));
        }
        xml = xml.replace(&from, &format!(r#"<joint name="{finger}" type="fixed">"#));
    }
    let g = config.gravity;
    let options = phyz_urdf::UrdfOptions {
        gravity: Some(Vec3::new(g[0], g[1], g[2])),
        ..Default::default()
    };
    let mut model = phyz_urdf::load_str(&xml, &options)
        .map_err(|e| TaskError::Robot(e.to_string()))?
        .model;
    if model.nq != DOF || model.nv != DOF || !model.actuators.is_empty() {
        return Err(TaskError::Robot(format!(
            "{} positions, {} velocities, {} actuators",
            model.nq,
            model.nv,
            model.actuators.len()
        )));
    }
    for k in 0..DOF {
        let name = format!("panda_joint{}", k + 1);
        let j = model.joint_index(&name);
        if j.map(|j| (model.q_offsets[j], model.v_offsets[j])) != Some((k, k)) {
            return Err(TaskError::Robot(format!("`{name}` is not joint {}", k + 1)));
        }
    }
    // The pure rigid body: no passive joint forces inside phyz's ABA (RNEA has none), so that
    // the two algorithms invert each other and match Pinocchio. Friction is added by `Panda`.
    for joint in &mut model.joints {
        joint.damping = 0.0;
        joint.friction_loss = 0.0;
        joint.stiffness = 0.0;
        joint.armature = 0.0;
        joint.limits = None;
    }
    // The payload: the flange body `panda_link8` is massless in the URDF; it becomes the point
    // mass (mass 0 leaves it massless).
    let flange = model
        .body_index("panda_link8")
        .ok_or_else(|| TaskError::Robot("no flange link `panda_link8`".into()))?;
    let p = config.payload;
    model.bodies[flange].inertia =
        SpatialInertia::point_mass(p.mass, Vec3::new(p.offset[0], p.offset[1], p.offset[2]));
    Ok(model)
}
