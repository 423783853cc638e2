//! Replays a gradient sequence through one memory, exactly as the authors' `MetaSgd1d` would.
//!
//! ```text
//! cargo run --release -p lrmem-memory-core --example replay -- CONFIG.json GRADS.json
//! ```
//! CONFIG holds the keys of the `config` object of the fixtures in
//! `crates/memory-core/tests/fixtures/` (`num_centers`, `clip`, `lm_scale`, `logspace`,
//! `memory_optimizer` = "sgd" | "adam" | "momentum", `memory_lr`, `lr`, and optionally
//! `signal` = "clipped_product" | "sign"). GRADS is a JSON array of gradient vectors, one per
//! step, raw: they are clamped to ±clip as `MetaSgd1d.step` does. Prints one JSON object per
//! step: `{"step": t, "theta": [...], "eta": [...]}` with θ after the step's memory update and η
//! the learning rates applied at that step (docs/algorithm.md §9).

use std::error::Error;

use lrmem_memory_core::{Layout, Memory, MemoryConfig, MemoryOptimizer, Signal, Trace};
use serde::{Deserialize, Serialize};

/// The authors' meta parameters, as the fixtures spell them.
#[derive(Debug, Deserialize)]
pub struct ReplayConfig {
    pub num_centers: usize,
    pub clip: f32,
    pub lm_scale: f32,
    #[serde(default)]
    pub logspace: bool,
    pub memory_optimizer: String,
    pub memory_lr: f32,
    pub lr: f32,
    #[serde(default)]
    pub signal: Option<String>,
}

/// One output row.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Row {
    pub step: usize,
    pub theta: Vec<f32>,
    pub eta: Vec<f32>,
}

impl ReplayConfig {
    pub fn memory_config(&self) -> Result<MemoryConfig, Box<dyn Error>> {
        let optimizer = match self.memory_optimizer.as_str() {
            "sgd" => MemoryOptimizer::sgd(self.memory_lr),
            "adam" => MemoryOptimizer::adam(self.memory_lr),
            "momentum" => MemoryOptimizer::momentum(self.memory_lr),
            other => {
                return Err(format!(
                    "memory_optimizer must be sgd, adam or momentum, not {other:?}"
                )
                .into())
            }
        };
        let signal = match self.signal.as_deref() {
            None | Some("clipped_product") => Signal::ClippedProduct,
            Some("sign") => Signal::Sign,
            Some(other) => {
                return Err(format!("signal must be clipped_product or sign, not {other:?}").into())
            }
        };
        Ok(MemoryConfig {
            num_centers: self.num_centers,
            clip: self.clip,
            lm_scale: self.lm_scale,
            layout: if self.logspace {
                Layout::Log
            } else {
                Layout::Linear
            },
            eta0: self.lr,
            optimizer,
            signal,
            ..MemoryConfig::default()
        })
    }
}

/// Runs the replay and returns one row per step.
pub fn replay(config: &ReplayConfig, grads: &[Vec<f32>]) -> Result<Vec<Row>, Box<dyn Error>> {
    let mut memory = Memory::new(config.memory_config()?)?;
    let dim = grads.first().map_or(0, Vec::len);
    let mut trace = Trace::new(dim);
    let mut rows = Vec::with_capacity(grads.len());
    let mut eta = vec![0.0f32; dim];
    for (step, g) in grads.iter().enumerate() {
        if g.len() != dim {
            return Err(
                format!("step {step} has {} coordinates, step 0 had {dim}", g.len()).into(),
            );
        }
        memory.step(&mut trace, g, |d, rate, _| eta[d] = rate)?;
        rows.push(Row {
            step,
            theta: memory.theta().to_vec(),
            eta: eta.clone(),
        });
    }
    Ok(rows)
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [config, grads] = args.as_slice() else {
        return Err("usage: replay CONFIG.json GRADS.json".into());
    };
    let read = |p: &str| std::fs::read_to_string(p).map_err(|e| format!("cannot read {p}: {e}"));
    let config: ReplayConfig = serde_json::from_str(&read(config)?)?;
    let grads: Vec<Vec<f32>> = serde_json::from_str(&read(grads)?)?;
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for row in replay(&config, &grads)? {
        writeln!(out, "{}", serde_json::to_string(&row)?)?;
    }
    Ok(())
}
