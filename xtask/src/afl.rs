//! `cargo xtask fuzz --coverage`: coverage-guided fuzzing (AFL++ through cargo-afl) of every
//! loader of saved state and of the spec parser, the harness crate `fuzz/` (outside the
//! workspace). Installs cargo-afl into the target folder if it is missing, builds the harness,
//! has it write its seed corpus (valid inputs generated from the registry), fuzzes for a fixed
//! time, then reads AFL++'s `fuzzer_stats`, prints a summary, writes
//! `target/lrmem-robustness/AFL.md` and fails if a crash or a hang was saved, naming the files
//! and how to reproduce them (docs/guide.md §11).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// The cargo-afl (and so AFL++ and `afl` crate) version the harness is built with: the one in
/// `fuzz/Cargo.lock`.
const CARGO_AFL: &str = "0.18.2";
/// `--quick`: a smoke for CI.
const QUICK_SECONDS: u64 = 60;
/// Without `--quick` or `--seconds`.
const DEFAULT_SECONDS: u64 = 600;

/// Runs `cargo xtask fuzz --coverage [--quick] [--seconds N]` (`args` without `--coverage`).
pub fn run(args: &[String]) -> Result<()> {
    let mut seconds = DEFAULT_SECONDS;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => seconds = QUICK_SECONDS,
            "--seconds" => {
                let n = it.next().context("--seconds needs a number")?;
                seconds = n
                    .parse()
                    .ok()
                    .filter(|&s| s > 0)
                    .with_context(|| format!("--seconds {n}: give a positive whole number"))?;
            }
            bad => bail!(
                "unknown option `{bad}` for `cargo xtask fuzz --coverage` \
                 (it takes --quick and --seconds N)"
            ),
        }
    }
    let root = crate::root();
    // The workspace's target folder (CARGO_TARGET_DIR where set, as cargo reads it), so that a
    // local run with its own target folder and CI's `target/` both work.
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => std::env::current_dir()?.join(dir),
        None => root.join("target"),
    };
    let tools = target.join("afl-tools");
    let build = target.join("fuzz");
    let corpus = build.join("corpus");
    let out = build.join("out");
    let binary = build.join("release").join("lrmem-fuzz");
    // cargo-afl is a cargo subcommand: found on PATH, with our install first.
    let path = std::env::join_paths(std::iter::once(tools.join("bin")).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))?;
    let cargo = |args: &[&str], dir: &Path| {
        let mut c = Command::new("cargo");
        c.args(args).current_dir(dir).env("PATH", &path);
        c
    };

    if !tools.join("bin").join("cargo-afl").exists() {
        eprintln!(
            "installing cargo-afl {CARGO_AFL} (and AFL++) into {}",
            tools.display()
        );
        // Run in the workspace, under its pinned toolchain: cargo-afl builds AFL++'s runtime
        // for the rustc it is installed with, which must be the one that builds the harness.
        let mut c = cargo(
            &[
                "install",
                "cargo-afl",
                "--version",
                CARGO_AFL,
                "--locked",
                "--root",
            ],
            &root,
        );
        c.arg(&tools).env_remove("CARGO_TARGET_DIR");
        check(c.status()?, "cargo install cargo-afl")?;
    }
    let mut c = cargo(
        &["afl", "build", "--release", "--locked"],
        &root.join("fuzz"),
    );
    c.env("CARGO_TARGET_DIR", &build);
    check(c.status()?, "cargo afl build (in fuzz/)")?;

    // Fresh corpus and findings every run: the seeds are what the code writes today.
    for dir in [&corpus, &out] {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
    }
    let status = Command::new(&binary)
        .arg("--seed-corpus")
        .arg(&corpus)
        .status()?;
    check(status, "writing the seed corpus")?;
    let seeds = std::fs::read_dir(&corpus)?.count();

    // AFL++'s own screen is hundreds of lines a second without a terminal: into a log.
    std::fs::create_dir_all(&out)?;
    let log_path = out.join("afl-fuzz.log");
    let log = std::fs::File::create(&log_path)?;
    eprintln!(
        "fuzzing for {seconds} s from {seeds} seeds (AFL++ log: {})",
        log_path.display()
    );
    let mut c = cargo(&["afl", "fuzz", "-i"], &root);
    c.arg(&corpus)
        .arg("-o")
        .arg(&out)
        // A hang is an input that runs a second (an input takes well under a millisecond):
        // AFL++'s calibrated limit (tens of ms) would count a slow moment of a busy machine.
        .args(["-t", "1000", "-V", &seconds.to_string(), "--"])
        .arg(&binary)
        .env("AFL_NO_UI", "1")
        // Containers can neither set the CPU governor nor `core_pattern`, nor always bind a
        // free core: none of which changes what is found.
        .env("AFL_SKIP_CPUFREQ", "1")
        .env("AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES", "1")
        .env("AFL_NO_AFFINITY", "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let status = c.status()?;
    if !status.success() {
        bail!(
            "afl-fuzz failed ({status}); the end of its log:\n{}",
            tail(&log_path, 30)
        );
    }

    let findings = out.join("default");
    let stats = Stats::read(&findings.join("fuzzer_stats"))?;
    let crashes = saved(&findings.join("crashes"))?;
    let hangs = saved(&findings.join("hangs"))?;
    let summary = format!(
        "AFL++: {} executions in {} s ({:.0}/s), corpus {} ({} seeds, {} found), \
         {} edges of {} ({}), {} crashes, {} hangs",
        stats.get("execs_done"),
        stats.get("run_time"),
        stats.get("execs_done").parse::<f64>().unwrap_or(0.0)
            / stats.get("run_time").parse::<f64>().unwrap_or(1.0).max(1.0),
        stats.get("corpus_count"),
        seeds,
        stats.get("corpus_found"),
        stats.get("edges_found"),
        stats.get("total_edges"),
        stats.get("bitmap_cvg"),
        stats.get("saved_crashes"),
        stats.get("saved_hangs"),
    );
    println!("{summary}");
    let report_dir = root.join("target/lrmem-robustness");
    std::fs::create_dir_all(&report_dir)?;
    let report = report_dir.join("AFL.md");
    std::fs::write(
        &report,
        markdown(&summary, &stats, &crashes, &hangs, &binary),
    )?;
    println!("wrote {}", report.display());

    if !crashes.is_empty() || !hangs.is_empty() {
        let list: Vec<String> = crashes
            .iter()
            .chain(&hangs)
            .map(|f| format!("  {}", f.display()))
            .collect();
        bail!(
            "AFL++ saved {} crashes and {} hangs (a broken promise: see the panic message):\n{}\n\
             reproduce one with `{} < FILE`",
            crashes.len(),
            hangs.len(),
            list.join("\n"),
            binary.display()
        );
    }
    Ok(())
}

