//! The simulated Panda against an independent implementation (Pinocchio, through the committed
//! fixture `tests/fixtures/panda/pinocchio.json` written by `tools/reference/panda_pinocchio.py`)
//! and against physics it must obey: ABA inverts RNEA, friction opposes motion, a payload adds
//! weight and inertia.
//!
//! Agreement is measured by the ∞-norm relative to the reference vector's scale:
//! `max_i |ours_i − ref_i| ≤ 1e−6 · max_i |ref_i|`.

use lrmem_tasks::panda::query::{answer_all, parse_states, Mode};
use lrmem_tasks::panda::{
    Friction, Joints, Panda, PandaConfig, Payload, DOF, QDD_MAX, QD_MAX, Q_MAX, Q_MIN, READY_POSE,
    TAU_MAX, URDF, URDF_SHA256,
};
use lrmem_tasks::TaskError;
use proptest::prelude::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

const FIXTURE: &str = include_str!("fixtures/panda/pinocchio.json");
const TOLERANCE: f64 = 1e-6;

fn inf_norm(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// `max_i |a_i − b_i| / max_i |b_i|`.
fn rel_err(ours: &[f64], reference: &[f64]) -> f64 {
    let diff: Vec<f64> = ours.iter().zip(reference).map(|(a, b)| a - b).collect();
    inf_norm(&diff) / inf_norm(reference)
}

fn arr(v: &Value) -> Joints {
    let items = v.as_array().expect("fixture vector");
    assert_eq!(items.len(), DOF);
    let mut out = [0.0; DOF];
    for (o, x) in out.iter_mut().zip(items) {
        *o = x.as_f64().expect("fixture number");
    }
    out
}

fn fixture() -> Value {
    serde_json::from_str(FIXTURE).expect("fixture is JSON")
}

fn config_of(case: &Value) -> PandaConfig {
    let p = &case["payload"];
    let f = &case["friction"];
    let off = p["offset"].as_array().unwrap();
    PandaConfig {
        payload: Payload {
            mass: p["mass"].as_f64().unwrap(),
            offset: [
                off[0].as_f64().unwrap(),
                off[1].as_f64().unwrap(),
                off[2].as_f64().unwrap(),
            ],
        },
        friction: Friction {
            viscous: arr(&f["viscous"]),
            coulomb: arr(&f["coulomb"]),
            velocity_scale: f["velocity_scale"].as_f64().unwrap(),
        },
        ..PandaConfig::default()
    }
}

#[test]
fn vendored_urdf_is_the_wheels_file() {
    let digest: String = Sha256::digest(URDF.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(digest, URDF_SHA256);
    assert_eq!(
        fixture()["provenance"]["urdf_sha256"].as_str(),
        Some(URDF_SHA256)
    );
}

#[test]
fn panda_urdf_carries_gaz_masses() {
    // Gaz et al., RA-L 2019, identified link masses (kg), links 1..7.
    let gaz = [
        4.970684, 0.646926, 3.228604, 3.587895, 1.225946, 1.666555, 0.735522,
    ];
    let arm = Panda::new(PandaConfig::default()).unwrap();
    assert_eq!(arm.link_masses(), gaz);
}

#[test]
fn gravity_torques_at_ready_pose() {
    let arm = Panda::new(PandaConfig::default()).unwrap();
    let tau = arm.gravity_torque(&READY_POSE).unwrap();
    let printed = [0.0, -4.000, -0.644, 22.022, 0.634, 2.278, 0.0];
    for i in 0..DOF {
        assert!(
            (tau[i] - printed[i]).abs() <= 5e-4,
            "joint {}: {} vs {}",
            i + 1,
            tau[i],
            printed[i]
        );
    }
    // And to all digits, Pinocchio's computeGeneralizedGravity from the fixture.
    let reference = arr(&fixture()["ready_pose"]["gravity_torque"]);
    assert!(rel_err(&tau, &reference) <= TOLERANCE);
}

#[test]
fn matches_pinocchio_rnea_and_aba() {
    let doc = fixture();
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    let mut worst = (0.0f64, 0.0f64);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let arm = Panda::new(config_of(case)).unwrap();
        let rnea = case["rnea"].as_array().unwrap();
        let aba = case["aba"].as_array().unwrap();
        assert!(rnea.len() >= 50 && aba.len() >= 50);
        for (i, s) in rnea.iter().enumerate() {
            let tau = arm
                .inverse_dynamics(&arr(&s["q"]), &arr(&s["qd"]), &arr(&s["qdd"]))
                .unwrap();
            let e = rel_err(&tau, &arr(&s["tau"]));
            assert!(
                e <= TOLERANCE,
                "{name} rnea state {i}: relative error {e:e}"
            );
            worst.0 = worst.0.max(e);
        }
        for (i, s) in aba.iter().enumerate() {
            let qdd = arm
                .forward_dynamics(&arr(&s["q"]), &arr(&s["qd"]), &arr(&s["tau"]))
                .unwrap();
            let e = rel_err(&qdd, &arr(&s["qdd"]));
            assert!(e <= TOLERANCE, "{name} aba state {i}: relative error {e:e}");
            worst.1 = worst.1.max(e);
        }
    }
    eprintln!(
        "worst relative error vs Pinocchio: rnea {:e}, aba {:e}",
        worst.0, worst.1
    );
}

#[test]
fn command_logic_answers_the_fixture() {
    let doc = fixture();
    for case in doc["cases"].as_array().unwrap() {
        let arm = Panda::new(config_of(case)).unwrap();
        for (mode, list, out) in [(Mode::Rnea, "rnea", "tau"), (Mode::Aba, "aba", "qdd")] {
            let states = &case[list];
            let lines = answer_all(&arm, mode, &states.to_string(), "fixture").unwrap();
            let states = states.as_array().unwrap();
            assert_eq!(lines.len(), states.len());
            for (line, s) in lines.iter().zip(states) {
                let answer: Value = serde_json::from_str(line).unwrap();
                assert_eq!(answer.as_object().unwrap().len(), 1, "{line}");
                assert!(
                    rel_err(&arr(&answer[out]), &arr(&s[out])) <= TOLERANCE,
                    "{line}"
                );
            }
        }
    }
}

fn state_in_limits() -> impl Strategy<Value = (Joints, Joints, Joints)> {
    let q = (0..DOF).map(|i| Q_MIN[i]..Q_MAX[i]).collect::<Vec<_>>();
    let qd = (0..DOF).map(|i| -QD_MAX[i]..QD_MAX[i]).collect::<Vec<_>>();
    let qdd = (0..DOF)
        .map(|i| -QDD_MAX[i]..QDD_MAX[i])
        .collect::<Vec<_>>();
    (q, qd, qdd).prop_map(|(q, qd, qdd)| {
        (
            q.try_into().unwrap(),
            qd.try_into().unwrap(),
            qdd.try_into().unwrap(),
        )
    })
}

/// An arm carrying `mass` kg (at the default offset) in the setting `base`.
fn carrying(mass: f64, base: PandaConfig) -> Panda {
    Panda::new(PandaConfig {
        payload: Payload {
            mass,
            ..Payload::default()
        },
        ..base
    })
    .unwrap()
}

fn loaded_arm() -> Panda {
    Panda::new(PandaConfig {
        payload: Payload {
            mass: 1.5,
            offset: [0.03, 0.01, 0.1],
        },
        friction: Friction {
            viscous: [0.1; DOF],
            coulomb: [0.5, 0.5, 0.5, 0.5, 0.2, 0.2, 0.2],
            ..Friction::default()
        },
        ..PandaConfig::default()
    })
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// ABA(q, qd, RNEA(q, qd, qdd)) = qdd and RNEA(q, qd, ABA(q, qd, tau)) = tau, with payload
    /// and friction on.
    #[test]
    fn aba_inverts_rnea((q, qd, qdd) in state_in_limits(), scale in -1.0f64..1.0) {
        let arm = loaded_arm();
        let tau = arm.inverse_dynamics(&q, &qd, &qdd).unwrap();
        let back = arm.forward_dynamics(&q, &qd, &tau).unwrap();
        prop_assert!(rel_err(&back, &qdd) <= 1e-9, "{:?} vs {:?}", back, qdd);
        let tau2: Joints = std::array::from_fn(|i| scale * TAU_MAX[i]);
        let qdd2 = arm.forward_dynamics(&q, &qd, &tau2).unwrap();
        let again = arm.inverse_dynamics(&q, &qd, &qdd2).unwrap();
        prop_assert!(rel_err(&again, &tau2) <= 1e-9, "{:?} vs {:?}", again, tau2);
    }

    /// Friction adds torque along each joint's velocity (it opposes motion), and for a given
    /// torque it changes the acceleration by −M⁻¹τ_f, which does negative work against τ_f.
    #[test]
    fn friction_opposes_motion((q, qd, qdd) in state_in_limits()) {
        let friction = Friction { viscous: [0.2; DOF], coulomb: [0.7; DOF], ..Friction::default() };
        let bare = Panda::new(PandaConfig::default()).unwrap();
        let rough = Panda::new(PandaConfig { friction, ..PandaConfig::default() }).unwrap();
        let t0 = bare.inverse_dynamics(&q, &qd, &qdd).unwrap();
        let t1 = rough.inverse_dynamics(&q, &qd, &qdd).unwrap();
        for i in 0..DOF {
            let d = t1[i] - t0[i];
            prop_assert!(d * qd[i] > 0.0 || qd[i] == 0.0, "joint {}: Δτ {} at qd {}", i, d, qd[i]);
        }
        let a0 = bare.forward_dynamics(&q, &qd, &t0).unwrap();
        let a1 = rough.forward_dynamics(&q, &qd, &t0).unwrap();
        let tf = friction.torque(&qd);
        let work: f64 = (0..DOF).map(|i| tf[i] * (a1[i] - a0[i])).sum();
        prop_assert!(work < 0.0, "τ_f·Δqdd = {}", work);
    }

    /// Without gravity and at rest, a payload adds m·JᵀJ to the mass matrix: for any qdd the
    /// extra torque does positive work, qddᵀ(τ_payload − τ_bare) > 0.
    #[test]
    fn payload_adds_inertia((q, _qd, qdd) in state_in_limits()) {
        let weightless = PandaConfig { gravity: [0.0; 3], ..PandaConfig::default() };
        let bare = Panda::new(weightless).unwrap();
        let loaded = carrying(1.5, weightless);
        let t0 = bare.inverse_dynamics(&q, &[0.0; DOF], &qdd).unwrap();
        let t1 = loaded.inverse_dynamics(&q, &[0.0; DOF], &qdd).unwrap();
        let work: f64 = (0..DOF).map(|i| qdd[i] * (t1[i] - t0[i])).sum();
        prop_assert!(work > 0.0, "qdd·Δτ = {}", work);
    }
}

#[test]
fn payload_adds_weight() {
    let with = |mass| {
        let arm = Panda::new(PandaConfig {
            payload: Payload {
                mass,
                ..Payload::default()
            },
            ..PandaConfig::default()
        })
        .unwrap();
        arm.gravity_torque(&READY_POSE).unwrap()
    };
    let (t0, t1, t3) = (with(0.0), with(1.5), with(3.0));
    // At the ready pose the hand is in front of the shoulder (joint 2) and the elbow (joint 4):
    // both must hold more.
    assert!(
        t1[1].abs() > t0[1].abs() + 1.0 && t1[3].abs() > t0[3].abs() + 1.0,
        "{t0:?} {t1:?}"
    );
    for i in 0..DOF {
        // Joint 1's axis is vertical: gravity never loads it.
        if i == 0 {
            assert!((t1[0] - t0[0]).abs() < 1e-9);
        }
        // A point mass adds weight linearly in its mass.
        let (d1, d3) = (t1[i] - t0[i], t3[i] - t0[i]);
        assert!(
            (d3 - 2.0 * d1).abs() <= 1e-9 * (1.0 + d3.abs()),
            "joint {}: {d1} {d3}",
            i + 1
        );
    }
}

#[test]
fn bad_inputs_are_typed_errors() {
    let arm = Panda::new(PandaConfig::default()).unwrap();
    let z = [0.0; DOF];
    match arm.inverse_dynamics(&z[..6], &z, &z) {
        Err(TaskError::JointCount {
            what,
            expected: 7,
            found: 6,
        }) => assert_eq!(what, "q"),
        other => panic!("{other:?}"),
    }
    match arm.forward_dynamics(&z, &z, &[0.0; 8]) {
        Err(TaskError::JointCount { what, found: 8, .. }) => assert_eq!(what, "tau"),
        other => panic!("{other:?}"),
    }
    let mut bad = z;
    bad[3] = f64::NAN;
    match arm.inverse_dynamics(&z, &bad, &z) {
        Err(TaskError::NonFinite { what, index: 3, .. }) => assert_eq!(what, "qd"),
        other => panic!("{other:?}"),
    }
    bad[3] = f64::INFINITY;
    assert!(matches!(
        arm.forward_dynamics(&bad, &z, &z),
        Err(TaskError::NonFinite { index: 3, .. })
    ));

    let config = |f: &dyn Fn(&mut PandaConfig)| {
        let mut c = PandaConfig::default();
        f(&mut c);
        Panda::new(c).map(|_| ())
    };
    assert!(config(&|_| ()).is_ok());
    assert!(matches!(
        config(&|c| c.payload.mass = -0.1),
        Err(TaskError::Argument(_))
    ));
    assert!(matches!(
        config(&|c| c.payload.mass = 3.5),
        Err(TaskError::Argument(_))
    ));
    assert!(matches!(
        config(&|c| c.payload.mass = f64::NAN),
        Err(TaskError::Argument(_))
    ));
    assert!(matches!(
        config(&|c| c.payload.offset = [0.0, 0.0, 2.0]),
        Err(TaskError::Argument(_))
    ));
    assert!(matches!(
        config(&|c| c.payload.offset[1] = f64::NAN),
        Err(TaskError::NonFinite { index: 1, .. })
    ));
    assert!(matches!(
        config(&|c| c.friction.viscous[2] = -1.0),
        Err(TaskError::Argument(_))
    ));
    assert!(matches!(
        config(&|c| c.friction.coulomb[0] = f64::INFINITY),
        Err(TaskError::NonFinite { .. })
    ));
    assert!(matches!(
        config(&|c| c.friction.velocity_scale = 0.0),
        Err(TaskError::Argument(_))
    ));
    assert!(matches!(
        config(&|c| c.gravity[2] = f64::NAN),
        Err(TaskError::NonFinite { .. })
    ));
}

#[test]
fn bad_states_files_are_typed_errors() {
    let ok = r#"{"q": [0,0,0,-1,0,1,0], "qd": [0,0,0,0,0,0,0], "qdd": [0,0,0,0,0,0,0]}"#;
    assert_eq!(
        parse_states(Mode::Rnea, &format!("[{ok}]"), "s.json")
            .unwrap()
            .len(),
        1
    );
    assert!(parse_states(Mode::Rnea, "[]", "s.json").unwrap().is_empty());
    let cases = [
        ("[", "not valid JSON"),
        (ok, "top level is not a list"),
        ("[1]", "state 0 is not an object"),
        (
            r#"[{"q": [0,0,0,0,0,0,0], "qd": [0,0,0,0,0,0,0]}]"#,
            "no field `qdd`",
        ),
        (
            r#"[{"q": [0,0,0], "qd": [0,0,0,0,0,0,0], "qdd": [0,0,0,0,0,0,0]}]"#,
            "`q` has 3 entries",
        ),
        (
            r#"[{"q": 1, "qd": [0,0,0,0,0,0,0], "qdd": [0,0,0,0,0,0,0]}]"#,
            "`q` is not a list",
        ),
        (
            r#"[{"q": [0,0,0,0,0,0,"NaN"], "qd": [0,0,0,0,0,0,0], "qdd": [0,0,0,0,0,0,0]}]"#,
            "`q`[6]",
        ),
        (
            r#"[{"q": [0,0,0,0,0,0,null], "qd": [0,0,0,0,0,0,0], "qdd": [0,0,0,0,0,0,0]}]"#,
            "not a finite number",
        ),
        (
            r#"[{"q": [0,0,0,0,0,0,1e999], "qd": [0,0,0,0,0,0,0], "qdd": [0,0,0,0,0,0,0]}]"#,
            "not valid JSON",
        ),
    ];
    for (text, says) in cases {
        match parse_states(Mode::Rnea, text, "s.json") {
            Err(e @ TaskError::Json { .. }) => {
                let msg = e.to_string();
                assert!(
                    msg.starts_with("s.json: ") && msg.contains(says),
                    "{text}: {msg}"
                );
            }
            other => panic!("{text}: {other:?}"),
        }
    }
    // aba wants `tau`, not `qdd`.
    let err = parse_states(Mode::Aba, &format!("[{ok}]"), "s.json").unwrap_err();
    assert!(err.to_string().contains("no field `tau`"), "{err}");
    assert!(matches!(Mode::parse("fk"), Err(TaskError::Argument(_))));
    assert_eq!(Mode::parse("aba").unwrap(), Mode::Aba);
}

mod motion {
    use super::*;
    use lrmem_tasks::panda::motion::{generate, Family, MotionConfig, Noise, Trajectory, DT};

    fn config(family: Family, steps: usize) -> MotionConfig {
        MotionConfig {
            family,
            steps,
            ..MotionConfig::default()
        }
    }

    fn bits(t: &Trajectory) -> Vec<u64> {
        [&t.q, &t.qd, &t.qdd, &t.tau, &t.q_ref]
            .iter()
            .flat_map(|rows| rows.iter().flatten().map(|x| x.to_bits()))
            .collect()
    }

    #[test]
    fn same_seed_same_bits() {
        let arm = Panda::new(PandaConfig::default()).unwrap();
        for family in [Family::PointToPoint, Family::Sinusoids] {
            let c = MotionConfig {
                noise: Noise {
                    q_std: 1e-4,
                    qd_std: 1e-3,
                },
                ..config(family, 1500)
            };
            let a = generate(&arm, &arm, &c, 7).unwrap();
            let b = generate(&arm, &arm, &c, 7).unwrap();
            assert_eq!(a.len(), 1500);
            assert_eq!(bits(&a), bits(&b));
            let other = generate(&arm, &arm, &c, 8).unwrap();
            assert_ne!(a.q_ref, other.q_ref);
            // The noise has its own stream: turning it off leaves the reference unchanged.
            let quiet = generate(&arm, &arm, &config(family, 1500), 7).unwrap();
            assert_eq!(quiet.q_ref, a.q_ref);
            assert_ne!(quiet.q, a.q);
        }
    }

    #[test]
    fn tracks_within_limits() {
        let arm = Panda::new(PandaConfig::default()).unwrap();
        for family in [Family::PointToPoint, Family::Sinusoids] {
            for seed in 0..3 {
                let t = generate(&arm, &arm, &config(family, 3000), seed).unwrap();
                let mut moved = [0.0f64; DOF];
                for k in 0..t.len() {
                    for i in 0..DOF {
                        assert!(
                            (Q_MIN[i]..=Q_MAX[i]).contains(&t.q[k][i]),
                            "{family:?} {seed} q"
                        );
                        assert!(t.qd[k][i].abs() <= QD_MAX[i], "{family:?} {seed} qd");
                        assert!(t.tau[k][i].abs() < TAU_MAX[i], "{family:?} {seed} tau");
                        // A perfect-model computed-torque controller tracks closely.
                        assert!(
                            (t.q[k][i] - t.q_ref[k][i]).abs() < 1e-3,
                            "{family:?} {seed}"
                        );
                        moved[i] = moved[i].max((t.q[k][i] - t.q[0][i]).abs());
                    }
                }
                // And the motion is not trivial: every joint travels.
                assert!(
                    moved.iter().all(|&m| m > 0.05),
                    "{family:?} {seed}: {moved:?}"
                );
            }
        }
    }

    #[test]
    fn rows_follow_the_dynamics() {
        let plant = carrying(1.5, PandaConfig::default());
        let t = generate(&plant, &plant, &config(Family::Sinusoids, 200), 3).unwrap();
        for k in 0..t.len() - 1 {
            let qdd = plant
                .forward_dynamics(&t.q[k], &t.qd[k], &t.tau[k])
                .unwrap();
            assert_eq!(qdd, t.qdd[k]);
            for i in 0..DOF {
                assert_eq!(t.qd[k + 1][i], t.qd[k][i] + DT * t.qdd[k][i]);
                assert_eq!(t.q[k + 1][i], t.q[k][i] + DT * t.qd[k + 1][i]);
            }
        }
    }

    #[test]
    fn a_controller_unaware_of_the_payload_tracks_worse() {
        let bare = Panda::new(PandaConfig::default()).unwrap();
        let loaded = carrying(1.5, PandaConfig::default());
        let c = config(Family::PointToPoint, 2000);
        let err = |t: &Trajectory| {
            (0..t.len())
                .flat_map(|k| (0..DOF).map(move |i| (t.q[k][i] - t.q_ref[k][i]).abs()))
                .fold(0.0, f64::max)
        };
        let aware = err(&generate(&loaded, &loaded, &c, 1).unwrap());
        let unaware = err(&generate(&loaded, &bare, &c, 1).unwrap());
        assert!(unaware > 10.0 * aware, "aware {aware}, unaware {unaware}");
    }

    #[test]
    fn bad_motion_configs_are_argument_errors() {
        let arm = Panda::new(PandaConfig::default()).unwrap();
        let d = MotionConfig::default();
        let bad = [
            MotionConfig { steps: 0, ..d },
            MotionConfig { speed: 0.0, ..d },
            MotionConfig { speed: 1.5, ..d },
            MotionConfig {
                speed: f64::NAN,
                ..d
            },
            MotionConfig { margin: 0.5, ..d },
            MotionConfig { kp: -1.0, ..d },
            MotionConfig {
                kd: f64::INFINITY,
                ..d
            },
            MotionConfig {
                hold: [0.5, 0.1],
                ..d
            },
            MotionConfig { components: 0, ..d },
            MotionConfig {
                max_frequency: 0.0,
                ..d
            },
            MotionConfig {
                noise: Noise {
                    q_std: -1.0,
                    qd_std: 0.0,
                },
                ..d
            },
            MotionConfig {
                noise: Noise {
                    q_std: 0.0,
                    qd_std: f64::NAN,
                },
                ..d
            },
        ];
        for c in bad {
            assert!(
                matches!(generate(&arm, &arm, &c, 0), Err(TaskError::Argument(_))),
                "{c:?}"
            );
        }
    }
}
