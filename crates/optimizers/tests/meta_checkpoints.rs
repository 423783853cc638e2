//! `Meta`'s checkpoints: they say what they are, a config mismatch names the fields and changes
//! nothing, the committed files of earlier format versions load and resume, and every damaged
//! byte is refused.

use lrmem_memory_core::{MemoryConfig, MemoryOptimizer};
use lrmem_optimizers::{
    checkpoint_kind, saved_memories, Adam, AdamConfig, AdamHd, AdamHdConfig, Checkpoint,
    LoadMemories, Meta, MetaConfig, OptimError, Optimizer, Rprop, RpropConfig, Sgd, SgdConfig,
    SgdHd, SgdHdConfig,
};

mod common;
use common::{memory, meta_config, train_named, with_memory};

fn message(e: &OptimError) -> String {
    e.to_string()
}

#[test]
fn a_checkpoint_of_another_kind_says_which() {
    let mut meta_adam = Meta::adam(MetaConfig::default()).unwrap();
    train_named(&mut meta_adam, &["w"], 3);
    let bytes = meta_adam.save().unwrap();
    assert_eq!(checkpoint_kind(&bytes).unwrap(), "Meta<Adam>");
    let mut meta_sgd = Meta::sgd(MetaConfig::default()).unwrap();
    let msg = message(&meta_sgd.load(&bytes).unwrap_err());
    assert!(
        msg.contains("saved by Meta<Adam>, loading into Meta<Sgd>")
            && msg.contains("Meta::load_memories")
            && !msg.contains("damaged"),
        "{msg}"
    );
    let mut adam = Adam::new(AdamConfig::default()).unwrap();
    train_named(&mut adam, &["w"], 3);
    let mut sgd = Sgd::new(SgdConfig::default()).unwrap();
    let msg = message(&sgd.load(&adam.save().unwrap()).unwrap_err());
    assert!(msg.contains("saved by Adam, loading into Sgd"), "{msg}");
    let msg = message(&sgd.load(&bytes).unwrap_err());
    assert!(
        msg.contains("saved by Meta<Adam>, loading into Sgd"),
        "{msg}"
    );
    // Memories come from Meta checkpoints only.
    let msg = message(&saved_memories(&adam.save().unwrap()).unwrap_err());
    assert!(
        msg.contains("saved by Adam, which has no memories"),
        "{msg}"
    );
}

#[test]
fn a_config_mismatch_names_the_fields_and_changes_nothing() {
    let mut a = Meta::adam(meta_config(0.01, 0.05)).unwrap();
    train_named(&mut a, &["w"], 4);
    let bytes = a.save().unwrap();
    // η₀ and ξ are restored from the checkpoint; the memory's layout and clip must match.
    let mut b = Meta::adam(with_memory(MemoryConfig {
        clip: 2.0,
        num_centers: 10,
        ..memory(0.02, 0.01)
    }))
    .unwrap();
    train_named(&mut b, &["w"], 2);
    let before = b.save().unwrap();
    let err = b.load(&bytes).unwrap_err();
    let msg = message(&err);
    assert!(
        matches!(err, OptimError::Incompatible { .. })
            && msg.contains("`memory.clip`: saved 4.0, here 2.0")
            && msg.contains("`memory.num_centers`: saved 20, here 10")
            && !msg.contains("eta0")
            && !msg.contains("optimizer.lr"),
        "{msg}"
    );
    assert_eq!(b.save().unwrap(), before, "a refused load changes nothing");
    // A plain optimizer names the key whose change its state cannot follow.
    let mut sgd = Sgd::new(SgdConfig::with_lr(0.05)).unwrap();
    let mut momentum = Sgd::new(SgdConfig {
        momentum: 0.9,
        ..SgdConfig::with_lr(0.05)
    })
    .unwrap();
    train_named(&mut sgd, &["w"], 2);
    let msg = message(&momentum.load(&sgd.save().unwrap()).unwrap_err());
    assert!(
        msg.contains("saved with `momentum` = 0") && msg.contains("built with `momentum` = 0.9"),
        "{msg}"
    );
    let mut sgd_theta = Meta::sgd(with_memory(MemoryConfig {
        optimizer: MemoryOptimizer::sgd(0.05),
        ..memory(0.01, 0.05)
    }))
    .unwrap();
    let mut plain = Meta::sgd(meta_config(0.01, 0.05)).unwrap();
    train_named(&mut plain, &["w"], 1);
    let msg = message(&sgd_theta.load(&plain.save().unwrap()).unwrap_err());
    assert!(
        msg.contains("`memory.optimizer`: saved Adam, here Sgd") && !msg.contains("beta1"),
        "{msg}"
    );
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}.bin", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The steps that wrote the fixtures of `tests/fixtures` (see its README).
fn fixture_run<O: Optimizer + ?Sized>(o: &mut O) {
    let grads = |t: usize, n: usize, off: usize| -> Vec<f32> {
        (0..n)
            // `black_box`: sin computed at run time, as when the fixtures were written; a
            // release build would otherwise fold it at compile time, one ulp off.
            .map(|i| std::hint::black_box((i + off + 3 * t) as f32 * 0.7).sin() * 1.3)
            .collect()
    };
    let (mut a, mut b) = (vec![0.5f32, -0.25, 1.0], vec![0.75f32, -1.5]);
    for t in 0..4 {
        o.step("a", &mut a, &grads(t, 3, 0)).unwrap();
        o.step("b", &mut b, &grads(t, 2, 10)).unwrap();
    }
}

