//! The speed suite of `cargo xtask bench`: runs the release-built `speed` binary of the bench
//! crate (`lrmem_bench::speed`: every optimizer step timed side by side with STREAM copy/triad and
//! the dense D×M baseline), which writes `speed.json`, `SPEED.md` and
//! `speed_scaling.{svg,png}`, from which `lrmem_bench::report::run` renders the speed section of
//! REPORT.md.
//!
//! ```text
//! cargo xtask bench --speed [--quick]        # through the bench dispatcher
//! speed::run(&["--quick".into(), "--out".into(), dir])   # directly
//! ```
//! `--quick` (≤ 1 minute): 5 interleaved rounds per size; default (≤ 5 minutes): 15.
//! `--out DIR` defaults to `<workspace>/target/lrmem-bench`. The measurement runs in a release
//! build of its own (xtask itself is built for development, too slow to time anything).

use std::path::PathBuf;

use anyhow::{Context, Result};

/// Measures and writes `speed.json`, `SPEED.md` and `speed_scaling.{svg,png}` into the output
/// directory. Arguments: `--quick`, `--out DIR`.
pub fn run(args: &[String]) -> Result<()> {
    let mut quick = false;
    let mut out = crate::root().join("target/lrmem-bench");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--out" => out = PathBuf::from(it.next().context("--out needs a directory")?),
            other => {
                anyhow::bail!("speed: unknown argument `{other}` (expected --quick, --out DIR)")
            }
        }
    }
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    eprintln!(
        "speed: measuring ({} profile)",
        if quick { "quick" } else { "full" }
    );
    let out = out.display().to_string();
    let mut all = vec!["-p", "lrmem-bench", "--bin", "speed", "--"];
    if quick {
        all.push("--quick");
    }
    all.extend(["--out", out.as_str()]);
    crate::release(&all)
}
