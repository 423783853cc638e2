//! `cargo xtask data`: fetch the real data sets (filled in by the MNIST issue).

use anyhow::Result;

pub fn run(_args: &[String]) -> Result<()> {
    anyhow::bail!("`cargo xtask data` is not implemented yet")
}
