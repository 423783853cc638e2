//! `cargo xtask ci`: what `.ci/run` runs, so that a green local run means a green CI.

use anyhow::Result;

pub fn run(args: &[String]) -> Result<()> {
    if let Some(bad) = args.first() {
        anyhow::bail!("unknown option `{bad}` for `cargo xtask ci`");
    }
    // 1. Everything a change must pass.
    crate::test::run(&[])?;
    // 2. Bounded smokes of the fuzzer and the soak (every promise under hostile input), whose
    //    summaries the report below includes.
    crate::robust::run("fuzz", &["--quick".to_string()])?;
    crate::robust::run("soak", &["--quick".to_string()])?;
    //    And a minute of coverage-guided fuzzing of the loaders and the spec parser (AFL++;
    //    about three minutes with its install and the harness's build).
    crate::robust::run("fuzz", &["--coverage".to_string(), "--quick".to_string()])?;
    // 3. The real data (checksummed), then a smoke run of the experiment and the speed suite.
    crate::data::run(&[])?;
    crate::bench::run(&["--quick".to_string()])?;
    // 4. Smokes of both robot workloads (small simulated data, a short cap; ~1 min in all),
    //    of the GAN (100 iterations), of the MAML sweep, of the learned optimizer's study and of the memory's study, into their own folders so that the
    //    MNIST report above stays.
    for (flag, folder) in [
        ("--robot", "robot"),
        ("--gan", "gan"),
        ("--maml", "maml"),
        ("--l2l", "l2l"),
        ("--study", "study"),
    ] {
        let out = crate::root().join(format!("target/lrmem-bench-{folder}"));
        crate::bench::run(&[
            "--quick".to_string(),
            flag.to_string(),
            "--no-speed".to_string(),
            "--out".to_string(),
            out.display().to_string(),
        ])?;
    }
    // 5. The study's report rendered again from the smoke's results files, running nothing
    //    (how an interrupted study is reported).
    crate::bench::run(&[
        "--quick".to_string(),
        "--study-render".to_string(),
        "--no-speed".to_string(),
        "--out".to_string(),
        crate::root()
            .join("target/lrmem-bench-study")
            .display()
            .to_string(),
    ])?;
    Ok(())
}
