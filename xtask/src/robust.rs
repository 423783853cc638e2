//! `cargo xtask fuzz` and `cargo xtask soak`: run the release-built `robust` binary of the bench
//! crate (`lrmem_bench::robust`), which checks every promise of the optimizers under structured
//! fuzzing and a long adversarial soak, writes `FUZZ.md` / `SOAK.md` into
//! `target/lrmem-robustness` and fails if a promise broke. The options are the binary's
//! (`--quick`, `--cases N` / `--steps N`, `--seed S`, `--target T`, `--out DIR`).
//! `fuzz --coverage` is the coverage-guided fuzzer instead ([`crate::afl`]).

use anyhow::Result;

/// Runs `robust <command> <args>` in a release build, or AFL++ for `fuzz --coverage`.
pub fn run(command: &str, args: &[String]) -> Result<()> {
    if command == "fuzz" && args.iter().any(|a| a == "--coverage") {
        let rest: Vec<String> = args
            .iter()
            .filter(|a| *a != "--coverage")
            .cloned()
            .collect();
        return crate::afl::run(&rest);
    }
    let mut all = vec!["-p", "lrmem-bench", "--bin", "robust", "--", command];
    all.extend(args.iter().map(String::as_str));
    crate::release(&all)
}
