//! The command line of `cargo xtask bench`: its help (the profiles' arms, the workloads and
//! the optimizers listed from the libraries' registries) and the parser into the library's
//! [`BenchOptions`].

use std::path::PathBuf;

use anyhow::{bail, Result};
use lrmem_bench::report::{BenchOptions, StudyOptions};
use lrmem_bench::workloads::profile::Profile;

/// The usage and what runs, before the profiles (which the registry lists).
const USAGE: &str = "\
cargo xtask bench [--quick | --full | --speed | --maml | --l2l | --study] [options]

Runs workloads (default: sequential binary MNIST, the papers' headline experiment) for every
arm, and the optimizer speed suite, and writes target/lrmem-bench/{REPORT.md, WORKLOAD.jsonl,
WORKLOAD.json, figures as PNG and SVG}: one REPORT.md with a section per workload, one
results file per workload.
";

/// The other modes and the options, after the profiles.
const OPTIONS: &str = "  --speed     only the optimizer speed measurements
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
  --shard K/N         run only the K-th of N disjoint slices of the runs (1 ≤ K ≤ N; a run's
                      slice is a hash of its key, an arm's tuning and tuned runs stay
                      together), into WORKLOAD.shard-K-of-N.jsonl (the study: every stage's
                      study-STAGE.shard-K-of-N.jsonl); no REPORT.md and no speed suite. For the
                      workloads (mnist, --robot, --gan, --full; MAML and L2L run on shard 1)
                      and --study. A job array runs one K per machine: docs/benchmark.md shows
                      a Slurm array and a Kubernetes indexed Job
  --merge DIR...      run nothing: join the results files the shards wrote into these folders
                      (their --out) into the report one machine writes (same options as the
                      shards, without --shard); a file of another experiment is refused, a
                      missing shard named (with --resume its runs are carried out here)
  --no-speed          skip the speed measurements
  --jobs N            parallel runs (default: the machine's cores)
  --out DIR           output directory (default target/lrmem-bench)
";

/// `text` wrapped at 96 columns, every line indented by `indent` spaces.
fn wrap(text: &str, indent: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && indent + line.len() + 1 + word.len() > 96 {
            out.push_str(&format!("{}{line}\n", " ".repeat(indent)));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&format!("{}{line}", " ".repeat(indent)));
    out
}

/// The arms of `profile`, from the registry, as a help line.
fn arms_of(profile: Profile) -> String {
    profile
        .arms()
        .iter()
        .map(|a| a.name.clone())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The profiles, each with its arms as the registry gives them.
fn profiles() -> String {
    let full: Vec<&str> = Profile::Full.workloads();
    let text = [
        (
            "(default)",
            format!(
                "every task; the headline tier of the optimizers' registry: {}; 2 seeds, base lr 1e-3, the learning-rate-free peers at their defaults (MNIST ~10 min on 2 cores; panda-forward and panda-inverse each ~15-25 min on 2 cores: 6 of these arms took 800 s and 730 s on 2 heavily shared cores; the memory arms step the inverse MLP's small tensors at ~1 ms per update against ~0.12 ms for SGD)",
                arms_of(Profile::Default)
            ),
        ),
        (
            "--quick",
            format!(
                "the smoke tier: {}; 1 seed; a short cap and small data (MNIST: tasks 1v2, 1v3; robot: 0.5 s trajectories) (CI smoke, ≲ 1 min per workload)",
                arms_of(Profile::Quick)
            ),
        ),
        (
            "--full",
            format!(
                "every preset arm (below), 5 seeds, paper + tuned, and, unless --workload/--robot/--gan name workloads, every workload: {}, one after the other into one report (many hours on 2 cores). A workload may add its paper's reference arm (began: adam-began = Adam 1e-4, beta1 0.5), leave out the +reload arms (one task) and skip tuning (began: ≈ 29 min on 2 cores)",
                full.join(", ")
            ),
        ),
    ];
    let mut out = String::from(
        "Profiles (each workload with its own cap and curve spacing, see the list below):\n",
    );
    for (flag, what) in text {
        let body = wrap(&what, 14);
        out.push_str(&format!("  {flag:<10}{}\n", &body[12..]));
    }
    out
}

/// The whole help text.
pub fn help() -> String {
    format!("{USAGE}\n{}{OPTIONS}{}", profiles(), help_lists())
}

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
        "\nWorkloads:\n{workloads}\n\nOptimizers (their keys: the API docs of `lrmem_optimizers::registry`, or an unknown key in an arm lists them):\n{optimizers}\n\nPreset arms (the optimizers' registry's presets; the full profile runs them all):\n{}\n",
        wrap(&lrmem_bench::workloads::arms::names().join(", "), 2)
    )
}

/// What the command line starts from: the default profile on MNIST, data in `$LRMEM_DATA` or
/// `data/`, the report in `target/lrmem-bench`, the caches in `target/lrmem-cache`, the
/// robustness summaries in `target/lrmem-robustness`, the speed suite on.
fn defaults() -> BenchOptions {
    let root = crate::root();
    let data_root = std::env::var_os("LRMEM_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("data"));
    let mut o = BenchOptions::new(data_root, root.join("target/lrmem-bench"));
    o.speed = true;
    o.cache_dir = Some(root.join("target/lrmem-cache"));
    o.robustness_dir = Some(root.join("target/lrmem-robustness"));
    o
}

/// The options [`selection`] reads.
const SELECTION: &[&str] = &[
    "study",
    "study-dev",
    "study-render",
    "study-stages",
    "workload",
    "robot",
    "gan",
    "fashion-mnist",
    "set",
    "data",
    "pairs",
    "pixels",
];

/// The options [`experiment`] reads.
const EXPERIMENT: &[&str] = &[
    "threshold",
    "arms",
    "arm",
    "seeds",
    "first-seed",
    "cap",
    "tune",
    "no-tune",
];

/// Parses the options of `cargo xtask bench`; `None` when they asked for the help, which is
/// printed.
pub fn parse(args: &[String]) -> Result<Option<BenchOptions>> {
    use lexopt::prelude::*;
    let mut o = defaults();
    let mut p = lexopt::Parser::from_args(args.iter().map(String::as_str));
    while let Some(arg) = p.next()? {
        match arg {
            Long("quick") => o.profile = Profile::Quick,
            Long("full") => o.profile = Profile::Full,
            Long("speed") => o.speed_only = true,
            Long("no-speed") => o.speed = false,
            Long("maml") => o.maml = true,
            Long("l2l") => o.l2l = true,
            Long(flag) if SELECTION.contains(&flag) => {
                let flag = flag.to_owned();
                selection(&mut o, &flag, &mut p)?;
            }
            Long(flag) if EXPERIMENT.contains(&flag) => {
                let flag = flag.to_owned();
                experiment(&mut o, &flag, &mut p)?;
            }
            Long("resume") => o.resume = true,
            Long("shard") => o.shard = Some(p.value()?.string()?.parse()?),
            Long("merge") => {
                let dirs: Vec<PathBuf> = p.values()?.map(PathBuf::from).collect();
                o.merge.extend(dirs);
            }
            Long("jobs") => o.jobs = p.value()?.parse()?,
            Long("out") => o.out = PathBuf::from(p.value()?),
            Long("help") | Short('h') => {
                print!("{}", help());
                return Ok(None);
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    if o.shard.is_some() {
        // The speed suite measures one machine; the merge measures its own.
        o.speed = false;
    }
    o.validate()?;
    Ok(Some(o))
}

/// The options that choose what runs: the study's parts, the workloads and their options.
fn selection(o: &mut BenchOptions, flag: &str, p: &mut lexopt::Parser) -> Result<()> {
    use lexopt::ValueExt;
    let study = || StudyOptions::default();
    match flag {
        "study" => {
            o.study.get_or_insert_with(study);
        }
        "study-dev" => o.study.get_or_insert_with(study).dev_only = true,
        "study-render" => o.study.get_or_insert_with(study).render = true,
        "study-stages" => {
            let stages = p
                .value()?
                .string()?
                .split(',')
                .map(|x| x.trim().parse())
                .collect::<Result<_, _>>()?;
            o.study.get_or_insert_with(study).stages = Some(stages);
        }
        "workload" => {
            let name = p.value()?.string()?;
            o.workloads.get_or_insert_with(Vec::new).push(name);
        }
        "robot" => o
            .workloads
            .get_or_insert_with(Vec::new)
            .extend(["panda-forward".to_string(), "panda-inverse".to_string()]),
        "gan" => o
            .workloads
            .get_or_insert_with(Vec::new)
            .push("began".to_string()),
        "fashion-mnist" => o
            .workloads
            .get_or_insert_with(Vec::new)
            .push("fashion-mnist".into()),
        "set" => {
            let kv = p.value()?.string()?;
            let Some((k, v)) = kv.split_once('=') else {
                bail!("--set takes KEY=VALUE, got `{kv}`");
            };
            o.workload_options
                .insert(k.trim().to_string(), v.trim().to_string());
        }
        // --data, --pairs, --pixels: short for --set dir=, pairs=, pixels=.
        key => {
            let key = if key == "data" { "dir" } else { key };
            let value = p.value()?.string()?;
            o.workload_options.insert(key.into(), value);
        }
    }
    Ok(())
}

/// The options that change a profile's experiments.
fn experiment(o: &mut BenchOptions, flag: &str, p: &mut lexopt::Parser) -> Result<()> {
    use lexopt::ValueExt;
    let x = &mut o.overrides;
    match flag {
        "threshold" => x.threshold = Some(p.value()?.parse()?),
        "arms" => {
            let list = lrmem_bench::workloads::arms::parse_list(&p.value()?.string()?)?;
            x.arms.get_or_insert_with(Vec::new).extend(list);
        }
        "arm" => {
            let arm = lrmem_bench::workloads::arms::parse(&p.value()?.string()?)?;
            x.arms.get_or_insert_with(Vec::new).push(arm);
        }
        "seeds" => x.seeds = Some(p.value()?.parse()?),
        "first-seed" => x.first_seed = p.value()?.parse()?,
        "cap" => x.cap = Some(p.value()?.parse()?),
        "tune" => x.tune = Some(true),
        _ => x.tune = Some(false),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn shards_and_merges_parse_and_bad_ones_are_errors() {
        let o = parse(&args("--quick --shard 2/3 --out x"))
            .unwrap()
            .unwrap();
        assert_eq!(o.shard.map(|s| (s.index(), s.count())), Some((2, 3)));
        assert!(!o.speed, "a shard runs no speed suite");
        let o = parse(&args("--merge a b --no-speed --jobs 1"))
            .unwrap()
            .unwrap();
        assert_eq!(o.merge, [PathBuf::from("a"), PathBuf::from("b")]);
        for bad in [
            "--shard 0/3",
            "--shard 4/3",
            "--shard x",
            "--shard 1/2 --merge a",
            "--maml --shard 1/2",
        ] {
            let e = parse(&args(bad)).unwrap_err().to_string();
            assert!(!e.is_empty(), "{bad}");
        }
    }

    #[test]
    fn the_help_lists_every_profiles_arms_from_the_registry() {
        let text = help();
        for profile in [Profile::Quick, Profile::Default] {
            for arm in profile.arms() {
                assert!(
                    text.contains(&arm.name),
                    "{} missing from the help",
                    arm.name
                );
            }
        }
        for (_, preset) in
            lrmem_optimizers::registry::presets(lrmem_optimizers::registry::Tier::Full)
        {
            assert!(text.contains(preset.name));
        }
        assert!(text.contains("--shard K/N") && text.contains("--merge DIR"));
    }
}
