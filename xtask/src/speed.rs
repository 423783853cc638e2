//! Placeholder: the speed suite is being written (issue 4); this file will be replaced.

pub fn run(_args: &[String]) -> anyhow::Result<()> {
    Ok(())
}
