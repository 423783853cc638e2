use super::*;
use lrmem_optimizers::{Meta, MetaConfig, SgdConfig, StateBytes};

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir()
        .join(format!("lrmem-speed-test-{}", std::process::id()))
        .join(name)
}

/// A report with made-up numbers: every case at D = 10³, 10⁶ and 10⁷, Meta-SGD twice as slow at
/// M = 100 as at M = 20 at 10⁷.
fn synthetic() -> SpeedReport {
    let sizes = vec![1_000, 1_000_000, 10_000_000];
    let mut keys: Vec<CaseKey> = cases().iter().map(CaseKey::from).collect();
    keys.push(CaseKey::of(DENSE_PEER).portable());
    let mut rows = Vec::new();
    // The times the assertions below are about; every other case gets a made-up time of its
    // own, whatever its place in the suite.
    let pinned = [
        ("adam", 0.7),
        ("meta-sgd:m=20", 1.0),
        ("meta-sgd:m=100", 1.2),
    ];
    for (i, key) in keys.iter().enumerate() {
        for &d in &sizes {
            let mut ns = pinned
                .iter()
                .find(|(spec, _)| &CaseKey::of(spec) == key)
                .map_or(3.0 + 0.1 * i as f64, |p| p.1);
            if key.kernels == Kernels::Portable {
                ns = 2.1;
            }
            if key == &CaseKey::of("meta-sgd:m=100") && d == 10_000_000 {
                ns = 2.0;
            }
            rows.push(Row {
                case: key.clone(),
                d,
                ns_per_coord: ns,
                ns_per_coord_min: ns * 0.9,
                bytes_per_coord: 24,
                state_bytes: 4,
                gbps: 24.0 / ns,
                frac_copy: 0.5,
                roofline_ratio: 1.5,
                ratio_to_adam: ns / 0.7,
            });
        }
    }
    SpeedReport {
        schema: SCHEMA.into(),
        version: VERSION,
        quick: true,
        rounds: 5,
        cpu: "Test CPU".into(),
        kernel: "avx2".into(),
        sizes: sizes.clone(),
        cases: keys,
        rows,
        bandwidth: sizes
            .iter()
            .map(|&d| Bandwidth {
                d,
                copy_gbps: 20.0,
                triad_gbps: 22.0,
                copy_ns_per_coord: 0.4,
            })
            .collect(),
        dense: vec![Dense {
            d: 1_000_000,
            centers: 20,
            ns_per_coord: 40.0,
            peer: CaseKey::of(DENSE_PEER),
            speedup_of_meta_sgd: 75.0,
        }],
        models: MODELS
            .iter()
            .flat_map(|&model| {
                [
                    ("adam", 300.0),
                    ("meta-sgd:m=20", 450.0),
                    ("meta-adam:m=20", 330.0),
                ]
                .map(|(spec, us)| ModelRow {
                    model: model.into(),
                    case: CaseKey::of(spec),
                    us_per_update: us,
                    ratio_to_adam: us / 300.0,
                })
            })
            .collect(),
        fixed: vec![FixedCost {
            case: CaseKey::of("meta-sgd:m=20"),
            ns_per_step: 3000.0,
            ratio_to_adam: 7.5,
        }],
        phases: vec![Phase {
            d: 1_000_000,
            kernels: Kernels::Dispatched,
            learn_ns: 2.0,
            step_ns: 3.5,
            optimizer_ns: 3.75,
            adam_ns: 1.0,
            copy_ns: 0.4,
        }],
        seconds: 12.0,
    }
}

#[test]
fn every_case_parses_builds_and_is_unique() {
    let all = cases();
    let mut labels: Vec<String> = all.iter().map(SpeedCase::label).collect();
    labels.sort();
    labels.dedup();
    assert_eq!(labels.len(), all.len(), "duplicate cases");
    for case in &all {
        let mut opt = case.build().expect("builds");
        let mut w = vec![0.1f32; 8];
        opt.step("w", &mut w, &[0.5; 8]).expect("steps");
        case.state_bytes().expect("state bytes");
        assert!(case.bytes >= 12);
    }
    let keys: Vec<CaseKey> = all.iter().map(CaseKey::from).collect();
    assert!(keys.contains(&CaseKey::of(REFERENCE)));
    assert!(keys.contains(&CaseKey::of(DENSE_PEER)));
    assert_eq!(CaseKey::of("meta-adam:m=100").centers(), Some(100));
    assert_eq!(CaseKey::of("meta-sgd").centers(), Some(20));
    assert_eq!(CaseKey::of("adam").centers(), None);
    assert!(cases().iter().any(SpeedCase::has_memory));
}

