//! Runs spread over machines: [`Shard`] `K/N` takes the K-th of N disjoint slices of an
//! experiment's runs, chosen by a stable hash of each run's key (never by its position, so that a
//! slice does not move when another machine's runs do), and writes its own results file
//! ([`results_file_name`]); [`merge`](super::merge) joins the files ([`shard_files`] finds them).

use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{RunSpec, Setting};
use crate::BenchError;

/// The K-th of N slices of an experiment's runs (1 ≤ K ≤ N): what one machine of a job array
/// carries out.
///
/// A paper run belongs to the shard its own [`RunSpec::key`] hashes to. A tuning run and a
/// tuned run belong to the shard of their arm's tuning (its tuning twin's name): an arm's tuned
/// rate is picked from its tuning runs, and the grid widens on what they gave, so an arm's
/// tuning and tuned runs stay on one machine.
///
/// ```
/// use lrmem_bench::harness::Shard;
/// let shard: Shard = "2/3".parse()?;
/// assert_eq!((shard.index(), shard.count()), (2, 3));
/// assert_eq!(shard.to_string(), "2/3");
/// assert!("0/3".parse::<Shard>().is_err() && "4/3".parse::<Shard>().is_err());
/// # Ok::<(), lrmem_bench::BenchError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shard {
    index: usize,
    count: usize,
}

impl Shard {
    /// Shard `index` of `count` (1-based: 1 ≤ `index` ≤ `count`).
    pub fn new(index: usize, count: usize) -> Result<Shard, BenchError> {
        if count == 0 || index == 0 || index > count {
            return Err(BenchError::Parse(format!(
                "a shard is K/N with 1 ≤ K ≤ N (e.g. 2/3: the second of three machines), got {index}/{count}"
            )));
        }
        Ok(Shard { index, count })
    }

    /// K: which slice (1-based).
    pub fn index(&self) -> usize {
        self.index
    }

    /// N: how many slices.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Whether this shard carries out `run`.
    pub fn holds(&self, run: &RunSpec) -> bool {
        self.holds_key(&shard_key(run))
    }

    /// Whether this shard holds what a run's shard key ([`shard_key`]) names.
    fn holds_key(&self, key: &str) -> bool {
        slot(key, self.count) == self.index - 1
    }

    /// The shard of `count` that carries out `run`.
    pub fn of(run: &RunSpec, count: usize) -> Result<Shard, BenchError> {
        Shard::new(slot(&shard_key(run), count.max(1)) + 1, count)
    }

    /// Whether this shard holds the tuning and tuned runs of the arm whose tuning twin is named
    /// `twin`.
    pub(super) fn holds_tuning_of(&self, twin: &str) -> bool {
        self.holds_key(&tuning_key(twin))
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = BenchError;

    /// `K/N`, e.g. `2/3`.
    fn from_str(text: &str) -> Result<Shard, BenchError> {
        let bad = || {
            BenchError::Parse(format!(
                "a shard is K/N with 1 ≤ K ≤ N (e.g. 2/3: the second of three machines), got `{text}`"
            ))
        };
        let (k, n) = text.trim().split_once('/').ok_or_else(bad)?;
        let k = k.trim().parse().map_err(|_| bad())?;
        let n = n.trim().parse().map_err(|_| bad())?;
        Shard::new(k, n).map_err(|_| bad())
    }
}

/// What decides a run's shard: a paper run's own key; a tuning or tuned run's arm's tuning (see
/// [`Shard`]).
fn shard_key(run: &RunSpec) -> String {
    match run.setting {
        Setting::Paper => run.key(),
        Setting::Tuning | Setting::Tuned => tuning_key(&run.arm.tuning_twin().name),
    }
}

fn tuning_key(twin: &str) -> String {
    format!("tuning|{twin}")
}

/// The slot (0-based) of `key` among `count`: FNV-1a (64 bits) of its bytes, modulo `count`.
/// Stable across machines, builds and Rust versions, unlike the standard library's hasher.
fn slot(key: &str, count: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key.as_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % count as u64) as usize
}

/// The results file's name for the runs of `stem` (a workload's name, a study stage's):
/// `stem.jsonl`, or `stem.shard-K-of-N.jsonl` for a shard, so that the shards of a job array can
/// write into one shared folder.
///
/// ```
/// use lrmem_bench::harness::{results_file_name, Shard};
/// assert_eq!(results_file_name("mnist", None), "mnist.jsonl");
/// assert_eq!(results_file_name("mnist", Some(Shard::new(2, 3)?)), "mnist.shard-2-of-3.jsonl");
/// # Ok::<(), lrmem_bench::BenchError>(())
/// ```
pub fn results_file_name(stem: &str, shard: Option<Shard>) -> String {
    match shard {
        None => format!("{stem}.jsonl"),
        Some(s) => format!("{stem}.shard-{}-of-{}.jsonl", s.index, s.count),
    }
}

/// Whether `name` is a results file of `stem`: [`results_file_name`] of `stem` for no shard or
/// for any shard.
fn is_results_of(name: &str, stem: &str) -> bool {
    if name == results_file_name(stem, None) {
        return true;
    }
    let Some(middle) = name
        .strip_prefix(stem)
        .and_then(|r| r.strip_prefix(".shard-"))
        .and_then(|r| r.strip_suffix(".jsonl"))
    else {
        return false;
    };
    middle
        .split_once("-of-")
        .is_some_and(|(k, n)| k.parse::<usize>().is_ok() && n.parse::<usize>().is_ok())
}

