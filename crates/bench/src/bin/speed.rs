//! Times one step of every optimizer side by side, interleaved, on the same tensors, together
//! with STREAM copy/triad and the dense D×M baseline, and writes the raw numbers as JSON.
//!
//! ```text
//! cargo run --release -p bench --bin speed -- [--quick] [--json FILE]
//! ```
//! `cargo xtask bench --speed` runs this and turns the JSON into `SPEED.md` and a plot.
//!
//! Method: for each size D, every optimizer gets its own parameter tensor and steps it with two
//! alternating gradients (`bench::gradients`). A round times each entry once (a sample of as
//! many steps as make ≥ 2 ms), entries in a rotated order; the reported time is the median
//! over rounds, and ratios (to Adam, to the dense baseline) are medians of per-round ratios,
//! so that slow drifts of a shared machine cancel.

use std::io::Write;
use std::time::Instant;

use bench::dense::DenseMemory;
use bench::{copy, gradients, memory_config, triad, Case, COPY_BYTES, SIZES, TRIAD_BYTES};
use memory_core::Memory;
use optimizers::{Meta, MetaConfig, Optimizer, SgdConfig};
use serde::Serialize;

#[derive(Serialize)]
struct Report {
    schema: u32,
    quick: bool,
    rounds: usize,
    cpu: String,
    kernel: &'static str,
    sizes: Vec<usize>,
    rows: Vec<Row>,
    bandwidth: Vec<Bandwidth>,
    dense: Vec<Dense>,
    seconds: f64,
}

#[derive(Serialize)]
struct Row {
    optimizer: String,
    centers: Option<usize>,
    label: String,
    d: usize,
    /// Median over rounds, ns per coordinate.
    ns_per_coord: f64,
    /// Fastest round.
    ns_per_coord_min: f64,
    bytes_per_coord: usize,
    state_bytes: usize,
    gbps: f64,
    /// Of the copy bandwidth measured at the same D.
    frac_copy: f64,
    /// Time over the copy-bandwidth time of its bytes (1 = at the roofline).
    roofline_ratio: f64,
    /// Median of per-round ratios to Adam at the same D.
    ratio_to_adam: f64,
}

#[derive(Serialize)]
struct Bandwidth {
    d: usize,
    copy_gbps: f64,
    triad_gbps: f64,
    copy_ns_per_coord: f64,
}

#[derive(Serialize)]
struct Dense {
    d: usize,
    centers: usize,
    ns_per_coord: f64,
    /// Median of per-round ratios dense / Meta-SGD (same M).
    speedup_of_meta_sgd: f64,
}

enum Entry {
    Opt {
        case: usize,
        opt: Box<dyn Optimizer>,
        params: Vec<f32>,
    },
    Copy {
        src: Vec<f32>,
        dst: Vec<f32>,
    },
    Triad {
        a: Vec<f32>,
        b: Vec<f32>,
        c: Vec<f32>,
    },
    Dense {
        mem: Box<DenseMemory>,
        params: Vec<f32>,
    },
}

