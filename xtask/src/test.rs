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
        forget_packaged_sources()?;
        cmd!(
            sh,
            "cargo package --workspace --exclude xtask --locked --allow-dirty"
        )
        .run()?;
    }
    Ok(())
}

/// Makes `cargo package` verify this change's packages, not an earlier run's: the overlay
/// registry it builds them from extracts each packaged crate once per version (into
/// `$CARGO_HOME/registry/src`), and cargo takes a registry crate's compiled artifacts for
/// unchanged while its version is, which stays 0.1.0 between changes. So both go: the
/// extracted `lrmem-*` sources (no crate of crates.io is named so here) and the build
/// fingerprints of `lrmem-*` in the target folder (the workspace crates rebuild in seconds).
fn forget_packaged_sources() -> Result<()> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| crate::root().join("target"));
    for profile in ["debug", "release"] {
        let Ok(entries) = std::fs::read_dir(target.join(profile).join(".fingerprint")) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with("lrmem-") {
                std::fs::remove_dir_all(e.path())?;
            }
        }
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cargo")));
    let Some(src) = home.map(|h| h.join("registry").join("src")) else {
        return Ok(());
    };
    let Ok(registries) = std::fs::read_dir(&src) else {
        return Ok(());
    };
    for registry in registries.flatten() {
        let Ok(crates) = std::fs::read_dir(registry.path()) else {
            continue;
        };
        for krate in crates.flatten() {
            if krate.file_name().to_string_lossy().starts_with("lrmem-") {
                std::fs::remove_dir_all(krate.path())?;
            }
        }
    }
    Ok(())
}
