//! `cargo xtask bench`: the experiments and the report under `target/lrmem-bench/`.
//!
//! `cargo xtask bench` builds itself in release and runs the work there (dfdx is ~200× slower
//! unoptimised); the release run is `xtask bench-run` with the same options.

mod arms;
mod mnist;
pub(crate) mod report;

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};

use anyhow::{bail, Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use xshell::{cmd, Shell};

use arms::Arm;
use mnist::{Protocol, RunResult, RunSpec, Setting};

/// The learning rates tuning picks from (the grid).
pub const LR_GRID: [f32; 6] = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2];

/// How much of the protocol a profile runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// CI smoke run: two tasks, three arms, one seed, a short cap (a few minutes).
    Quick,
    /// The headline table within ~15 minutes on 2 cores: every task, the main arms, 2 seeds,
    /// the paper's learning rate only.
    Default,
    /// The papers' protocol: every arm, 5 seeds, paper and tuned settings (≤ 90 minutes).
    Full,
}

/// Options of `cargo xtask bench`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Options {
    pub profile: Profile,
    pub speed_only: bool,
    pub skip_speed: bool,
    pub data: PathBuf,
    pub fashion: bool,
    pub pixels: String,
    pub pairs: Vec<(u8, u8)>,
    pub threshold: f64,
    pub arms: Vec<Arm>,
    pub seeds: u64,
    pub cap: usize,
    pub tune: bool,
    pub jobs: usize,
    pub out: PathBuf,
}

const HELP: &str = "\
cargo xtask bench [--quick | --full | --speed] [options]