impl Entry {
    fn run(&mut self, grads: &[Vec<f32>; 2], k: &mut usize) {
        let g = &grads[*k % 2];
        *k += 1;
        match self {
            Entry::Opt { opt, params, .. } => opt.step("w", params, g).expect("finite gradients"),
            Entry::Copy { src, dst } => copy(dst, src),
            Entry::Triad { a, b, c } => triad(a, b, c, 0.5),
            Entry::Dense { mem, params } => mem.step(params, g),
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut quick = false;
    let mut json = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--json" => json = Some(args.next().ok_or("--json needs a file")?),
            "-h" | "--help" => {
                println!("usage: speed [--quick] [--json FILE]");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let started = Instant::now();
    let rounds = if quick { 5 } else { 15 };
    let sample_ns = if quick { 2e6 } else { 5e6 };
    let cases = Case::all();
    let mut report = Report {
        schema: 1,
        quick,
        rounds,
        cpu: cpu_name(),
        kernel: Memory::new(memory_config(20))?.kernel_name(),
        sizes: SIZES.to_vec(),
        rows: Vec::new(),
        bandwidth: Vec::new(),
        dense: Vec::new(),
        seconds: 0.0,
    };
    for &d in &SIZES {
        let grads = gradients(d, 7);
        let mut entries: Vec<(String, Entry)> = Vec::new();
        for (i, case) in cases.iter().enumerate() {
            entries.push((
                case.label(),
                Entry::Opt {
                    case: i,
                    opt: case.build(),
                    params: vec![0.1; d],
                },
            ));
        }
        // Meta-SGD with the portable kernels (what a CPU without AVX-512/AVX2 runs).
        if report.kernel != "portable" {
            let mut opt = Meta::new(
                SgdConfig::default(),
                MetaConfig {
                    memory: memory_config(20),
                },
            )?;
            let mut mem = Memory::new(memory_config(20))?;
            mem.use_portable_kernels();
            opt.insert_memory("w", mem);
            entries.push((
                "meta-sgd M=20 (portable kernels)".into(),
                Entry::Opt {
                    case: usize::MAX,
                    opt: Box::new(opt),
                    params: vec![0.1; d],
                },
            ));
        }
        entries.push((
            "copy".into(),
            Entry::Copy {
                src: grads[0].clone(),
                dst: vec![0.0; d],
            },
        ));
        entries.push((
            "triad".into(),
            Entry::Triad {
                a: vec![0.0; d],
                b: grads[0].clone(),
                c: grads[1].clone(),
            },
        ));
        // The dense baseline holds two D×M matrices: up to D = 10⁶ at M = 20.
        if d <= 1_000_000 {
            entries.push((
                "dense M=20".into(),
                Entry::Dense {
                    mem: Box::new(DenseMemory::new(&memory_config(20), d)),
                    params: vec![0.1; d],
                },
            ));
        }
        // Warm up (state allocation, first-touch page faults) and size the samples.
        let mut counters = vec![0usize; entries.len()];
        let mut reps = Vec::with_capacity(entries.len());
        for ((_, e), k) in entries.iter_mut().zip(&mut counters) {
            e.run(&grads, k);
            let t = Instant::now();
            e.run(&grads, k);
            let ns = t.elapsed().as_nanos().max(1) as f64;
            reps.push(((sample_ns / ns).ceil() as usize).clamp(1, 100_000));
        }
        let dense_rounds = if quick { 3 } else { 5 };
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); entries.len()];
        for r in 0..rounds {
            let n = entries.len();
            for j in 0..n {
                let i = (j + r) % n;
                if matches!(entries[i].1, Entry::Dense { .. }) && r >= dense_rounds {
                    continue;
                }
                let (_, e) = &mut entries[i];
                let t = Instant::now();
                for _ in 0..reps[i] {
                    e.run(&grads, &mut counters[i]);
                }
                times[i].push(t.elapsed().as_secs_f64() * 1e9 / (reps[i] * d) as f64);
            }
        }
        let find = |name: &str| entries.iter().position(|(l, _)| l == name);
        let adam = find("adam").expect("adam is a case");
        let copy_i = find("copy").expect("copy");
        let triad_i = find("triad").expect("triad");
        let copy_ns = median(times[copy_i].clone());
        let copy_gbps = COPY_BYTES as f64 / copy_ns;
        report.bandwidth.push(Bandwidth {
            d,
            copy_gbps,
            triad_gbps: TRIAD_BYTES as f64 / median(times[triad_i].clone()),
            copy_ns_per_coord: copy_ns,
        });
        let per_round = |a: usize, b: usize| -> f64 {
            median(times[a].iter().zip(&times[b]).map(|(x, y)| x / y).collect())
        };
        for (i, (label, e)) in entries.iter().enumerate() {
            let Entry::Opt { case, .. } = e else {
                continue;
            };
            let (name, centers, bytes, state) = match cases.get(*case) {
                Some(c) => (c.name.to_string(), c.centers, c.bytes, c.state_bytes),
                None => ("meta-sgd-portable".to_string(), Some(20), 24, 4),
            };
            let ns = median(times[i].clone());
            let gbps = bytes as f64 / ns;
            report.rows.push(Row {
                optimizer: name,
                centers,
                label: label.clone(),
                d,
                ns_per_coord: ns,
                ns_per_coord_min: times[i].iter().copied().fold(f64::INFINITY, f64::min),
                bytes_per_coord: bytes,
                state_bytes: state,
                gbps,
                frac_copy: gbps / copy_gbps,
                roofline_ratio: ns / (bytes as f64 / copy_gbps),
                ratio_to_adam: per_round(i, adam),
            });
        }
        if let Some(di) = find("dense M=20") {
            let meta = find("meta-sgd M=20").expect("meta-sgd M=20 is a case");
            let k = times[di].len();
            let speedup = median(
                times[di]
                    .iter()
                    .zip(&times[meta][..k])
                    .map(|(x, y)| x / y)
                    .collect(),
            );
            report.dense.push(Dense {
                d,
                centers: 20,
                ns_per_coord: median(times[di].clone()),
                speedup_of_meta_sgd: speedup,
            });
        }
        let mut err = std::io::stderr().lock();
        writeln!(err, "D = {d}: copy {copy_gbps:.1} GB/s")?;
        for row in report.rows.iter().filter(|r| r.d == d) {
            writeln!(
                err,
                "  {:<34} {:>8.3} ns/coord {:>6.2}x adam {:>5.2}x roofline",
                row.label, row.ns_per_coord, row.ratio_to_adam, row.roofline_ratio
            )?;
        }
        if let Some(dn) = report.dense.iter().find(|x| x.d == d) {
            writeln!(
                err,
                "  dense M=20 {:>8.3} ns/coord, Meta-SGD {:.0}x faster",
                dn.ns_per_coord, dn.speedup_of_meta_sgd
            )?;
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    let text = serde_json::to_string_pretty(&report)?;
    match json {
        Some(path) => std::fs::write(&path, text + "\n")?,
        None => println!("{text}"),
    }
    Ok(())
}
