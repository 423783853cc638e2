//! `cargo xtask bench`: the command line over the `bench` library's harness, and the report
//! under `target/lrmem-bench/`.
//!
//! `cargo xtask bench` fetches missing data, builds itself in release and runs the work there
//! (dfdx is ~200× slower unoptimised); the release run is `xtask bench-run` with the same
//! options. Everything else — workloads, arms, the protocol, tuning, resumable results, the
//! report — is library code (`lrmem_bench::harness`, `lrmem_bench::report`, `lrmem_bench::workloads`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use lrmem_bench::harness::{
    self, Arm, Experiment, Observer, Protocol, RunOptions, RunSpec, TaskResult, Tuning,
};
use lrmem_optimizers::Optimizer;
use xshell::{cmd, Shell};

/// How much of the protocol a profile runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// CI smoke run: two tasks, three arms, one seed, a short cap.
    Quick,
    /// The headline table: every task, the main arms and three peers at their defaults, 2 seeds, the paper's learning rate only.
    Default,
    /// The papers' protocol: every arm, 5 seeds, paper and tuned settings.
    Full,
}

/// Options of `cargo xtask bench`.
#[derive(Debug, Clone)]
pub struct Options {
    profile: Profile,
    speed_only: bool,
    /// Only the MAML learning-rate sweep (`--maml`).
    maml_only: bool,
    /// Only the learned LSTM optimizer's study (`--l2l`).
    l2l_only: bool,
    /// Only the study of the memory's variants (`--study`).
    study_only: bool,
    /// Only its diagnosis and development stages (`--study-dev`).
    study_dev_only: bool,
    /// The held-out stages to run (`--study-stages`; default all).
    study_stages: Option<Vec<usize>>,
    /// Run nothing; render the study's report from its results files (`--study-render`).
    study_render: bool,
    skip_speed: bool,
    /// The workloads named on the command line (`--workload`, `--robot`); `None`: the
    /// profile's (MNIST, or every workload with `--full`).
    workloads: Option<Vec<String>>,
    workload_options: BTreeMap<String, String>,
    data_root: PathBuf,
    threshold: Option<f64>,
    arms: Option<Vec<Arm>>,
    seeds: Option<u64>,
    /// The first seed (seeds are first..first + N); settings are chosen on seeds outside the
    /// reported 0..N.
    first_seed: u64,
    cap: Option<usize>,
    tune: Option<bool>,
    jobs: usize,
    out: PathBuf,
    resume: bool,
}

const HELP: &str = "\
cargo xtask bench [--quick | --full | --speed | --maml | --l2l | --study] [options]

