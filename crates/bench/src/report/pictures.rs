//! The pictures tasks make (a GAN's samples): their file names, writing them as PNG as runs
//! finish ([`Pictures`], an observer), and their tables in the report.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use lrmem_tasks::Picture;

use super::tables::arms_of;
use super::workload::tag;
use crate::harness::{Observer, Results, RunSpec, Setting};
use crate::BenchError;

/// The file stem (in the report's folder, without `.png`) of the picture that `arm`'s run with
/// `seed` made of task `k` (0-based) in `setting` ([`Task::picture`](lrmem_tasks::Task::picture)):
/// the name [`write_picture`]'s callers use and [`workload_section`](super::workload_section) looks for. Characters
/// other than letters, digits, `.`, `-` and `_` in the arm's name become `_`.
pub fn picture_stem(prefix: &str, setting: Setting, arm: &str, seed: u64, k: usize) -> String {
    let arm: String = arm
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "{prefix}_{}_samples_{arm}_seed{seed}_task{}",
        tag(setting),
        k + 1
    )
}

/// Writes `picture` as an 8-bit grey PNG at `path`, scaled up `scale`× (≥ 1) so that small
/// digits stay visible in a report.
pub fn write_picture(path: &Path, picture: &Picture, scale: usize) -> Result<(), BenchError> {
    let err = |reason: String| BenchError::Plot {
        path: path.to_path_buf(),
        reason,
    };
    let scale = scale.max(1);
    let (w, h) = (picture.width * scale, picture.height * scale);
    if picture.pixels.len() != picture.width * picture.height || w == 0 || h == 0 {
        return Err(err(format!(
            "a picture of {} pixels is not {}×{}",
            picture.pixels.len(),
            picture.width,
            picture.height
        )));
    }
    let mut data = Vec::with_capacity(w * h);
    for row in picture.pixels.chunks_exact(picture.width) {
        let wide: Vec<u8> = row
            .iter()
            .flat_map(|&p| std::iter::repeat_n(p, scale))
            .collect();
        for _ in 0..scale {
            data.extend_from_slice(&wide);
        }
    }
    let file = std::fs::File::create(path).map_err(|e| err(e.to_string()))?;
    let size = |v: usize| u32::try_from(v).map_err(|_| err(format!("{v} pixels is too large")));
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), size(w)?, size(h)?);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()
        .and_then(|mut wr| wr.write_image_data(&data))
        .map_err(|e| err(e.to_string()))
}

/// The pictures of the first seed's runs (see [`picture_stem`]) that exist in `out_dir`, a
/// table per setting and task, four arms a row; empty if there are none.
pub(super) fn pictures_section(results: &Results, out_dir: &Path, prefix: &str) -> String {
    let Some(&seed) = results.experiment.seeds.first() else {
        return String::new();
    };
    let mut md = String::new();
    for setting in [Setting::Paper, Setting::Tuned] {
        for (k, label) in results.task_labels.iter().enumerate() {
            let cells: Vec<String> = arms_of(results, setting)
                .into_iter()
                .filter_map(|arm| {
                    let stem = picture_stem(prefix, setting, &arm, seed, k);
                    out_dir
                        .join(format!("{stem}.png"))
                        .is_file()
                        .then(|| format!("{arm}<br>![{arm}]({stem}.png)"))
                })
                .collect();
            if cells.is_empty() {
                continue;
            }
            let _ = writeln!(
                md,
                "\n### What the models make at the end: {label}, {} setting, seed {seed}\n",
                tag(setting)
            );
            let columns = cells.len().min(4);
            let _ = writeln!(md, "|{}\n|{}", " |".repeat(columns), "---|".repeat(columns));
            for row in cells.chunks(columns) {
                let _ = writeln!(md, "| {} |", row.join(" | "));
            }
            md.push('\n');
        }
    }
    md
}

/// Writes the picture each task makes at its end ([`Task::picture`](lrmem_tasks::Task::picture))
/// into the report's folder as `STEM.png` ([`picture_stem`]), where the workload's section
/// finds it. A picture that cannot be written is a warning on standard error: the run goes on.
#[derive(Debug, Clone)]
pub struct Pictures {
    /// The report's folder.
    pub out: PathBuf,
    /// The prefix of the file names (the workload's name; `study` for the study).
    pub prefix: String,
}

impl Observer for Pictures {
    fn pictured(&self, run: &RunSpec, task: usize, picture: &Picture) {
        let stem = picture_stem(&self.prefix, run.setting, &run.arm.name, run.seed, task);
        let path = self.out.join(format!("{stem}.png"));
        if let Err(e) = write_picture(&path, picture, 1) {
            eprintln!("warning: {e}");
        }
    }
}

/// Copies the pictures of `prefix` that the shards wrote into their folders `dirs` into `out`,
/// where the merged report looks for them; a picture already there is kept.
pub fn copy_pictures(dirs: &[PathBuf], out: &Path, prefix: &str) -> Result<(), BenchError> {
    let start = format!("{prefix}_");
    for dir in dirs {
        let entries = std::fs::read_dir(dir).map_err(BenchError::io(dir))?;
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let to = out.join(name);
            if name.starts_with(&start)
                && name.contains("_samples_")
                && name.ends_with(".png")
                && !to.exists()
            {
                std::fs::copy(entry.path(), &to).map_err(BenchError::io(&to))?;
            }
        }
    }
    Ok(())
}
