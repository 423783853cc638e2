//! The results file: one JSON line per finished run after a header naming the schema, the
//! experiment and, for one machine of a job array, its shard; appended and flushed as runs
//! finish, so that a killed experiment resumes, and read back to merge the shards.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Experiment, RunResult, Shard};
use crate::BenchError;

/// The `schema` field of a results file's header.
pub const SCHEMA: &str = "lrmem-bench-results";
/// The version of the results format this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Header {
    schema: String,
    version: u32,
    experiment: serde_json::Value,
    /// The shard whose runs the file holds; absent for every run (and in files written before
    /// shards existed, which read unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shard: Option<Shard>,
}

#[derive(Serialize, Deserialize)]
struct Line {
    run: RunResult,
}

/// A results file open for appending, with the runs it already held when it was resumed.
#[derive(Debug)]
pub struct ResultsFile {
    path: PathBuf,
    file: File,
    done: Vec<RunResult>,
}

impl ResultsFile {
    /// Opens `path` for `experiment` (the runs of `shard`, or every run). Without `resume` the
    /// file is (re)written with a fresh header. With `resume` an existing file must carry this
    /// schema version, the same experiment and the same shard; its finished runs are kept (see
    /// [`ResultsFile::take_done`]) and a torn last line (a run being written when the process
    /// died) is dropped, so that its run is redone.
    pub fn open(
        path: &Path,
        experiment: &Experiment,
        resume: bool,
        shard: Option<Shard>,
    ) -> Result<Self, BenchError> {
        let wanted = encode(path, experiment)?;
        if resume && path.exists() {
            let (header, done, good_len) = read(path)?;
            if !same_experiment(&header.experiment, &wanted) {
                let differs = differing_fields(&header.experiment, &wanted);
                return Err(BenchError::Results {
                    path: path.to_path_buf(),
                    reason: format!(
                        "it was written for a different experiment (differs in: {differs}); \
                         rerun with the same options, or without --resume to start over"
                    ),
                });
            }
            if header.shard != shard {
                let name =
                    |s: Option<Shard>| s.map_or("every run".to_string(), |s| format!("shard {s}"));
                return Err(BenchError::Results {
                    path: path.to_path_buf(),
                    reason: format!(
                        "it holds the runs of {}, not of {}; resume with the same --shard",
                        name(header.shard),
                        name(shard)
                    ),
                });
            }
            let file = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(BenchError::io(path))?;
            file.set_len(good_len).map_err(BenchError::io(path))?;
            drop(file);
            let file = OpenOptions::new()
                .append(true)
                .open(path)
                .map_err(BenchError::io(path))?;
            return Ok(ResultsFile {
                path: path.to_path_buf(),
                file,
                done,
            });
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(BenchError::io(dir))?;
        }
        let mut file = File::create(path).map_err(BenchError::io(path))?;
        let header = Header {
            schema: SCHEMA.to_string(),
            version: SCHEMA_VERSION,
            experiment: wanted,
            shard,
        };
        let mut line = serde_json::to_string(&header).expect("a header always encodes");
        line.push('\n');
        file.write_all(line.as_bytes())
            .and_then(|()| file.flush())
            .map_err(BenchError::io(path))?;
        Ok(ResultsFile {
            path: path.to_path_buf(),
            file,
            done: Vec::new(),
        })
    }

    /// The runs the file held when it was opened (empty unless resumed); taken once.
    pub fn take_done(&mut self) -> Vec<RunResult> {
        std::mem::take(&mut self.done)
    }

    /// Appends one finished run as one line and flushes it.
    pub fn append(&mut self, run: &RunResult) -> Result<(), BenchError> {
        let mut line =
            serde_json::to_string(&Line { run: run.clone() }).map_err(|e| BenchError::Results {
                path: self.path.clone(),
                reason: format!("cannot encode a run: {e}"),
            })?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(BenchError::io(&self.path))
    }

    /// Reads a results file: its experiment and every finished run (a torn last line is
    /// ignored). For reports of a finished or interrupted experiment.
    pub fn read(path: &Path) -> Result<(Experiment, Vec<RunResult>), BenchError> {
        let (header, runs, _) = read(path)?;
        let experiment =
            serde_json::from_value(header.experiment).map_err(|e| BenchError::Results {
                path: path.to_path_buf(),
                reason: format!("its experiment cannot be read by this build: {e}"),
            })?;
        Ok((experiment, runs))
    }

