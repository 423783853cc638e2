//! [`measure`]: every case stepped side by side, interleaved, with STREAM copy/triad and the
//! dense baseline.

use std::time::Instant;

use lrmem_memory_core::{Kernels as MemKernels, Memory};
use lrmem_optimizers::{Meta, MetaConfig, Optimizer, SgdConfig};

use super::dense::DenseMemory;
use super::inputs::{copy, gradients, memory_config, triad, COPY_BYTES, SIZES, TRIAD_BYTES};
use super::timing::{cpu_name, interleave, median, ratio};
use super::{
    cases, model, Bandwidth, CaseKey, Dense, Row, SpeedCase, SpeedError, SpeedReport, DENSE_PEER,
    REFERENCE, SCHEMA, VERSION,
};

/// What [`measure`] runs.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeedOptions {
    /// The quick profile: 5 rounds of ≥ 2 ms samples (3 for the dense baseline), about a
    /// minute; otherwise 15 rounds of ≥ 5 ms (5 for the dense baseline).
    pub quick: bool,
    /// The tensor sizes D ([`SIZES`](super::SIZES) by default). The dense baseline runs up to 10⁶.
    pub sizes: Vec<usize>,
    /// The optimizers ([`cases`] by default); must include [`REFERENCE`].
    pub cases: Vec<SpeedCase>,
    /// Also the model table (one online update of the LeNet and of the LSTM per case), the
    /// fixed cost per tensor and the profile of a Meta-SGD step ([`super::ModelRow`],
    /// [`super::FixedCost`], [`super::Phase`]); on by default.
    pub profile: bool,
}

impl SpeedOptions {
    /// Every size and case, in the quick or the full profile.
    pub fn new(quick: bool) -> Self {
        SpeedOptions {
            quick,
            sizes: SIZES.to_vec(),
            cases: cases(),
            profile: true,
        }
    }

    fn rounds(&self) -> usize {
        if self.quick {
            5
        } else {
            15
        }
    }

    fn dense_rounds(&self) -> usize {
        if self.quick {
            3
        } else {
            5
        }
    }

    fn sample_ns(&self) -> f64 {
        if self.quick {
            2e6
        } else {
            5e6
        }
    }
}

impl Default for SpeedOptions {
    /// The full profile.
    fn default() -> Self {
        SpeedOptions::new(false)
    }
}

/// The largest D of the dense baseline: it holds two D×M matrices (2 × 80 MB at D = 10⁶, M = 20).
const DENSE_MAX_D: usize = 1_000_000;
/// M of the dense baseline and of the portable-kernel case.
const DENSE_M: usize = 20;