/// Every results file of `stem` in `dirs`, sharded or not, in folder order and by name within a
/// folder: what [`merge`](super::merge) joins. An error names the folders when there is none.
pub fn shard_files(dirs: &[PathBuf], stem: &str) -> Result<Vec<PathBuf>, BenchError> {
    let mut files = Vec::new();
    for dir in dirs {
        let entries = std::fs::read_dir(dir).map_err(BenchError::io(dir))?;
        let mut here: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| is_results_of(n, stem))
            })
            .collect();
        here.sort();
        files.extend(here);
    }
    if files.is_empty() {
        return Err(BenchError::Parse(format!(
            "no results file of `{stem}` ({} or {}) in {}: pass the folders the shards wrote into (their --out)",
            results_file_name(stem, None),
            results_file_name(stem, Shard::new(1, 2).ok()).replace("1-of-2", "K-of-N"),
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(files)
}

/// The shards that hold `runs`, for a message: `2/3, 3/3` when every merged file was written
/// by a shard of one count N, else nothing.
pub(super) fn holders(runs: &[RunSpec], counts: &[usize]) -> Vec<Shard> {
    let [count] = counts else {
        return Vec::new();
    };
    let mut out: Vec<Shard> = runs
        .iter()
        .filter_map(|r| Shard::of(r, *count).ok())
        .collect();
    out.sort_by_key(|s| s.index);
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::Arm;

    fn spec(setting: Setting, arm: &str, seed: u64) -> RunSpec {
        RunSpec {
            setting,
            arm: Arm::parse(arm).unwrap(),
            lr: Some(1e-3),
            seed,
            tasks: 3,
        }
    }

    /// Every run is in exactly one shard, whatever N.
    #[test]
    fn shards_are_disjoint_and_cover_every_run() {
        let runs: Vec<RunSpec> = (0..40)
            .flat_map(|seed| {
                [
                    spec(Setting::Paper, "sgd", seed),
                    spec(Setting::Tuning, "adam", seed),
                    spec(Setting::Tuned, "meta-sgd+reload", seed),
                ]
            })
            .collect();
        for n in 1..=5 {
            for r in &runs {
                let holders: Vec<usize> = (1..=n)
                    .filter(|&k| Shard::new(k, n).unwrap().holds(r))
                    .collect();
                assert_eq!(holders.len(), 1, "{r:?} in {holders:?} of {n}");
                assert_eq!(Shard::of(r, n).unwrap().index(), holders[0]);
            }
        }
        // An arm's tuning and tuned runs stay together; paper runs spread.
        let s = Shard::new(1, 3).unwrap();
        let tuning = s.holds(&spec(Setting::Tuning, "adam", 0));
        assert!((0..40).all(|seed| s.holds(&spec(Setting::Tuned, "adam", seed)) == tuning));
        let paper: Vec<bool> = (0..40)
            .map(|k| s.holds(&spec(Setting::Paper, "sgd", k)))
            .collect();
        assert!(paper.contains(&true) && paper.contains(&false));
    }

    /// The hash is FNV-1a: the slots do not depend on the machine or the build.
    #[test]
    fn slots_are_stable() {
        assert_eq!(slot("", 1000), (0xcbf2_9ce4_8422_2325u64 % 1000) as usize);
        assert_eq!(
            slot("a", u64::MAX as usize),
            0xaf63_dc4c_8601_ec8c_u64 as usize
        );
    }

    #[test]
    fn bad_shards_are_errors_that_say_the_form() {
        for bad in ["", "3", "0/3", "4/3", "1/0", "a/b", "-1/3", "1/3/4"] {
            let e = bad.parse::<Shard>().unwrap_err().to_string();
            assert!(e.contains("K/N"), "{bad}: {e}");
        }
        assert_eq!(
            " 3 / 3 ".parse::<Shard>().unwrap(),
            Shard::new(3, 3).unwrap()
        );
    }

    #[test]
    fn results_files_of_a_stem_are_found() {
        assert!(is_results_of("mnist.jsonl", "mnist"));
        assert!(is_results_of("mnist.shard-2-of-3.jsonl", "mnist"));
        assert!(!is_results_of("mnist.shard-x-of-3.jsonl", "mnist"));
        assert!(!is_results_of("fashion-mnist.jsonl", "mnist"));
        assert!(!is_results_of("mnist.json", "mnist"));
        let dir = std::env::temp_dir().join(format!("lrmem-shard-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in [
            "mnist.shard-2-of-2.jsonl",
            "mnist.shard-1-of-2.jsonl",
            "began.jsonl",
        ] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let found = shard_files(std::slice::from_ref(&dir), "mnist").unwrap();
        let names: Vec<_> = found
            .iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(
            names,
            ["mnist.shard-1-of-2.jsonl", "mnist.shard-2-of-2.jsonl"]
        );
        let e = shard_files(std::slice::from_ref(&dir), "robot")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--out"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
