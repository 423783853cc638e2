//! `cargo xtask bench`: the command line over the bench library. It parses the options
//! (`cli.rs`), fetches missing data, builds itself in release and runs the work there (dfdx is
//! ~200× slower unoptimised; the release run is `xtask bench-run` with the same options), where
//! it runs the speed binary and then `lrmem_bench::report::run`, which runs the workloads and
//! studies and writes the report, with progress bars (`bars.rs`) watching.

mod bars;
mod cli;

use anyhow::{Context, Result};

/// `cargo xtask bench`: fetch the data the options need if it is missing, then re-run in
/// release.
pub fn run(args: &[String]) -> Result<()> {
    let Some(o) = cli::parse(args)? else {
        return Ok(());
    };
    for set in o.data_sets()? {
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
    let mut all = vec!["-p", "xtask", "--", "bench-run"];
    all.extend(args.iter().map(String::as_str));
    crate::release(&all)
}

/// The release half of `cargo xtask bench`: the speed suite (its own release binary) where
/// asked, then everything else through the library.
pub fn run_release(args: &[String]) -> Result<()> {
    let Some(o) = cli::parse(args)? else {
        return Ok(());
    };
    std::fs::create_dir_all(&o.out)
        .with_context(|| format!("cannot create {}", o.out.display()))?;
    if o.speed_only || o.speed {
        let mut speed_args = vec!["--out".to_string(), o.out.display().to_string()];
        if o.profile == lrmem_bench::workloads::profile::Profile::Quick {
            speed_args.push("--quick".into());
        }
        crate::speed::run(&speed_args)?;
    }
    let written = lrmem_bench::report::run(&o, &bars::Bars::new())?;
    if let Some(report) = written.report {
        println!("report: {}", report.display());
    }
    if let Some(shard) = o.shard {
        for path in &written.shard_files {
            println!("shard {shard}: results in {}", path.display());
        }
        println!(
            "when every shard is done: the same command with --merge and the shards' folders (--out) instead of --shard"
        );
    }
    Ok(())
}
