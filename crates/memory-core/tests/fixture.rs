//! Parity with the authors' code: `tests/fixtures/replay_*.json` were produced by their PyTorch
//! `MetaSgd1d`/`MemoryStatic1d` (origin and licence: `tests/fixtures/PROVENANCE.md`); the replay
//! example must reproduce every row within the tolerance of docs/algorithm.md §13.

mod common;
#[path = "../examples/replay.rs"]
mod replay;

use std::path::PathBuf;

use common::scaled_error;
use replay::{ReplayConfig, Row};

#[derive(serde::Deserialize)]
struct Fixture {
    config: ReplayConfig,
    grads: Vec<Vec<f32>>,
    expected: Vec<Row>,
}

fn fixtures_dir() -> PathBuf {
    // The override lets the same test check fixtures kept elsewhere (e.g. new ones being made).
    if let Ok(dir) = std::env::var("LRMEM_FIXTURES") {
        return dir.into();
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

#[test]
fn replay_matches_every_fixture() {
    let dir = fixtures_dir();
    let mut seen = 0;
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "cannot read the fixtures folder {}: {e} (LRMEM_FIXTURES overrides it)",
            dir.display()
        )
    });
    for entry in entries {
        let path = entry.unwrap().path();
        if !path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("replay_")
        {
            continue;
        }
        let fx: Fixture = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let rows = replay::replay(&fx.config, &fx.grads).unwrap();
        assert_eq!(rows.len(), fx.expected.len(), "{}", path.display());
        for (ours, want) in rows.iter().zip(&fx.expected) {
            assert_eq!(ours.step, want.step);
            let (et, ee) = (
                scaled_error(&ours.theta, &want.theta),
                scaled_error(&ours.eta, &want.eta),
            );
            assert!(
                et <= 1e-4 && ee <= 1e-4,
                "{} step {}: theta error {et:e}, eta error {ee:e}",
                path.display(),
                ours.step
            );
        }
        seen += 1;
    }
    assert!(seen > 0, "no replay_*.json fixture in {}", dir.display());
}