Runs workloads (default: sequential binary MNIST, the papers' headline experiment) for every
arm, and the optimizer speed suite, and writes target/lrmem-bench/{REPORT.md, WORKLOAD.jsonl,
WORKLOAD.json, figures as PNG and SVG}: one REPORT.md with a section per workload, one
results file per workload.

Profiles (each workload with its own cap and curve spacing, see the list below):
  (default)   every task, the main arms and Prodigy, D-Adapt Adam and Schedule-Free AdamW at
              their defaults, 2 seeds, base lr 1e-3   (MNIST ~10 min on 2 cores; panda-forward
              and panda-inverse each ~15-25 min on 2 cores: 6 of these arms took 800 s and
              730 s on 2 heavily shared cores; the memory arms step the inverse MLP's small
              tensors at ~1 ms per update against ~0.12 ms for SGD)
  --quick     sgd and meta-sgd (fresh, reloaded); 1 seed; a short cap and small data (MNIST:
              tasks 1v2, 1v3; robot: 0.5 s trajectories) (CI smoke, ≲ 1 min per workload)
  --full      every preset arm (the peers too), 5 seeds, paper + tuned, and, unless
              --workload/--robot/--gan name workloads, every workload: mnist,
              panda-forward, panda-inverse and began, one after the other into one report
              (many hours on 2 cores). A workload may add its paper's reference arm (began:
              adam-began = Adam 1e-4, beta1 0.5), leave out the +reload arms (one task) and
              skip tuning (began: ≈ 29 min on 2 cores)
  --speed     only the optimizer speed measurements
  --maml      only MAML's learning-rate sweep on mixed linear regression (Bernacchia 2021:
              test loss against the meta-training and adaptation rates, and a memory of
              learning rates as the meta-training rate; ≈ 40 s; --quick: 20 task sets;
              also part of --full)
  --l2l       only the learned LSTM optimizer (Andrychowicz et al. 2016): meta-train it on
              random quadratics and on an MNIST MLP, then run it and the peers on held-out
              instances of both (≈ 45 min on 2 cores, 6 min with the meta-training cached in
              target/lrmem-cache; --quick: a few epochs, ≈ 10 s; also
              part of --full); writes the meta-trained weights as l2l-FAMILY.lrw
  --study     only the study of the memory's variants: diagnosis of the failing cases,
              the variants on the development tasks (MNIST 1v2, 1v3, 1v4), then the
              recommended memory, unchanged, against the peers on held-out tasks (MNIST 2v3,
              4v9, 5v8, Fashion-MNIST 1v2, 1v3, 1v4, the robot's later inverse- and
              forward-dynamics tasks and BEGAN) over five decades of eta0, with the ablation, the sensitivity to xi
              and the targets (≈ 6 h on 2 cores; --quick: ≈ 1 min; resumable with --resume)
  --study-dev only the study's diagnosis and development stages: the three rounds the
              recommended memory was chosen on and the ablation on the same tasks
              (≈ 1.5 h)
  --study-stages 0,1  only these held-out stages of the study, without the diagnosis and
              the development stage (0: MNIST evaluation, 1: MNIST ablation,
              2: Fashion-MNIST evaluation, 3: Fashion-MNIST ablation, 4: panda-inverse
              evaluation, its first task reported apart as a development task, 5: BEGAN
              evaluation, 6: panda-forward evaluation, as 4); with --study-dev, the
              development stages and these
  --study-render  run nothing: render the study's report (with --study-dev and
              --study-stages, of those stages) from the results files in --out, what an
              interrupted study has so far

