//! The command line of the speed suite (`lrmem_bench::speed`): measures, then writes the report.
//!
//! ```text
//! cargo run --release -p lrmem-bench --bin speed -- [--quick] [--json FILE] [--out DIR]
//! cargo run --release -p lrmem-bench --bin speed -- --render FILE --out DIR
//! ```
//! `--json FILE` writes the raw report (`speed.json`'s schema); `--out DIR` writes `speed.json`,
//! `SPEED.md` and `speed_scaling.{svg,png}` into DIR; with neither, the JSON goes to stdout.
//! `--render FILE` measures nothing: it renders an existing report into `--out DIR`.
//! Progress goes to stderr. `cargo xtask bench --speed` runs this with `--out`.

use std::path::PathBuf;

use lrmem_bench::speed::{self, SpeedOptions, SpeedReport};

const USAGE: &str =
    "usage: speed [--quick] [--json FILE] [--out DIR]\n       speed --render FILE --out DIR";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut quick = false;
    let mut json: Option<PathBuf> = None;
    let mut out: Option<PathBuf> = None;
    let mut render: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |flag: &str| {
            args.next()
                .map(PathBuf::from)
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--quick" => quick = true,
            "--json" => json = Some(value("--json")?),
            "--out" => out = Some(value("--out")?),
            "--render" => render = Some(value("--render")?),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}\n{USAGE}").into()),
        }
    }
    let report = match &render {
        Some(path) => {
            if out.is_none() {
                return Err(format!("--render needs --out DIR\n{USAGE}").into());
            }
            SpeedReport::read(path)?
        }
        None => speed::measure_with_progress(&SpeedOptions::new(quick), |r, d| {
            eprint!("{}", r.size_summary(d));
        })?,
    };
    if let Some(path) = &json {
        report.write(path)?;
    }
    if let Some(dir) = &out {
        for path in report.write_files(dir)? {
            eprintln!("speed: wrote {}", path.display());
        }
    }
    if json.is_none() && out.is_none() {
        print!("{}", report.to_json());
    }
    Ok(())
}
