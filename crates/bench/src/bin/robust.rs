//! `cargo xtask fuzz` and `cargo xtask soak`, in a release build: the command line of
//! [`lrmem_bench::robust`]. Writes `FUZZ.md` or `SOAK.md` into `--out` and prints it; exits with
//! status 1 if any promise broke.
//!
//! ```text
//! robust fuzz [--quick] [--cases N] [--target checkpoints|configs|gradients] [--seed S] [--out DIR]
//! robust soak [--quick] [--steps N] [--seed S] [--out DIR]
//! ```
//! Defaults: fuzz 100,000 cases per target (`--quick`: 2,000); soak 1,000,000 steps per
//! optimizer (`--quick`: 10,000); seed 0; out `target/lrmem-robustness`.

use std::path::PathBuf;
use std::process::ExitCode;

use lrmem_bench::robust;

fn main() -> ExitCode {
    match run() {
        Ok(clean) => {
            if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("robust: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<bool, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = args.first().cloned().unwrap_or_default();
    let (mut quick, mut count, mut seed, mut target) = (false, None, 0u64, None);
    let mut out = PathBuf::from("target/lrmem-robustness");
    let mut it = args.iter().skip(1);
    let number = |v: Option<&String>, what: &str| -> Result<u64, String> {
        v.and_then(|s| s.replace('_', "").parse().ok())
            .ok_or_else(|| format!("{what} needs a whole number"))
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--cases" | "--steps" => count = Some(number(it.next(), a)?),
            "--seed" => seed = number(it.next(), a)?,
            "--target" => target = Some(it.next().ok_or("--target needs a name")?.clone()),
            "--out" => out = PathBuf::from(it.next().ok_or("--out needs a directory")?),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let (text, clean, file) = match command.as_str() {
        "fuzz" => {
            let cases = count.unwrap_or(if quick { 2_000 } else { 100_000 });
            let targets: Vec<&str> = match &target {
                Some(t) if robust::TARGETS.contains(&t.as_str()) => vec![t.as_str()],
                Some(t) => {
                    return Err(format!(
                        "no fuzz target `{t}`; the targets are {}",
                        robust::TARGETS.join(", ")
                    ))
                }
                None => robust::TARGETS.to_vec(),
            };
            let found: Vec<_> = targets
                .iter()
                .map(|t| {
                    eprintln!("fuzz: {t}, {cases} cases");
                    robust::fuzz(t, cases, seed).expect("a known target")
                })
                .collect();
            let clean = found.iter().all(|f| f.failed == 0);
            (robust::fuzz_markdown(&found, seed), clean, "FUZZ.md")
        }
        "soak" => {
            let steps = count.unwrap_or(if quick { 10_000 } else { 1_000_000 });
            eprintln!("soak: {steps} steps per optimizer");
            let soaked = robust::soak(steps, seed);
            let clean = soaked.iter().all(|s| s.found.failed == 0);
            (
                robust::soak_markdown(&soaked, steps, seed),
                clean,
                "SOAK.md",
            )
        }
        _ => return Err("expected `fuzz` or `soak` first".to_owned()),
    };
    print!("{text}");
    let path = out.join(file);
    std::fs::write(&path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(clean)
}