/// What one timed entry steps.
enum Work {
    Opt {
        opt: Box<dyn Optimizer + Send>,
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

/// One timed entry: an optimizer case (with its traffic and state), or a reference.
struct Entry {
    case: Option<(CaseKey, usize, usize)>,
    work: Work,
    /// Steps taken, to alternate the two gradients.
    k: usize,
}

impl Entry {
    /// An optimizer case: its key, bytes per coordinate and state bytes, stepping `d`
    /// coordinates.
    fn case(
        key: CaseKey,
        bytes: usize,
        state: usize,
        opt: Box<dyn Optimizer + Send>,
        d: usize,
    ) -> Self {
        Entry {
            case: Some((key, bytes, state)),
            work: Work::Opt {
                opt,
                params: vec![0.1; d],
            },
            k: 0,
        }
    }

    /// A reference (copy, triad, the dense baseline).
    fn reference(work: Work) -> Self {
        Entry {
            case: None,
            work,
            k: 0,
        }
    }

    fn run(&mut self, grads: &[Vec<f32>; 2]) -> Result<(), SpeedError> {
        let g = &grads[self.k % 2];
        self.k += 1;
        match &mut self.work {
            Work::Opt { opt, params } => opt.step("w", params, g)?,
            Work::Copy { src, dst } => copy(dst, src),
            Work::Triad { a, b, c } => triad(a, b, c, 0.5),
            Work::Dense { mem, params } => mem.step(params, g),
        }
        Ok(())
    }
}

/// What every size of a run measures: the cases, and Meta-SGD with forced kernels.
struct Plan<'a> {
    opts: &'a SpeedOptions,
    /// The cases' keys, in the suite's order.
    keys: Vec<CaseKey>,
    /// The dense peer with kernels other than the default, where they differ from it.
    forced: Vec<(CaseKey, MemKernels)>,
    /// The dense peer's bytes per coordinate, where the suite has it.
    peer_bytes: Option<usize>,
}

/// Where the references sit among a size's entries.
struct References {
    copy: usize,
    triad: usize,
    dense: Option<usize>,
}

/// Runs the speed suite (see the [module documentation](super) for the method). Takes about a
/// minute in the quick profile and five in the full one, on every size; build in release.
pub fn measure(opts: &SpeedOptions) -> Result<SpeedReport, SpeedError> {
    measure_with_progress(opts, |_, _| {})
}

/// [`measure`], calling `progress(report so far, D)` after each size (the `speed` binary
/// prints [`SpeedReport::size_summary`]).
pub fn measure_with_progress(
    opts: &SpeedOptions,
    mut progress: impl FnMut(&SpeedReport, usize),
) -> Result<SpeedReport, SpeedError> {
    let started = Instant::now();
    let reference = CaseKey::of(REFERENCE);
    let dense_peer = CaseKey::of(DENSE_PEER);
    let keys: Vec<CaseKey> = opts.cases.iter().map(CaseKey::from).collect();
    if !keys.contains(&reference) {
        return Err(SpeedError::MissingCase(REFERENCE.into()));
    }
    if opts.sizes.is_empty() {
        return Err(SpeedError::NoSizes);
    }
    let mut sizes = opts.sizes.clone();
    sizes.sort_unstable();
    sizes.dedup();
    let kernel_of = |kernels: MemKernels| -> Result<&'static str, SpeedError> {
        let mut memory = Memory::new(memory_config(DENSE_M))?;
        memory.set_kernels(kernels);
        Ok(memory.kernel_name())
    };
    let kernel = kernel_of(MemKernels::Reproducible)?;
    // Meta-SGD with the portable kernels (what a CPU without AVX-512/AVX2 runs) and with the
    // fastest ones (AVX-512, which round differently), where they differ from the default and
    // the suite has the case.
    let mut forced = Vec::new();
    if keys.contains(&dense_peer) {
        for (key, kernels) in [
            (dense_peer.clone().portable(), MemKernels::Portable),
            (dense_peer.clone().fastest(), MemKernels::Fastest),
        ] {
            if kernel_of(kernels)? != kernel {
                forced.push((key, kernels));
            }
        }
    }
    let mut report = SpeedReport {
        schema: SCHEMA.into(),
        version: VERSION,
        quick: opts.quick,
        rounds: opts.rounds(),
        cpu: cpu_name().unwrap_or_else(|| "unknown".into()),
        kernel: kernel.into(),
        sizes: sizes.clone(),
        cases: keys
            .iter()
            .cloned()
            .chain(forced.iter().map(|(k, _)| k.clone()))
            .collect(),
        rows: Vec::new(),
        bandwidth: Vec::new(),
        dense: Vec::new(),
        models: Vec::new(),
        fixed: Vec::new(),
        phases: Vec::new(),
        seconds: 0.0,
    };
    let plan = Plan {
        opts,
        peer_bytes: opts
            .cases
            .iter()
            .find(|c| CaseKey::from(*c) == dense_peer)
            .map(|c| c.bytes),
        keys,
        forced,
    };
    for &d in &sizes {
        measure_size(&plan, d, &mut report)?;
        progress(&report, d);
    }
    if opts.profile {
        let (rounds, sample) = (opts.rounds(), opts.sample_ns());
        report.fixed = model::measure_fixed(&opts.cases, rounds, sample)?;
        report.phases = model::measure_phases(rounds, sample)?;
        report.models = model::measure_models(&opts.cases, rounds, 5.0 * sample)?;
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The entries of size `d`: every case, the forced-kernel cases, copy, triad and (up to
/// [`DENSE_MAX_D`], where the suite has the dense peer) the dense baseline.
fn entries(
    plan: &Plan<'_>,
    d: usize,
    grads: &[Vec<f32>; 2],
) -> Result<(Vec<Entry>, References), SpeedError> {
    let mut entries: Vec<Entry> = Vec::new();
    for (case, key) in plan.opts.cases.iter().zip(&plan.keys) {
        let state = case.state_bytes()?;
        entries.push(Entry::case(
            key.clone(),
            case.bytes,
            state,
            case.build()?,
            d,
        ));
    }
    let forced_bytes = std::iter::repeat(plan.peer_bytes).flatten();
    for ((key, kernels), bytes) in plan.forced.iter().zip(forced_bytes) {
        // `memory_config(20)` is what `meta-sgd:m=20` builds (the memory's defaults).
        let mut opt = Meta::new(
            SgdConfig::default(),
            MetaConfig {
                memory: memory_config(DENSE_M),
                ..MetaConfig::default()
            },
        )?;
        opt.set_kernels(*kernels);
        // The optimizer's own memory config: installed as it is, with the forced kernels.
        opt.insert_memory("w", Memory::new(memory_config(DENSE_M))?)?;
        let state = key.spec.state_bytes()?;
        entries.push(Entry::case(key.clone(), bytes, state, Box::new(opt), d));
    }
    let copy = entries.len();
    entries.push(Entry::reference(Work::Copy {
        src: grads[0].clone(),
        dst: vec![0.0; d],
    }));
    let triad = entries.len();
    entries.push(Entry::reference(Work::Triad {
        a: vec![0.0; d],
        b: grads[0].clone(),
        c: grads[1].clone(),
    }));
    let dense = (d <= DENSE_MAX_D && plan.peer_bytes.is_some()).then(|| {
        entries.push(Entry::reference(Work::Dense {
            mem: Box::new(DenseMemory::new(&memory_config(DENSE_M), d)),
            params: vec![0.1; d],
        }));
        entries.len() - 1
    });
    Ok((entries, References { copy, triad, dense }))
}

/// Times every entry at size `d` side by side and adds the rows, the bandwidth and the dense
/// baseline to `report`.
fn measure_size(plan: &Plan<'_>, d: usize, report: &mut SpeedReport) -> Result<(), SpeedError> {
    let opts = plan.opts;
    let grads = gradients(d, 7);
    let (mut entries, at) = entries(plan, d, &grads)?;
    let rounds_of = |i: usize| {
        if Some(i) == at.dense {
            opts.dense_rounds()
        } else {
            opts.rounds()
        }
    };
    let per_step = interleave(
        &mut entries,
        opts.rounds(),
        opts.sample_ns(),
        rounds_of,
        |e| e.run(&grads),
    )?;
    let times: Vec<Vec<f64>> = per_step
        .into_iter()
        .map(|t| t.into_iter().map(|ns| ns / d as f64).collect())
        .collect();
    let find = |key: &CaseKey| {
        entries
            .iter()
            .position(|e| e.case.as_ref().is_some_and(|c| &c.0 == key))
    };
    let adam = find(&CaseKey::of(REFERENCE)).expect("checked by measure_with_progress");
    let copy_ns = median(times[at.copy].clone());
    let copy_gbps = COPY_BYTES as f64 / copy_ns;
    report.bandwidth.push(Bandwidth {
        d,
        copy_gbps,
        triad_gbps: TRIAD_BYTES as f64 / median(times[at.triad].clone()),
        copy_ns_per_coord: copy_ns,
    });
    // Rounds run in lock step, except the dense baseline's fewer: compare its rounds with the
    // same rounds of the other entry.
    let per_round = |a: usize, b: usize| ratio(&times[a], &times[b]);
    for (i, e) in entries.iter().enumerate() {
        let Some((key, bytes, state)) = &e.case else {
            continue;
        };
        let ns = median(times[i].clone());
        let gbps = *bytes as f64 / ns;
        report.rows.push(Row {
            case: key.clone(),
            d,
            ns_per_coord: ns,
            ns_per_coord_min: times[i].iter().copied().fold(f64::INFINITY, f64::min),
            bytes_per_coord: *bytes,
            state_bytes: *state,
            gbps,
            frac_copy: gbps / copy_gbps,
            roofline_ratio: ns / (*bytes as f64 / copy_gbps),
            ratio_to_adam: per_round(i, adam),
        });
    }
    let dense_peer = CaseKey::of(DENSE_PEER);
    if let (Some(di), Some(peer)) = (at.dense, find(&dense_peer)) {
        report.dense.push(Dense {
            d,
            centers: DENSE_M,
            ns_per_coord: median(times[di].clone()),
            peer: dense_peer,
            speedup_of_meta_sgd: per_round(di, peer),
        });
    }
    Ok(())
}
