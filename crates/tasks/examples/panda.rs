//! Query the simulated Franka Panda from the command line.
//!
//! ```text
//! cargo run --release -p lrmem-tasks --example panda -- rnea STATES.json   # (q, qd, qdd) → tau
//! cargo run --release -p lrmem-tasks --example panda -- aba STATES.json    # (q, qd, tau) → qdd
//! cargo run --release -p lrmem-tasks --example panda -- time               # µs per RNEA / ABA / step
//! ```
//!
//! STATES.json is a JSON list of `{"q": [7], "qd": [7], "qdd": [7]}` (rnea) or
//! `{"q": [7], "qd": [7], "tau": [7]}` (aba); one JSON line is printed per state (see
//! `lrmem_tasks::panda::query`). The arm is the default one: no payload, no friction, standard
//! gravity. `time` measures how long one call takes and how long one simulated 1 ms step of
//! `lrmem_tasks::panda::motion::generate` takes (a release build is what counts).
//! Errors go to stderr with what to do, and the exit status is 1 (2 for a bad command line).

use std::process::ExitCode;
use std::time::Instant;

use lrmem_tasks::panda::motion::{generate, Family, MotionConfig};
use lrmem_tasks::panda::query::{answer_all, Mode};
use lrmem_tasks::panda::{Panda, PandaConfig, Payload, QDD_MAX, QD_MAX, Q_MAX, Q_MIN, TAU_MAX};

const USAGE: &str = "usage: panda rnea|aba STATES.json | panda time\n  \
    rnea: STATES.json is a JSON list of {\"q\": [7], \"qd\": [7], \"qdd\": [7]}; prints {\"tau\": [7]} per state\n  \
    aba:  STATES.json is a JSON list of {\"q\": [7], \"qd\": [7], \"tau\": [7]}; prints {\"qdd\": [7]} per state\n  \
    time: prints the µs per RNEA and per ABA call, and per simulated 1 ms step";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [t] if t == "time" => match time() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e.to_string(), 1),
        },
        [mode, path] => {
            let mode = match Mode::parse(mode) {
                Ok(m) => m,
                Err(e) => return fail(&format!("{e}\n{USAGE}"), 2),
            };
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => {
                    return fail(
                        &format!("cannot read {path}: {e}; pass the path of a readable JSON file"),
                        1,
                    )
                }
            };
            let arm = match Panda::new(PandaConfig::default()) {
                Ok(a) => a,
                Err(e) => return fail(&e.to_string(), 1),
            };
            match answer_all(&arm, mode, &text, path) {
                Ok(lines) => {
                    for line in lines {
                        println!("{line}");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e.to_string(), 1),
            }
        }
        _ => fail(
            &format!("expected 2 arguments, got {}\n{USAGE}", args.len()),
            2,
        ),
    }
}

fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code)
}

/// Times RNEA and ABA over fixed pseudo-random states within the limits, bare and with a
/// 1.5 kg payload plus friction (the extra point mass and friction law cost little).
fn time() -> Result<(), lrmem_tasks::TaskError> {
    const N: usize = 2000;
    const REPEAT: usize = 50;
    // A fixed linear congruential stream: the states need not be random, only varied.
    let mut s: u64 = 0x2545_f491_4f6c_dd1d;
    let mut unit = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let states: Vec<[[f64; 7]; 4]> = (0..N)
        .map(|_| {
            let mut v = [[0.0; 7]; 4];
            for i in 0..7 {
                v[0][i] = Q_MIN[i] + (Q_MAX[i] - Q_MIN[i]) * unit();
                v[1][i] = QD_MAX[i] * (2.0 * unit() - 1.0);
                v[2][i] = QDD_MAX[i] * (2.0 * unit() - 1.0);
                v[3][i] = 0.5 * TAU_MAX[i] * (2.0 * unit() - 1.0);
            }
            v
        })
        .collect();
    let mut loaded = PandaConfig {
        payload: Payload {
            mass: 1.5,
            ..Payload::default()
        },
        ..PandaConfig::default()
    };
    loaded.friction.viscous = [0.1; 7];
    loaded.friction.coulomb = [0.5; 7];
    for (name, config) in [
        ("bare", PandaConfig::default()),
        ("1.5 kg payload + friction", loaded),
    ] {
        let arm = Panda::new(config)?;
        let mut sink = 0.0;
        let start = Instant::now();
        for _ in 0..REPEAT {
            for v in &states {
                sink += arm.inverse_dynamics(&v[0], &v[1], &v[2])?[3];
            }
        }
        let rnea = start.elapsed().as_secs_f64() * 1e6 / (N * REPEAT) as f64;
        let start = Instant::now();
        for _ in 0..REPEAT {
            for v in &states {
                sink += arm.forward_dynamics(&v[0], &v[1], &v[3])?[3];
            }
        }
        let aba = start.elapsed().as_secs_f64() * 1e6 / (N * REPEAT) as f64;
        println!(
            "{name}: RNEA {rnea:.2} µs/call, ABA {aba:.2} µs/call ({} calls each; checksum {sink:.3})",
            N * REPEAT
        );
    }
    // Trajectory generation: one RNEA (controller) + one ABA (plant) + reference per step.
    let arm = Panda::new(PandaConfig::default())?;
    for family in [Family::PointToPoint, Family::Sinusoids] {
        let config = MotionConfig {
            family,
            steps: 60_000,
            ..MotionConfig::default()
        };
        let start = Instant::now();
        let t = generate(&arm, &arm, &config, 1)?;
        let us = start.elapsed().as_secs_f64() * 1e6 / t.len() as f64;
        let (mut track, mut tau, mut qd) = (0.0f64, 0.0f64, 0.0f64);
        for k in 0..t.len() {
            for i in 0..7 {
                track = track.max((t.q[k][i] - t.q_ref[k][i]).abs());
                tau = tau.max(t.tau[k][i].abs() / TAU_MAX[i]);
                qd = qd.max(t.qd[k][i].abs() / QD_MAX[i]);
            }
        }
        println!(
            "motion {family:?}: {us:.2} µs per simulated 1 ms step ({} steps); max tracking \
             error {track:.2e} rad, peak |tau|/TAU_MAX {tau:.2}, peak |qd|/QD_MAX {qd:.2}",
            t.len()
        );
    }
    Ok(())
}
