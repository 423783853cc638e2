//! Replays a gradient sequence through any optimizer of the registry and prints the parameters
//! after every step: the command-line twin of the reference fixtures' tests.
//!
//! ```text
//! cargo run --release -p lrmem-optimizers --example trajectory -- SPEC INIT.json GRADS.json
//! ```
//!
//! SPEC is a registry spec (`prodigy`, `sf-adamw:lr=0.01`, `meta-sgd:xi=0.05`); INIT.json maps
//! tensor names to their initial values; GRADS.json is a list of steps, each mapping every
//! tensor name to its gradients. Each step is one `step_model` over all tensors (in name
//! order). Output: one JSON line per step, `{"step":1,"params":{…}}`, plus `"eval":{…}` for
//! optimizers that evaluate elsewhere (Schedule-Free's x). The fixtures of
//! `tests/fixtures/reference/` are such INIT and GRADS files:
//!
//! ```text
//! cargo run --release -p lrmem-optimizers --example trajectory -- prodigy \
//!     crates/optimizers/tests/fixtures/reference/init.json \
//!     crates/optimizers/tests/fixtures/reference/grads.json
//! ```

use std::collections::BTreeMap;
use std::process::ExitCode;

use lrmem_optimizers::{Optimizer, OptimizerSpec, Tensor};

/// Tensor name → values.
pub type Named = BTreeMap<String, Vec<f32>>;

/// One step's output: the parameters after it, and the evaluation point where it differs.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Every tensor's parameters after the step.
    pub params: Named,
    /// [`Optimizer::eval_params`] of every tensor that has one.
    pub eval: Named,
}

/// Parses INIT.json (`{"name": [values]}`).
pub fn parse_init(text: &str) -> Result<Named, String> {
    let raw: BTreeMap<String, Vec<f64>> = serde_json::from_str(text)
        .map_err(|e| format!("INIT is not a map of tensor names to number lists: {e}"))?;
    Ok(raw
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().map(|x| x as f32).collect()))
        .collect())
}

/// Parses GRADS.json (`[{"name": [values]}, …]`).
pub fn parse_grads(text: &str) -> Result<Vec<Named>, String> {
    let raw: Vec<BTreeMap<String, Vec<f64>>> = serde_json::from_str(text).map_err(|e| {
        format!("GRADS is not a list of steps, each a map of tensor names to number lists: {e}")
    })?;
    Ok(raw
        .into_iter()
        .map(|s| {
            s.into_iter()
                .map(|(k, v)| (k, v.into_iter().map(|x| x as f32).collect()))
                .collect()
        })
        .collect())
}

/// Steps `spec` from `init` through `grads`; every step's parameters (and evaluation point).
/// Errors name the step and tensor: a tensor of a step that INIT does not have, a tensor of
/// INIT that a step leaves out, a length mismatch (the optimizer's error), an unknown spec.
pub fn replay(spec: &str, init: &Named, grads: &[Named]) -> Result<Vec<Step>, String> {
    let spec: OptimizerSpec = spec.parse().map_err(|e| format!("{e}"))?;
    let mut opt = spec.build().map_err(|e| format!("{e}"))?;
    let mut params = init.clone();
    let mut out = Vec::with_capacity(grads.len());
    for (t, step) in grads.iter().enumerate() {
        let n = t + 1;
        if let Some(extra) = step.keys().find(|k| !params.contains_key(*k)) {
            return Err(format!(
                "step {n}: tensor `{extra}` has gradients but no initial values in INIT"
            ));
        }
        if let Some(missing) = params.keys().find(|k| !step.contains_key(*k)) {
            return Err(format!("step {n}: no gradients for tensor `{missing}`"));
        }
        let mut tensors: Vec<Tensor<'_>> = params
            .iter_mut()
            .map(|(name, p)| Tensor::new(name, p, &step[name]))
            .collect();
        opt.step_model(&mut tensors)
            .map_err(|e| format!("step {n}: {e}"))?;
        let eval = params
            .keys()
            .filter_map(|k| opt.eval_params(k).map(|e| (k.clone(), e.to_vec())))
            .collect();
        out.push(Step {
            params: params.clone(),
            eval,
        });
    }
    Ok(out)
}

/// One output line.
fn line(n: usize, step: &Step) -> String {
    let mut v = serde_json::json!({ "step": n, "params": step.params });
    if !step.eval.is_empty() {
        v["eval"] = serde_json::json!(step.eval);
    }
    v.to_string()
}

fn run(args: &[String]) -> Result<(), String> {
    let [spec, init, grads] = args else {
        return Err("usage: trajectory SPEC INIT.json GRADS.json".into());
    };
    let read =
        |path: &str| std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"));
    let init = parse_init(&read(init)?)?;
    let grads = parse_grads(&read(grads)?)?;
    for (t, step) in replay(spec, &init, &grads)?.iter().enumerate() {
        println!("{}", line(t + 1, step));
    }
    Ok(())
}

#[allow(dead_code)] // the reference tests include this file for `replay`, without calling main
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trajectory: {e}");
            ExitCode::FAILURE
        }
    }
}