/// A `make()` loaded from the fixture `name` has the state of a `make()` that ran the fixtures'
/// steps today.
fn same_state<O: Optimizer + Checkpoint>(name: &str, make: impl Fn() -> O) {
    let mut loaded = make();
    loaded
        .load(&fixture(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut ran = make();
    fixture_run(&mut ran);
    assert_eq!(loaded.save().unwrap(), ran.save().unwrap(), "{name}");
}

/// The plain optimizers of the fixtures, each loaded from `checkpoint_v{version}_*.bin` and
/// compared with the same run today.
fn plain_fixtures_load(version: u16) {
    let v = |name: &str| format!("checkpoint_v{version}_{name}");
    same_state(&v("sgd"), || {
        Sgd::new(SgdConfig {
            lr: 0.05,
            momentum: 0.9,
            ..SgdConfig::default()
        })
        .unwrap()
    });
    same_state(&v("adam"), || Adam::new(AdamConfig::with_lr(0.05)).unwrap());
    same_state(&v("rprop"), || Rprop::new(RpropConfig::default()).unwrap());
    same_state(&v("sgd-hd"), || {
        SgdHd::new(SgdHdConfig {
            lr: 0.05,
            hypergrad_lr: 0.01,
            ..SgdHdConfig::default()
        })
        .unwrap()
    });
    same_state(&v("adam-hd"), || {
        AdamHd::new(AdamHdConfig {
            lr: 0.05,
            ..AdamHdConfig::default()
        })
        .unwrap()
    });
}

/// The memory config of the fixtures' `Meta`s.
fn fixture_meta_config() -> MetaConfig {
    with_memory(MemoryConfig {
        clip: 2.0,
        ..memory(0.01, 0.05)
    })
}

/// Checkpoints written by format version 1 (`tests/fixtures/checkpoint_v1_*.bin`, see
/// `tests/fixtures/README.md`): the plain optimizers load them; `Meta` refuses to resume one
/// with a message that says so, and `load_memories` reads its memories.
#[test]
fn checkpoints_of_format_version_1() {
    plain_fixtures_load(1);
    let cfg = fixture_meta_config();
    for (name, kind) in [("meta-sgd", "Meta<Sgd>"), ("meta-adam", "Meta<Adam>")] {
        let bytes = fixture(&format!("checkpoint_v1_{name}"));
        assert_eq!(checkpoint_kind(&bytes).unwrap(), kind);
        let mut meta = Meta::sgd(cfg).unwrap();
        let msg = message(&meta.load(&bytes).unwrap_err());
        if name == "meta-sgd" {
            assert!(
                msg.contains("format version 1") && msg.contains("Meta::load_memories"),
                "{msg}"
            );
        }
        // Its θ carries over, exactly those the same run reaches today.
        meta.load_memories(&bytes, LoadMemories::default()).unwrap();
        let mut ran = if name == "meta-sgd" {
            Box::new(Meta::sgd(cfg).unwrap()) as Box<dyn Optimizer>
        } else {
            Box::new(Meta::adam(cfg).unwrap())
        };
        fixture_run(ran.as_mut());
        assert_eq!(meta.memory_thetas(), ran.memory_thetas(), "{name}");
    }
}

/// Checkpoints written by format version 2, the last without a checksum
/// (`tests/fixtures/checkpoint_v2_*.bin`): every optimizer, `Meta` included, resumes from them
/// exactly where the same run stands today.
#[test]
fn checkpoints_of_format_version_2() {
    plain_fixtures_load(2);
    let cfg = fixture_meta_config();
    same_state("checkpoint_v2_meta-sgd", || Meta::sgd(cfg).unwrap());
    same_state("checkpoint_v2_meta-adam", || Meta::adam(cfg).unwrap());
}

/// Every single-byte corruption of a checkpoint is refused (the CRC-32C of format version 3):
/// before the checksum, 1,977 of 2,376 such corruptions of a `Meta` checkpoint loaded with `Ok`,
/// and some put NaN into θ on the next step. A refused load changes nothing.
#[test]
fn every_damaged_byte_is_refused() {
    let mut meta = Meta::adam(fixture_meta_config()).unwrap();
    fixture_run(&mut meta);
    let mut adam = Adam::new(AdamConfig::default()).unwrap();
    fixture_run(&mut adam);
    let (meta_bytes, adam_bytes) = (meta.save().unwrap(), adam.save().unwrap());
    let mut cases = 0;
    for (bytes, mut target) in [
        (
            meta_bytes,
            Box::new(Meta::adam(fixture_meta_config()).unwrap()) as Box<dyn Checkpoint>,
        ),
        (
            adam_bytes,
            Box::new(Adam::new(AdamConfig::default()).unwrap()),
        ),
    ] {
        let before = target.save().unwrap();
        for i in 0..bytes.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut damaged = bytes.clone();
                damaged[i] ^= flip;
                assert!(
                    target.load(&damaged).is_err(),
                    "byte {i} ^ {flip:#x} loaded"
                );
                cases += 1;
            }
        }
        for cut in 1..bytes.len() {
            assert!(target.load(&bytes[..cut]).is_err(), "{cut} bytes loaded");
        }
        assert_eq!(target.save().unwrap(), before);
        target.load(&bytes).unwrap();
    }
    assert!(cases > 2_000, "{cases}");
}

// ---- Finding 5: the rates a step applied --------------------------------------------------