/// An error naming `what` unless `status` is success.
fn check(status: std::process::ExitStatus, what: &str) -> Result<()> {
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// The last `n` lines of the file at `path` (empty if it cannot be read).
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The inputs AFL++ saved in `dir` (`crashes/` or `hangs/`), without its README.
fn saved(dir: &Path) -> Result<Vec<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut files = Vec::new();
    for e in entries {
        let path = e?.path();
        if path.file_name().is_some_and(|n| n != "README.txt") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// AFL++'s `fuzzer_stats`: `key : value` lines.
struct Stats(Vec<(String, String)>);

impl Stats {
    fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading AFL++'s statistics {}", path.display()))?;
        Ok(Stats(
            text.lines()
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect(),
        ))
    }

    /// The value of `key`, `?` where AFL++ did not write it.
    fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map_or("?", |(_, v)| v.as_str())
    }
}

/// `AFL.md`: the summary, the figures, what was fuzzed and any findings with how to reproduce.
fn markdown(
    summary: &str,
    stats: &Stats,
    crashes: &[PathBuf],
    hangs: &[PathBuf],
    binary: &Path,
) -> String {
    let mut md = String::from("# Coverage-guided fuzzing (`cargo xtask fuzz --coverage`)\n\n");
    md.push_str(
        "AFL++ (cargo-afl) on the harness `fuzz/`: optimizer spec text (parse, print, build, \
         step, save and load back), `Checkpoint::load` into every registry entry, \
         `Memory::from_bytes`, `ContextMemory::from_bytes` and `L2lWeights::load`, each \
         accepted input checked for the promises of docs/guide.md §11.\n\n",
    );
    md.push_str(&format!("{summary}\n\n| statistic | value |\n|---|---|\n"));
    for key in [
        "run_time",
        "execs_done",
        "execs_per_sec",
        "corpus_count",
        "corpus_found",
        "edges_found",
        "total_edges",
        "bitmap_cvg",
        "stability",
        "saved_crashes",
        "saved_hangs",
    ] {
        md.push_str(&format!("| {key} | {} |\n", stats.get(key)));
    }
    if crashes.is_empty() && hangs.is_empty() {
        md.push_str("\nNo crash and no hang.\n");
    } else {
        md.push_str(&format!(
            "\nFindings (reproduce one with `{} < FILE`):\n\n",
            binary.display()
        ));
        for f in crashes.iter().chain(hangs) {
            md.push_str(&format!("- `{}`\n", f.display()));
        }
    }
    md
}