Runs sequential binary MNIST (the papers' headline experiment) against the peers, and the
optimizer speed suite, and writes target/lrmem-bench/{REPORT.md, mnist_sequential.json, *.svg}.

Profiles:
  (default)   every task, the main arms, 2 seeds, base lr 1e-3            (~15 min on 2 cores)
  --quick     tasks 1v2, 1v3; sgd and meta-sgd (fresh, reloaded); 1 seed (CI smoke, minutes)
  --full      every arm, 5 seeds, paper setting + tuned setting            (<= 90 min on 2 cores)
  --speed     only the optimizer speed measurements

Options:
  --data DIR          MNIST directory (default $LRMEM_DATA/mnist or data/mnist; fetched if missing)
  --fashion-mnist     use Fashion-MNIST instead (data/fashion-mnist)
  --pairs 1-2,1-3     digit pairs in order (default 1-2,1-3,1-4)
  --pixels unit       pixel scaling: unit (p/255, default; the authors' TF loader), raw (0-255,
                      what the authors' PyTorch loader feeds) or standardized ((p/255-0.1307)/0.3081)
  --threshold F       test accuracy to reach (default 0.98)
  --arms a,b,...      arms to run (see the list below)
  --seeds N           seeds per arm
  --cap N             updates per task (censored beyond)
  --tune / --no-tune  run the tuned setting (lr grid on task 1, 2 seeds)
  --no-speed          skip the speed measurements
  --jobs N            parallel runs (default: the machine's cores)
  --out DIR           output directory (default target/lrmem-bench)
";

fn parse_pairs(s: &str) -> Result<Vec<(u8, u8)>> {
    s.split(',')
        .map(|p| {
            let (a, b) = p
                .split_once('-')
                .with_context(|| format!("pair `{p}` is not of the form A-B"))?;
            Ok((a.trim().parse()?, b.trim().parse()?))
        })
        .collect()
}

fn parse(args: &[String]) -> Result<Options> {
    use lexopt::prelude::*;
    let root = crate::root();
    let mut profile = Profile::Default;
    let mut speed_only = false;
    let mut skip_speed = false;
    let mut data = None;
    let mut fashion = false;
    let mut pixels = "unit".to_string();
    let mut pairs = None;
    let mut threshold = 0.98;
    let mut arms = None;
    let mut seeds = None;
    let mut cap = None;
    let mut tune = None;
    let mut jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut out = root.join("target/lrmem-bench");
    let mut p = lexopt::Parser::from_args(args.iter().map(String::as_str));
    while let Some(arg) = p.next()? {
        match arg {
            Long("quick") => profile = Profile::Quick,
            Long("full") => profile = Profile::Full,
            Long("speed") => speed_only = true,
            Long("no-speed") => skip_speed = true,
            Long("data") => data = Some(PathBuf::from(p.value()?)),
            Long("fashion-mnist") => fashion = true,
            Long("pixels") => pixels = p.value()?.string()?,
            Long("pairs") => pairs = Some(parse_pairs(&p.value()?.string()?)?),
            Long("threshold") => threshold = p.value()?.parse()?,
            Long("arms") => {
                arms = Some(
                    p.value()?
                        .string()?
                        .split(',')
                        .map(Arm::parse)
                        .collect::<Result<Vec<_>>>()?,
                )
            }
            Long("seeds") => seeds = Some(p.value()?.parse()?),
            Long("cap") => cap = Some(p.value()?.parse()?),
            Long("tune") => tune = Some(true),
            Long("no-tune") => tune = Some(false),
            Long("jobs") => jobs = p.value()?.parse()?,
            Long("out") => out = PathBuf::from(p.value()?),
            Long("help") | Short('h') => {
                print!(
                    "{HELP}\nArms: {}\n",
                    Arm::all()
                        .iter()
                        .map(Arm::name)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    if !["unit", "standardized", "raw"].contains(&pixels.as_str()) {
        bail!("--pixels must be unit, standardized or raw, not `{pixels}`");
    }
    if !(0.0..=1.0).contains(&threshold) {
        bail!("--threshold must be in [0, 1], got {threshold}");
    }
    let main_arms = || {
        [
            "sgd",
            "adam",
            "meta-sgd-xi0.01",
            "meta-sgd-reload-xi0.01",
            "meta-adam-xi0.01",
            "rprop",
            "sgd-hd",
            "adam-hd",
        ]
        .iter()
        .map(|a| Arm::parse(a).expect("known arm"))
        .collect::<Vec<_>>()
    };
    let (d_pairs, d_arms, d_seeds, d_cap, d_tune) = match profile {
        Profile::Quick => (
            vec![(1, 2), (1, 3)],
            ["sgd", "meta-sgd-xi0.01", "meta-sgd-reload-xi0.01"]
                .iter()
                .map(|a| Arm::parse(a).expect("known"))
                .collect(),
            1,
            1500,
            false,
        ),
        Profile::Default => (vec![(1, 2), (1, 3), (1, 4)], main_arms(), 2, 3000, false),
        Profile::Full => (vec![(1, 2), (1, 3), (1, 4)], Arm::all(), 5, 3000, true),
    };
    let data = data.unwrap_or_else(|| {
        let base = std::env::var_os("LRMEM_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("data"));
        base.join(if fashion { "fashion-mnist" } else { "mnist" })
    });
    if jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    Ok(Options {
        profile,
        speed_only,
        skip_speed,
        data,
        fashion,
        pixels,
        pairs: pairs.unwrap_or(d_pairs),
        threshold,
        arms: arms.unwrap_or(d_arms),
        seeds: seeds.unwrap_or(d_seeds),
        cap: cap.unwrap_or(d_cap),
        tune: tune.unwrap_or(d_tune),
        jobs,
        out,
    })
}

fn pixel_scale(name: &str) -> tasks::mnist::PixelScale {
    match name {
        "raw" => tasks::mnist::PixelScale::Raw,
        "standardized" => tasks::mnist::PixelScale::Standardized,
        _ => tasks::mnist::PixelScale::Unit,
    }
}

/// `cargo xtask bench`: fetch data if missing, then re-run in release.
pub fn run(args: &[String]) -> Result<()> {
    let opts = parse(args)?;
    if !opts.speed_only {
        let mnist_default = opts
            .data
            .file_name()
            .is_some_and(|n| n == "mnist" || n == "fashion-mnist");
        if !opts.data.join("t10k-labels-idx1-ubyte").is_file()
            && !opts.data.join("t10k-labels-idx1-ubyte.gz").is_file()
            && mnist_default
        {
            let base = opts
                .data
                .parent()
                .context("data dir has a parent")?
                .to_path_buf();
            eprintln!("data missing in {}: fetching", opts.data.display());
            let mut fetch = vec!["--dir".to_string(), base.display().to_string()];
            if opts.fashion {
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

/// The release half of `cargo xtask bench`.
pub fn run_release(args: &[String]) -> Result<()> {
    let opts = parse(args)?;
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("cannot create {}", opts.out.display()))?;
    let mut speed = None;
    if opts.speed_only || !opts.skip_speed {
        let mut speed_args = vec!["--out".to_string(), opts.out.display().to_string()];
        if opts.profile == Profile::Quick {
            speed_args.push("--quick".into());
        }
        crate::speed::run(&speed_args)?;
        speed = Some(crate::speed::report_section(&opts.out)?);
    }
    if opts.speed_only {
        report::write_speed_only(&opts, speed.as_deref())?;
        return Ok(());
    }
    let mnist = tasks::mnist::Mnist::load(&opts.data)?;
    let pairs = opts
        .pairs
        .iter()
        .map(|&(a, b)| Ok(Arc::new(mnist.pair(a, b, pixel_scale(&opts.pixels))?)))
        .collect::<Result<Vec<_>>>()?;
    let protocol = Protocol {
        pairs: opts.pairs.clone(),
        threshold: opts.threshold,
        cap: opts.cap,
        curve_every: (opts.cap / 20).max(10),
    };
    let started = std::time::Instant::now();

    // 1. The paper's setting: base lr 1e-3 for every arm.
    let paper: Vec<RunSpec> = opts
        .arms
        .iter()
        .flat_map(|&arm| {
            (0..opts.seeds).map(move |seed| RunSpec {
                setting: Setting::Paper,
                arm,
                lr: 1e-3,
                seed,
                tasks: usize::MAX,
            })
        })
        .collect();
    let mut results = execute(paper, &protocol, &pairs, opts.jobs, "paper, lr 1e-3")?;

    // 2. Tuning on task 1 (2 seeds per lr), then the tuned setting.
    let mut tuned_lrs = BTreeMap::new();
    if opts.tune {
        let twins: Vec<Arm> =
            opts.arms
                .iter()
                .map(Arm::tuning_twin)
                .fold(Vec::new(), |mut v, a| {
                    if !v.contains(&a) {
                        v.push(a);
                    }
                    v
                });
        let tuning: Vec<RunSpec> = twins
            .iter()
            .flat_map(|&arm| {
                LR_GRID.iter().flat_map(move |&lr| {
                    (100..102).map(move |seed| RunSpec {
                        setting: Setting::Tuning,
                        arm,
                        lr,
                        seed,
                        tasks: 1,
                    })
                })
            })
            .collect();
        let tuning = execute(tuning, &protocol, &pairs, opts.jobs, "tuning on task 1")?;
        for arm in &twins {
            tuned_lrs.insert(arm.name(), report::pick_lr(&tuning, *arm, protocol.cap));
        }
        results.extend(tuning);
        let tuned: Vec<RunSpec> = opts
            .arms
            .iter()
            .flat_map(|&arm| {
                let lr = tuned_lrs[&arm.tuning_twin().name()];
                (0..opts.seeds).map(move |seed| RunSpec {
                    setting: Setting::Tuned,
                    arm,
                    lr,
                    seed,
                    tasks: usize::MAX,
                })
            })
            .collect();
        results.extend(execute(tuned, &protocol, &pairs, opts.jobs, "tuned lr")?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    report::write(
        &opts,
        &protocol,
        &results,
        &tuned_lrs,
        elapsed,
        speed.as_deref(),
    )?;
    println!("report: {}", opts.out.join("REPORT.md").display());
    Ok(())
}

/// Runs `specs` on `jobs` threads with one progress bar per arm; results come back in spec order.
fn execute(
    specs: Vec<RunSpec>,
    protocol: &Protocol,
    pairs: &[Arc<tasks::mnist::BinaryPair>],
    jobs: usize,
    label: &str,
) -> Result<Vec<RunResult>> {
    let multi = MultiProgress::new();
    let style = ProgressStyle::with_template(
        "{prefix:>26} [{bar:30}] {pos}/{len} tasks  {elapsed_precise} eta {eta}",
    )
    .expect("valid template")
    .progress_chars("=> ");
    let mut bars: BTreeMap<String, ProgressBar> = BTreeMap::new();
    for s in &specs {
        let n = s.tasks.min(pairs.len()) as u64;
        let bar = bars.entry(s.arm.name()).or_insert_with(|| {
            let b = multi.add(
                ProgressBar::new(0)
                    .with_style(style.clone())
                    .with_prefix(s.arm.name()),
            );
            b.set_message(label.to_string());
            b
        });
        bar.inc_length(n);
    }
    eprintln!("== {label}: {} runs on {jobs} threads", specs.len());
    let queue: Arc<Mutex<VecDeque<(usize, RunSpec)>>> =
        Arc::new(Mutex::new(specs.into_iter().enumerate().collect()));
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let queue = queue.clone();
            let tx = tx.clone();
            let bars = &bars;
            scope.spawn(move || loop {
                let Some((i, spec)) = queue.lock().expect("queue").pop_front() else {
                    break;
                };
                let bar = &bars[&spec.arm.name()];
                let r = mnist::run(&spec, protocol, pairs, |_| bar.inc(1));
                if tx.send((i, r)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
    });
    for b in bars.values() {
        b.finish();
    }
    let mut out: Vec<(usize, RunResult)> = Vec::new();
    for (i, r) in rx {
        out.push((i, r?));
    }
    out.sort_by_key(|(i, _)| *i);
    Ok(out.into_iter().map(|(_, r)| r).collect())
}
