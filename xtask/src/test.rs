//! `cargo xtask test`: everything a change must pass.

use anyhow::Result;
use xshell::{cmd, Shell};

pub fn run(args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    if let Some(bad) = args.iter().find(|a| *a != "--quick") {
        anyhow::bail!("unknown option `{bad}` for `cargo xtask test`");
    }
    let sh = Shell::new()?;
    sh.change_dir(crate::root());
    if !quick {
        cmd!(sh, "cargo fmt --all -- --check").run()?;
        cmd!(
            sh,
            "cargo clippy --workspace --all-targets --all-features --locked -- -D warnings"
        )
        .run()?;
    }
    // no_std: memory-core alone (features unify across a workspace build), with and without serde,
    // and a #![no_std] consumer crate that would fail to link if anything pulled in std.
    cmd!(
        sh,
        "cargo build --locked -p lrmem-memory-core --no-default-features"
    )
    .run()?;
    cmd!(
        sh,
        "cargo build --locked -p lrmem-memory-core --no-default-features --features serde"
    )
    .run()?;
    cmd!(sh, "cargo build --locked --manifest-path xtask/no-std-check/Cargo.toml --target-dir target/no-std-check").run()?;
    cmd!(sh, "cargo test --workspace --all-features --locked").run()?;
    if !quick {
        // Documentation without a warning (broken or private intra-doc links fail).
        cmd!(
            sh,
            "cargo doc --workspace --no-deps --all-features --locked"
        )
        .env("RUSTDOCFLAGS", "-D warnings")
        .run()?;
        // Every library crate packages and builds from its package alone, as crates.io would
        // build it (the crates depend on each other through a local overlay registry).
        // `--allow-dirty`: so that a change can be checked before it is committed.
        cmd!(
            sh,
            "cargo package --workspace --exclude xtask --locked --allow-dirty"
        )
        .run()?;
    }
    Ok(())
}