    /// Reads the runs of a results file written for `experiment` (by any shard, or by one
    /// machine), with the shard it names: what [`merge`](super::merge) joins. A file of another
    /// experiment is a [`BenchError::OtherExperiment`].
    pub fn read_for(
        path: &Path,
        experiment: &Experiment,
    ) -> Result<(Option<Shard>, Vec<RunResult>), BenchError> {
        let wanted = encode(path, experiment)?;
        let (header, runs, _) = read(path)?;
        if !same_experiment(&header.experiment, &wanted) {
            return Err(BenchError::OtherExperiment {
                path: path.to_path_buf(),
                differs: differing_fields(&header.experiment, &wanted),
            });
        }
        Ok((header.shard, runs))
    }
}

/// Whether two stored experiments are one: equal but for the order of their arms, which decides
/// only the order runs are made and reported in (a results file written when the registry
/// listed the peers in another order resumes and renders).
fn same_experiment(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    fn canonical(v: &serde_json::Value) -> serde_json::Value {
        let mut v = v.clone();
        if let Some(arms) = v.get_mut("arms").and_then(|a| a.as_array_mut()) {
            arms.sort_by_key(|arm| arm.to_string());
        }
        v
    }
    canonical(a) == canonical(b)
}

/// Whether `saved` (read from a results file) and `planned` are one experiment, but for the
/// order of their arms (see [`same_experiment`]).
pub(crate) fn is_same_experiment(saved: &Experiment, planned: &Experiment) -> bool {
    match (serde_json::to_value(saved), serde_json::to_value(planned)) {
        (Ok(a), Ok(b)) => same_experiment(&a, &b),
        _ => saved == planned,
    }
}

/// `experiment` as the header stores it.
fn encode(path: &Path, experiment: &Experiment) -> Result<serde_json::Value, BenchError> {
    serde_json::to_value(experiment).map_err(|e| BenchError::Results {
        path: path.to_path_buf(),
        reason: format!("cannot encode the experiment: {e}"),
    })
}

/// The header, the runs, and the length of the file up to its last whole line.
fn read(path: &Path) -> Result<(Header, Vec<RunResult>, u64), BenchError> {
    let bytes = std::fs::read(path).map_err(BenchError::io(path))?;
    let bad = |reason: String| BenchError::Results {
        path: path.to_path_buf(),
        reason,
    };
    // Only newline-terminated lines were written whole; what follows the last newline is a
    // line torn by a kill.
    let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let text = std::str::from_utf8(&bytes[..whole])
        .map_err(|_| bad("it is not UTF-8 text: not a results file of lrmem's harness".into()))?;
    let mut lines = text.lines();
    let header: Header = lines
        .next()
        .and_then(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| {
            bad("its first line is not a results header: not a results file of lrmem's harness; remove it or choose another path".into())
        })?;
    if header.schema != SCHEMA {
        return Err(bad(format!(
            "its schema is `{}`, not `{SCHEMA}`",
            header.schema
        )));
    }
    if header.version != SCHEMA_VERSION {
        return Err(bad(format!(
            "it has results format version {}, this build reads version {SCHEMA_VERSION}; \
             rerun without --resume to start over",
            header.version
        )));
    }
    let mut runs = Vec::new();
    for (i, line) in lines.enumerate() {
        let parsed: Line = serde_json::from_str(line).map_err(|e| {
            bad(format!(
                "line {} is damaged ({e}); remove the line or rerun without --resume",
                i + 2
            ))
        })?;
        runs.push(parsed.run);
    }
    Ok((header, runs, whole as u64))
}

/// The top-level fields in which two encoded experiments differ, for the error message.
fn differing_fields(a: &serde_json::Value, b: &serde_json::Value) -> String {
    match (a.as_object(), b.as_object()) {
        (Some(a), Some(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            let v: Vec<&str> = keys
                .into_iter()
                .filter(|k| a.get(*k) != b.get(*k))
                .map(String::as_str)
                .collect();
            v.join(", ")
        }
        _ => "everything".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::same_experiment;

    /// The order of the arms does not make another experiment (a results file written with the
    /// peers in another order resumes); another arm, or another setting, does.
    #[test]
    fn arms_in_another_order_are_the_same_experiment() {
        let v = |arms: &[&str], seeds: &[u64]| serde_json::json!({ "arms": arms, "seeds": seeds, "workload": "mnist" });
        assert!(same_experiment(
            &v(&["sgd", "cocob"], &[0]),
            &v(&["cocob", "sgd"], &[0])
        ));
        assert!(!same_experiment(
            &v(&["sgd", "cocob"], &[0]),
            &v(&["sgd", "dog"], &[0])
        ));
        assert!(!same_experiment(
            &v(&["sgd"], &[0]),
            &v(&["sgd", "sgd"], &[0])
        ));
        assert!(!same_experiment(&v(&["sgd"], &[0]), &v(&["sgd"], &[1])));
    }
}