/// The portable-kernel case is built by hand from `memory_config(20)`: it must be the same
/// optimizer as the spec it is reported under.
#[test]
fn the_portable_case_is_the_dense_peer() {
    let by_hand = Meta::new(
        SgdConfig::default(),
        MetaConfig {
            memory: super::memory_config(20),
            ..MetaConfig::default()
        },
    )
    .unwrap();
    let spec = CaseKey::of(DENSE_PEER).spec;
    assert_eq!(by_hand.bytes_per_coordinate(), spec.state_bytes().unwrap());
    let (mut a, mut b): (Box<dyn lrmem_optimizers::Optimizer>, _) =
        (Box::new(by_hand), spec.build().unwrap().into_box());
    let (mut wa, mut wb) = (vec![0.1f32; 64], vec![0.1f32; 64]);
    let [g0, g1] = super::gradients(64, 3);
    for g in [&g0, &g1, &g0, &g1] {
        a.step("w", &mut wa, g).unwrap();
        b.step("w", &mut wb, g).unwrap();
    }
    assert_eq!(wa, wb);
}

#[test]
fn json_round_trips_and_checks_its_schema() {
    let r = synthetic();
    let back = SpeedReport::from_json(&r.to_json()).expect("reads back");
    assert_eq!(back, r);
    // The spec is stored as its text.
    assert!(r.to_json().contains("\"spec\": \"meta-sgd:m=20\""));

    let mut v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    v["version"] = 1.into();
    let err = SpeedReport::from_json(&v.to_string()).unwrap_err();
    assert!(matches!(err, SpeedError::Schema { ref found_version, .. } if found_version == "1"));
    // What the old binary wrote: `"schema": 1` and no version.
    let err = SpeedReport::from_json(r#"{"schema": 1, "quick": true, "rows": []}"#).unwrap_err();
    assert!(
        matches!(err, SpeedError::Schema { ref found_schema, ref found_version } if found_schema == "1" && found_version == "null"),
        "{err}"
    );
    assert!(err.to_string().contains("measure again"));
    assert!(matches!(
        SpeedReport::from_json("{not json").unwrap_err(),
        SpeedError::Json(_)
    ));
    v["version"] = VERSION.into();
    v.as_object_mut().unwrap().remove("rows");
    assert!(matches!(
        SpeedReport::from_json(&v.to_string()).unwrap_err(),
        SpeedError::Json(_)
    ));
    let missing = tmp("missing.json");
    assert!(matches!(
        SpeedReport::read(&missing).unwrap_err(),
        SpeedError::Io { .. }
    ));
}

#[test]
fn rows_are_found_by_key_and_size() {
    let r = synthetic();
    let m20 = CaseKey::of("meta-sgd:m=20");
    assert_eq!(r.row(&m20, 1_000_000).unwrap().ns_per_coord, 1.0);
    assert!(r.row(&m20, 5).is_none());
    // The same spec with other kernels is another row.
    let portable = r.row(&m20.clone().portable(), 1_000_000).unwrap();
    assert_eq!(portable.case.kernels, Kernels::Portable);
    // Specs compare by content, not by how they were written.
    assert_eq!(CaseKey::of("meta-sgd: m = 20"), m20);
}

#[test]
fn targets_are_checked_on_the_numbers() {
    let r = synthetic();
    let t = r.targets();
    let find = |prefix: &str| {
        t.iter()
            .find(|t| t.target.starts_with(prefix))
            .unwrap_or_else(|| panic!("no target {prefix}: {t:?}"))
    };
    let dense = find("Meta-SGD ≥ 100× faster than dense");
    assert!(!dense.met());
    assert_eq!(dense.status(), "missed by 1.3×");
    let flat_m = find("Meta-SGD nearly flat in M");
    assert!((flat_m.measured - 2.0).abs() < 1e-12);
    assert_eq!(flat_m.status(), "missed by 1.6×");
    let adam = find("Meta-SGD step ≤ 1.5× Adam's, D=10^6, M=20");
    assert!(adam.met(), "{adam:?}");
    assert!(find("Meta-SGD step ≤ 2.5× Adam's, D=10^3, M=20").met());
    let m100 = find("Meta-SGD step ≤ 2× Adam's, D=10^7, M=100");
    assert_eq!(m100.status(), "missed by 1.4×");
    let authors = find("Meta-SGD ≥ 100× faster than the authors' PyTorch step");
    assert!(authors.met() && (authors.measured - AUTHORS_STEP_MS).abs() < 1e-9);
    let portable = find("Meta-SGD's portable kernels within 2× of the fastest, D=10^7");
    assert_eq!(portable.status(), "missed by 1.1×");
    let lenet = find("one online lenet update with meta-sgd:m=20 ≤ 1.10× Adam's");
    assert_eq!(lenet.status(), "missed by 1.4×");
    assert!(find("one online lstm update with meta-adam:m=20 ≤ 1.15× Adam's").met());
    let roof = find("adam within 2× of the copy-bandwidth bound");
    assert!(roof.met() && roof.status() == "met");
    // Every dispatched case has a roofline target; the portable one does not.
    assert_eq!(
        t.iter()
            .filter(|t| t.target.contains("copy-bandwidth"))
            .count(),
        cases().len()
    );
}

#[test]
fn markdown_has_every_table() {
    let r = synthetic();
    let md = r.render_markdown();
    for needle in [
        "## Speed: one optimizer step on one tensor",
        "Test CPU · memory kernels: `avx2` · quick profile, 5 interleaved rounds",
        "| optimizer | state B/coord | bytes/coord | D=10^6 ns/coord | ×Adam | GB/s | of copy | ×roofline |",
        "| meta-sgd:m=20 | 4 + O(M) | 24 | 1.000 | 1.43 | 24.0 | 50% | 1.50 |",
        "| adam | 4 | 24 |",
        "| meta-sgd:m=20 (portable kernels) |",
        "ns per coordinate at every size (×Adam in parentheses)",
        "| D=10^3 | D=10^6 | D=10^7 |",
        "| 10^6 | 20.0 | 22.0 | 0.400 | 40.0 | 75× |",
        "| 10^3 | 20.0 | 22.0 | 0.400 | – | – |",
        "Targets (same run):",
        "| Meta-SGD ≥ 100× faster than dense, D=10^6, M=20 | 75× | missed by 1.3× |",
        "| meta-sgd:m=20 | 450 (1.50) | 450 (1.50) |",
        "| meta-sgd:m=20 | 3000 | 7.5 |",
        "| 10^6 | 2.00 | 1.50 | 3.50 | 3.75 | 1.00 | 0.40 | 3.8 |",
        "State per coordinate (bytes): sgd 4,",
        "![ns per coordinate against D](speed_scaling.png)",
    ] {
        assert!(md.contains(needle), "missing {needle:?} in\n{md}");
    }
    assert!(!md.to_lowercase().contains("issue"));
}

#[test]
fn files_are_written_and_the_section_reads_them_back() {
    let r = synthetic();
    let dir = tmp("out");
    let written = r.write_files(&dir).expect("written");
    for name in [
        "speed.json",
        "SPEED.md",
        "speed_scaling.svg",
        "speed_scaling.png",
    ] {
        let p = dir.join(name);
        assert!(written.contains(&p), "{name} not reported");
        assert!(std::fs::metadata(&p).unwrap().len() > 100, "{name} empty");
    }
    assert_eq!(report_section(&dir).unwrap(), r.render_markdown());
    assert_eq!(
        std::fs::read_to_string(dir.join("SPEED.md")).unwrap(),
        r.render_markdown()
    );
}

/// The measurement itself, on small tensors and three cases (seconds in a debug build).
#[test]
fn measure_fills_every_row() {
    let opts = SpeedOptions {
        quick: true,
        sizes: vec![4_000, 1_000],
        cases: ["sgd", "adam", DENSE_PEER]
            .iter()
            .map(|s| SpeedCase::new(s, 24).unwrap())
            .collect(),
        profile: false,
    };
    let mut seen = Vec::new();
    let r = measure_with_progress(&opts, |r, d| {
        seen.push(d);
        assert!(!r.size_summary(d).is_empty());
    })
    .expect("measured");
    assert_eq!(seen, vec![1_000, 4_000]);
    assert_eq!(r.sizes, vec![1_000, 4_000]);
    // The three cases, plus Meta-SGD forced to each kernel tier that differs from the default
    // on this CPU (portable where it has AVX2, and AVX-512 where it has that too).
    let kernel_of = |k| {
        let mut m = lrmem_optimizers::memory_core::Memory::new(super::memory_config(20)).unwrap();
        m.set_kernels(k);
        m.kernel_name()
    };
    use lrmem_optimizers::memory_core::Kernels;
    let n_cases = 3 + [Kernels::Portable, Kernels::Fastest]
        .into_iter()
        .filter(|&k| kernel_of(k) != r.kernel)
        .count();
    assert_eq!(r.cases.len(), n_cases);
    assert_eq!(r.rows.len(), 2 * n_cases);
    for d in [1_000, 4_000] {
        let adam = r.row(&CaseKey::of("adam"), d).unwrap();
        assert_eq!(adam.ratio_to_adam, 1.0);
        assert!(adam.ns_per_coord > 0.0 && adam.ns_per_coord.is_finite());
        assert!(r.dense_at(d).unwrap().speedup_of_meta_sgd > 0.0);
        assert!(r.bandwidth_at(d).unwrap().copy_gbps > 0.0);
    }
    SpeedReport::from_json(&r.to_json()).expect("reads back");

    let no_adam = SpeedOptions {
        cases: vec![SpeedCase::new("sgd", 12).unwrap()],
        ..opts.clone()
    };
    assert!(matches!(
        measure(&no_adam).unwrap_err(),
        SpeedError::MissingCase(_)
    ));
    let no_sizes = SpeedOptions {
        sizes: vec![],
        ..opts
    };
    assert!(matches!(
        measure(&no_sizes).unwrap_err(),
        SpeedError::NoSizes
    ));
}