Options:
  --workload NAME     a workload (see the list below; default mnist); repeatable
  --robot             both robot workloads: panda-forward and panda-inverse
  --fashion-mnist     short for --workload fashion-mnist
  --gan               short for --workload began (BEGAN on MNIST, an optimizer per player)
  --set KEY=VALUE     a workload option (see the list below), e.g. --set order=stream; given
                      to every selected workload that has it (an error if none has)
  --data DIR          the workload's data folder (default $LRMEM_DATA/<workload> or
                      data/<workload>; MNIST is fetched if missing)
  --pairs 1-2,1-3     class pairs in task order (default 1-2,1-3,1-4)
  --pixels unit       pixel scaling: unit (p/255, default; the authors' TF loader), raw (0-255,
                      what the authors' PyTorch loader feeds) or standardized
  --threshold F       the metric value to reach (default: the workload's, 0.98 for MNIST,
                      NMSE 0.1 for the robot workloads, which also record NMSE 0.03, and
                      panda-forward NMSE 0.6)
  --arms 'A;B;...'    arms, separated by `;`: a preset name (below) or [NAME=]SPEC[+reload],
                      SPEC = optimizer[:key=value,...], e.g. 'sgd; meta-sgd:xi=0.05,m=40+reload'
  --arm A             one more arm (repeatable)
  --seeds N           seeds per arm (0..N)
  --first-seed S      seeds S..S+N instead (e.g. a development seed, away from the reported
                      0..N, to choose a setting on)
  --cap N             updates per task (censored beyond; default: the workload's)
  --tune / --no-tune  run the tuned setting (lr grid on task 1, 2 seeds, widened at an edge)
  --resume            keep the finished runs of WORKLOAD.jsonl (same options) and run the rest
  --no-speed          skip the speed measurements
  --jobs N            parallel runs (default: the machine's cores)
  --out DIR           output directory (default target/lrmem-bench)
";

fn help_lists() -> String {
    let workloads = lrmem_bench::workloads::registry()
        .iter()
        .map(|w| {
            let also = w
                .also
                .iter()
                .map(|t| format!(", also {t}"))
                .collect::<String>();
            let options = w
                .options
                .iter()
                .map(|(k, v)| format!("\n      {k}: {v}"))
                .collect::<String>();
            format!(
                "  {:<16}{}\n      threshold {}{also}; cap {} (quick {}); curve every {} updates{options}",
                w.name,
                w.summary,
                w.threshold,
                w.cap,
                w.quick_cap,
                w.curve_every(w.cap)
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let optimizers = lrmem_optimizers::registry()
        .iter()
        .map(|e| format!("  {:<16}{}", e.name, e.summary))
        .collect::<Vec<_>>()
        .join("\n");
    format!(
        "\nWorkloads:\n{workloads}\n\nOptimizers (their keys: the API docs of `lrmem_optimizers::registry`, or an unknown key in an arm lists them):\n{optimizers}\n\nPreset arms: {}\n",
        lrmem_bench::workloads::arms::names().join(", ")
    )
}

fn parse(args: &[String]) -> Result<Options> {
    use lexopt::prelude::*;
    let root = crate::root();
    let mut o = Options {
        profile: Profile::Default,
        speed_only: false,
        maml_only: false,
        l2l_only: false,
        study_only: false,
        study_dev_only: false,
        study_stages: None,
        study_render: false,
        skip_speed: false,
        workloads: None,
        workload_options: BTreeMap::new(),
        data_root: std::env::var_os("LRMEM_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("data")),
        threshold: None,
        arms: None,
        seeds: None,
        first_seed: 0,
        cap: None,
        tune: None,
        jobs: std::thread::available_parallelism().map_or(2, |n| n.get()),
        out: root.join("target/lrmem-bench"),
        resume: false,
    };
    let mut p = lexopt::Parser::from_args(args.iter().map(String::as_str));
    while let Some(arg) = p.next()? {
        match arg {
            Long("quick") => o.profile = Profile::Quick,
            Long("full") => o.profile = Profile::Full,
            Long("speed") => o.speed_only = true,
            Long("maml") => o.maml_only = true,
            Long("l2l") => o.l2l_only = true,
            Long("study") => o.study_only = true,
            Long("study-stages") => {
                o.study_only = true;
                o.study_stages = Some(
                    p.value()?
                        .to_string_lossy()
                        .split(',')
                        .map(|x| x.trim().parse())
                        .collect::<Result<_, _>>()?,
                );
            }
            Long("study-render") => {
                o.study_only = true;
                o.study_render = true;
            }
            Long("study-dev") => {
                o.study_only = true;
                o.study_dev_only = true;
            }
            Long("no-speed") => o.skip_speed = true,
            Long("workload") => o
                .workloads
                .get_or_insert_with(Vec::new)
                .push(p.value()?.string()?),
            Long("robot") => o
                .workloads
                .get_or_insert_with(Vec::new)
                .extend(["panda-forward".to_string(), "panda-inverse".to_string()]),
            Long("gan") => o
                .workloads
                .get_or_insert_with(Vec::new)
                .push("began".to_string()),
            Long("fashion-mnist") => o
                .workloads
                .get_or_insert_with(Vec::new)
                .push("fashion-mnist".into()),
            Long("set") => {
                let kv = p.value()?.string()?;
                let Some((k, v)) = kv.split_once('=') else {
                    bail!("--set takes KEY=VALUE, got `{kv}`");
                };
                o.workload_options
                    .insert(k.trim().to_string(), v.trim().to_string());
            }
            Long("data") => {
                o.workload_options
                    .insert("dir".into(), p.value()?.string()?);
            }
            Long("pairs") => {
                o.workload_options
                    .insert("pairs".into(), p.value()?.string()?);
            }
            Long("pixels") => {
                o.workload_options
                    .insert("pixels".into(), p.value()?.string()?);
            }
            Long("threshold") => o.threshold = Some(p.value()?.parse()?),
            Long("arms") => {
                let list = lrmem_bench::workloads::arms::parse_list(&p.value()?.string()?)?;
                o.arms.get_or_insert_with(Vec::new).extend(list);
            }
            Long("arm") => {
                let arm = lrmem_bench::workloads::arms::parse(&p.value()?.string()?)?;
                o.arms.get_or_insert_with(Vec::new).push(arm);
            }
            Long("seeds") => o.seeds = Some(p.value()?.parse()?),
            Long("first-seed") => o.first_seed = p.value()?.parse()?,
            Long("cap") => o.cap = Some(p.value()?.parse()?),
            Long("tune") => o.tune = Some(true),
            Long("no-tune") => o.tune = Some(false),
            Long("resume") => o.resume = true,
            Long("jobs") => o.jobs = p.value()?.parse()?,
            Long("out") => o.out = PathBuf::from(p.value()?),
            Long("help") | Short('h') => {
                print!("{HELP}{}", help_lists());
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    let names = workloads(&o);
    for w in &names {
        lrmem_bench::workloads::find(w)?;
    }
    if let Some(key) = o.workload_options.keys().find(|k| {
        !names.iter().any(|w| {
            lrmem_bench::workloads::find(w).is_ok_and(|e| e.options.iter().any(|(o, _)| o == k))
        })
    }) {
        bail!(
            "no selected workload ({}) has the option `{key}`; see --help for each workload's options",
            names.join(", ")
        );
    }
    if let Some(t) = o.threshold {
        if !t.is_finite() {
            bail!("--threshold must be a finite number, got {t}");
        }
    }
    if o.jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    Ok(o)
}

/// The workloads to run, in order.
fn workloads(o: &Options) -> Vec<String> {
    match (&o.workloads, o.profile) {
        (Some(w), _) => {
            let mut v: Vec<String> = Vec::new();
            for x in w {
                if !v.contains(x) {
                    v.push(x.clone());
                }
            }
            v
        }
        (None, Profile::Full) => ["mnist", "panda-forward", "panda-inverse", "began"]
            .map(String::from)
            .to_vec(),
        (None, _) => vec!["mnist".into()],
    }
}

/// The experiment a profile and the options describe, on `workload`.
fn experiment(o: &Options, workload: &str) -> Result<Experiment> {
    let entry = lrmem_bench::workloads::find(workload)?;
    use lrmem_optimizers::registry::Tier;
    let (arms, seeds, cap, tune) = match o.profile {
        Profile::Quick => (
            lrmem_bench::workloads::arms::tier(Tier::Smoke),
            1,
            entry.quick_cap,
            false,
        ),
        Profile::Default => (
            lrmem_bench::workloads::arms::tier(Tier::Headline),
            2,
            entry.cap,
            false,
        ),
        Profile::Full => (
            lrmem_bench::workloads::arms::tier(Tier::Full),
            5,
            entry.cap,
            entry.full_tuning,
        ),
    };
    let arms = entry.arms(arms);
    let cap = o.cap.unwrap_or(cap);
    let mut e = Experiment::new(
        entry.name,
        Protocol {
            threshold: o.threshold.unwrap_or(entry.threshold),
            cap,
            curve_every: entry.curve_every(cap),
            also: entry.also.to_vec(),
        },
    );
    e.arms = o.arms.clone().unwrap_or(arms);
    let first = o.first_seed;
    e.seeds = (first..first.saturating_add(o.seeds.unwrap_or(seeds))).collect();
    e.tuning = o.tune.unwrap_or(tune).then(Tuning::default);
    Ok(e)
}

/// `workload`'s options: those given that it has, then the quick profile's unless given.
fn workload_options(o: &Options, workload: &str) -> Result<BTreeMap<String, String>> {
    let entry = lrmem_bench::workloads::find(workload)?;
    let mut opts: BTreeMap<String, String> = o
        .workload_options
        .iter()
        .filter(|(k, _)| entry.options.iter().any(|(o, _)| o == k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if o.profile == Profile::Quick {
        for (k, v) in entry.quick_options {
            opts.entry(k.to_string()).or_insert_with(|| v.to_string());
        }
    }
    Ok(opts)
}

/// `cargo xtask bench`: fetch MNIST if it is missing, then re-run in release.
pub fn run(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    let mut needed = workloads(&o);
    if o.study_only {
        needed = vec!["mnist".into(), "fashion-mnist".into()];
    }
    for workload in needed {
        if o.speed_only || o.maml_only || o.workload_options.contains_key("dir") {
            break;
        }
        let Some(set) = lrmem_bench::workloads::find(&workload)?.data else {
            continue;
        };
        let dir = o.data_root.join(set);
        if !dir.join("t10k-labels-idx1-ubyte").is_file()
            && !dir.join("t10k-labels-idx1-ubyte.gz").is_file()
        {
            eprintln!("data missing in {}: fetching", dir.display());
            let mut fetch = vec!["--dir".to_string(), o.data_root.display().to_string()];
            if set == "fashion-mnist" {
                fetch.push("--fashion-mnist".into());
            }
            crate::data::run(&fetch)?;
        }
    }
    let sh = Shell::new()?;
    sh.change_dir(crate::root());
    cmd!(
        sh,
        "cargo run --release --quiet --locked -p xtask -- bench-run {args...}"
    )
    .run()?;
    Ok(())
}

/// Progress bars: one per arm and phase, counting finished tasks; also writes the pictures
/// tasks make into the report's folder.
struct Bars {
    multi: MultiProgress,
    tasks: usize,
    bars: Mutex<BTreeMap<String, ProgressBar>>,
    out: PathBuf,
    workload: String,
}

impl Observer for Bars {
    fn phase_started(&self, label: &str, runs: &[RunSpec]) {
        let style = ProgressStyle::with_template(
            "{prefix:>28} [{bar:30}] {pos}/{len} tasks  {elapsed_precise} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> ");
        eprintln!("== {label}: {} runs", runs.len());
        let mut bars = self.bars.lock().expect("bars");
        bars.clear();
        for r in runs {
            let bar = bars.entry(r.arm.name.clone()).or_insert_with(|| {
                self.multi.add(
                    ProgressBar::new(0)
                        .with_style(style.clone())
                        .with_prefix(r.arm.name.clone()),
                )
            });
            bar.inc_length(r.tasks.min(self.tasks) as u64);
        }
    }

    fn task_finished(&self, run: &RunSpec, _: usize, _: &TaskResult, _: &[&dyn Optimizer]) {
        if let Some(b) = self.bars.lock().expect("bars").get(&run.arm.name) {
            b.inc(1);
        }
    }

    fn pictured(&self, run: &RunSpec, task: usize, picture: &lrmem_tasks::Picture) {
        let stem = lrmem_bench::report::picture_stem(
            &self.workload,
            run.setting,
            &run.arm.name,
            run.seed,
            task,
        );
        let path = self.out.join(format!("{stem}.png"));
        if let Err(e) = lrmem_bench::report::write_picture(&path, picture, 1) {
            let _ = self.multi.println(format!("warning: {e}"));
        }
    }

    fn phase_finished(&self, _: &str) {
        for b in self.bars.lock().expect("bars").values() {
            b.finish();
        }
    }
}

/// The release half of `cargo xtask bench`.
pub fn run_release(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    std::fs::create_dir_all(&o.out)
        .with_context(|| format!("cannot create {}", o.out.display()))?;
    if o.maml_only || o.l2l_only || o.study_only {
        let mut md = String::from("# lrmem benchmark report\n");
        if o.study_only {
            md.push_str(&study_section(&o)?);
        }
        if o.maml_only {
            md.push_str(&maml_section(&o)?);
        }
        if o.l2l_only {
            md.push_str(&l2l_section(&o)?);
        }
        std::fs::write(o.out.join("REPORT.md"), md)?;
        println!("report: {}", o.out.join("REPORT.md").display());
        return Ok(());
    }
    let mut speed = None;
    if o.speed_only || !o.skip_speed {
        let mut speed_args = vec!["--out".to_string(), o.out.display().to_string()];
        if o.profile == Profile::Quick {
            speed_args.push("--quick".into());
        }
        crate::speed::run(&speed_args)?;
        speed = Some(crate::speed::report_section(&o.out)?);
    }
    let mut md = String::from("# lrmem benchmark report\n\n");
    if o.speed_only {
        md.push_str(
            speed
                .as_deref()
                .unwrap_or("(no speed measurements were written)"),
        );
        std::fs::write(o.out.join("REPORT.md"), md)?;
        return Ok(());
    }
    for workload in workloads(&o) {
        md.push_str(&run_workload(&o, &workload)?);
    }
    if o.profile == Profile::Full && o.workloads.is_none() {
        md.push_str(&maml_section(&o)?);
        md.push_str(&l2l_section(&o)?);
    }
    if let Some(s) = speed {
        md.push_str(&s);
        md.push('\n');
    }
    md.push_str(&robustness_section());
    std::fs::write(o.out.join("REPORT.md"), md)?;
    println!("report: {}", o.out.join("REPORT.md").display());
    Ok(())
}

/// Runs the MAML learning-rate sweep (its quick grid with `--quick`) from the first seed,
/// writes `maml.json` and returns its section of REPORT.md.
fn maml_section(o: &Options) -> Result<String> {
    let sweep = if o.profile == Profile::Quick {
        lrmem_bench::studies::maml::MamlSweep::quick(o.first_seed)
    } else {
        lrmem_bench::studies::maml::MamlSweep::full(o.first_seed)
    };
    eprintln!(
        "== MAML: {} meta-training rates × {} adaptation rates over {} task sets",
        sweep.alphas_t.len(),
        sweep.alphas_r.len(),
        sweep.sets
    );
    let started = std::time::Instant::now();
    let result = sweep.run()?;
    let path = o.out.join("maml.json");
    std::fs::write(&path, serde_json::to_string_pretty(&result)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let md = lrmem_bench::studies::maml::section(&result, &o.out)?;
    Ok(format!(
        "{md}\n({:.1} s on {}; raw numbers in maml.json.)\n",
        started.elapsed().as_secs_f64(),
        lrmem_bench::report::machine()
    ))
}

/// Runs the learned optimizer's study (its smoke with `--quick`) from the first seed, writes
/// `l2l.json` and the meta-trained weights (`l2l-FAMILY.lrw`, what `l2l:weights=PATH` reads)
/// and returns its section of REPORT.md.
fn l2l_section(o: &Options) -> Result<String> {
    let study = if o.profile == Profile::Quick {
        lrmem_bench::studies::l2l::L2lStudy::quick(o.first_seed)
    } else {
        lrmem_bench::studies::l2l::L2lStudy::full(o.first_seed)
    };
    let dir = o.data_root.join("mnist");
    let mnist = lrmem_tasks::mnist::Mnist::load(&dir)
        .with_context(|| format!("the L2L study needs MNIST in {}", dir.display()))?;
    eprintln!(
        "== L2L: meta-training {:?} epochs (quadratics, MNIST), then {} held-out instances × {} steps",
        study.epochs, study.seeds, study.long
    );
    let started = std::time::Instant::now();
    let cache = crate::root().join("target/lrmem-cache");
    let result = study.run(&mnist, Some(&cache), &|line| eprintln!("   {line}"))?;
    for t in &result.trained {
        let path = o.out.join(format!("l2l-{}.lrw", t.family));
        std::fs::write(&path, &t.weights)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let path = o.out.join("l2l.json");
    std::fs::write(&path, serde_json::to_string(&result)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let md = lrmem_bench::studies::l2l::section(&result, &o.out)?;
    Ok(format!(
        "{md}\n({:.0} s on {}; raw numbers in l2l.json, weights in l2l-quadratic.lrw and l2l-mnist.lrw.)\n",
        started.elapsed().as_secs_f64(),
        lrmem_bench::report::machine()
    ))
}

/// Runs the study of the memory's variants (its smoke with `--quick`), writes `study.json`,
/// the stages' results files and figures, and returns its section of REPORT.md.
fn study_section(o: &Options) -> Result<String> {
    let mut plan = if o.profile == Profile::Quick {
        lrmem_bench::studies::study::StudyPlan::quick()
    } else {
        lrmem_bench::studies::study::StudyPlan::full()
    };
    if o.study_dev_only && o.study_stages.is_none() {
        plan.held_out.clear();
    }
    if let Some(keep) = &o.study_stages {
        if let Some(bad) = keep.iter().find(|&&i| i >= plan.held_out.len()) {
            bail!(
                "--study-stages: there is no held-out stage {bad} (0..{})",
                plan.held_out.len()
            );
        }
        plan.held_out = keep.iter().map(|&i| plan.held_out[i].clone()).collect();
        // The diagnosis and the development stages are `--study-dev`'s (both flags: the
        // development stages and these held-out ones).
        if !o.study_dev_only {
            plan.dev.clear();
        }
    }
    let cache = crate::root().join("target/lrmem-cache");
    let ctx = lrmem_bench::studies::study::StudyContext {
        data_root: &o.data_root,
        cache_dir: Some(&cache),
        out: &o.out,
        jobs: o.jobs,
        resume: o.resume,
        render_only: o.study_render,
        shard: None,
        merge: &[],
    };
    let started = std::time::Instant::now();
    let bars = Bars {
        multi: MultiProgress::new(),
        tasks: 3,
        bars: Mutex::new(BTreeMap::new()),
        out: o.out.clone(),
        workload: "study".into(),
    };
    let md = lrmem_bench::studies::study::run(&plan, &ctx, &bars, &|stage| {
        eprintln!("== study: {stage}")
    })?
    .unwrap_or_default();
    Ok(format!(
        "{md}\n({:.0} s on {}; raw numbers in study.json and study-*.jsonl.)\n",
        started.elapsed().as_secs_f64(),
        lrmem_bench::report::machine()
    ))
}

/// Runs `workload`'s experiment and returns its section of REPORT.md.
fn run_workload(o: &Options, workload: &str) -> Result<String> {
    let experiment = experiment(o, workload)?;
    let entry = lrmem_bench::workloads::find(workload)?;
    let config = lrmem_bench::workloads::WorkloadConfig {
        data_root: o.data_root.clone(),
        options: workload_options(o, workload)?,
        cache_dir: Some(crate::root().join("target/lrmem-cache")),
    };
    eprintln!("== workload {workload}: building its tasks");
    let family = entry.build(&config)?;
    let results_path = o.out.join(format!("{}.jsonl", entry.name));
    let options = RunOptions {
        jobs: o.jobs,
        results: Some(results_path.clone()),
        resume: o.resume,
        shard: None,
    };
    let bars = Bars {
        multi: MultiProgress::new(),
        tasks: family.len(),
        bars: Mutex::new(BTreeMap::new()),
        out: o.out.clone(),
        workload: entry.name.to_string(),
    };
    let started = std::time::Instant::now();
    let results = harness::run(family.as_ref(), &experiment, &options, &bars)?;
    let elapsed = started.elapsed().as_secs_f64();
    let json = o.out.join(format!("{}.json", entry.name));
    std::fs::write(&json, serde_json::to_string_pretty(&results)?)
        .with_context(|| format!("cannot write {}", json.display()))?;
    let about = format!(
        "Data: {} (options: {}). {} runs carried out now ({elapsed:.0} s on {}, {} parallel runs), {} taken from {} (`--resume`). The paper setting gives every arm base learning rate {}.",
        if entry.options.iter().any(|(k, _)| *k == "dir") {
            config
                .options
                .get("dir")
                .cloned()
                .unwrap_or_else(|| {
                    o.data_root
                        .join(entry.data.unwrap_or(entry.name))
                        .display()
                        .to_string()
                })
        } else {
            "simulated when the workload is built (fixed data seeds)".to_string()
        },
        if config.options.is_empty() {
            "defaults".to_string()
        } else {
            config
                .options
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        },
        results.executed,
        lrmem_bench::report::machine(),
        o.jobs,
        results.runs.len() - results.executed,
        results_path.display(),
        experiment
            .base_lr
            .map_or("(none)".to_string(), |lr| format!("{lr:e}")),
    );
    Ok(lrmem_bench::report::workload_section(
        &results, &o.out, entry.name, &about,
    )?)
}

/// The summaries of the last `cargo xtask fuzz` and `cargo xtask soak` (their `FUZZ.md` and
/// `SOAK.md` in `target/lrmem-robustness`), where they exist, as a section of REPORT.md.
fn robustness_section() -> String {
    let dir = crate::root().join("target/lrmem-robustness");
    let mut md = String::new();
    for (file, title) in [
        ("FUZZ.md", "Fuzzing (`cargo xtask fuzz`)"),
        ("SOAK.md", "Soak (`cargo xtask soak`)"),
    ] {
        if let Ok(text) = std::fs::read_to_string(dir.join(file)) {
            if md.is_empty() {
                md.push_str("\n## Robustness: every promise under hostile input\n\n");
                md.push_str("From the last runs of the commands below on this checkout; each fails if a promise (no panic, an error changes nothing, finite parameters and θ after `Ok`) broke.\n");
            }
            md.push_str(&format!("\n### {title}\n\n{text}\n"));
        }
    }
    md
}
