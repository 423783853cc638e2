//! `cargo xtask ci`: what `.ci/run` runs, so that a green local run means a green CI.

use anyhow::Result;

pub fn run(args: &[String]) -> Result<()> {
    if let Some(bad) = args.first() {
        anyhow::bail!("unknown option `{bad}` for `cargo xtask ci`");
    }
    crate::test::run(&[])?;
    Ok(())
}
