//! The `panda` example's STATES.json: reading queries and writing answers.
//!
//! `cargo run --release -p lrmem-tasks --example panda -- rnea|aba STATES.json` answers
//! questions about the arm from the command line (e.g. to compare with another simulator). The
//! parsing lives here, in the library, so that tests run the example's exact logic.
//!
//! STATES.json is a JSON list of objects, one per state, each with three lists of 7 numbers:
//!
//! - mode `rnea`: `{"q": [...], "qd": [...], "qdd": [...]}` → answer `{"tau": [...]}`
//! - mode `aba`: `{"q": [...], "qd": [...], "tau": [...]}` → answer `{"qdd": [...]}`
//!
//! Other fields are ignored (so the Pinocchio fixture, which also carries the expected answer,
//! is a valid input). Answers are one JSON object per line, numbers in the shortest form that
//! reads back as the same f64.
//!
//! ```
//! use lrmem_tasks::panda::query::{answer_all, Mode};
//! use lrmem_tasks::panda::{Panda, PandaConfig};
//!
//! let arm = Panda::new(PandaConfig::default())?;
//! let states = r#"[{"q": [0, -0.785, 0, -2.356, 0, 1.571, 0.785],
//!                   "qd": [0, 0, 0, 0, 0, 0, 0], "qdd": [0, 0, 0, 0, 0, 0, 0]}]"#;
//! let lines = answer_all(&arm, Mode::Rnea, states, "example")?;
//! let answer: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
//! assert!((answer["tau"][3].as_f64().unwrap() - 22.022).abs() < 1e-3); // holding the elbow up
//! # Ok::<(), lrmem_tasks::TaskError>(())
//! ```

use super::{Joints, Panda, DOF};
use crate::TaskError;
use serde_json::Value;

/// Which dynamics the command computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Inverse dynamics: `(q, qd, qdd) → tau`.
    Rnea,
    /// Forward dynamics: `(q, qd, tau) → qdd`.
    Aba,
}

impl Mode {
    /// Parses the command's first argument (`rnea` or `aba`).
    pub fn parse(s: &str) -> Result<Self, TaskError> {
        match s {
            "rnea" => Ok(Mode::Rnea),
            "aba" => Ok(Mode::Aba),
            other => Err(TaskError::Argument(format!(
                "unknown mode `{other}`; use `rnea` (q, qd, qdd → tau) or `aba` (q, qd, tau → qdd)"
            ))),
        }
    }

    /// The field each state must carry besides `q` and `qd`.
    pub fn input_field(self) -> &'static str {
        match self {
            Mode::Rnea => "qdd",
            Mode::Aba => "tau",
        }
    }

    /// The field of each answer.
    pub fn output_field(self) -> &'static str {
        match self {
            Mode::Rnea => "tau",
            Mode::Aba => "qdd",
        }
    }
}

/// One state of STATES.json: positions, velocities and the mode's input (`qdd` or `tau`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Query {
    /// Joint positions, rad.
    pub q: Joints,
    /// Joint velocities, rad/s.
    pub qd: Joints,
    /// `qdd` (rad/s²) for [`Mode::Rnea`], `tau` (N·m) for [`Mode::Aba`].
    pub input: Joints,
}

/// Parses STATES.json text; `origin` (e.g. the file name) prefixes every error message.
///
/// Errors ([`TaskError::Json`]) name the state and field and say what to write instead: text
/// that is not JSON, a top level that is not a list, a state that is not an object, a missing
/// field, a field that is not a list of 7 finite numbers.
pub fn parse_states(mode: Mode, text: &str, origin: &str) -> Result<Vec<Query>, TaskError> {
    let expected = format!(
        "a JSON list of objects {{\"q\": [7 numbers], \"qd\": [7 numbers], \"{}\": [7 numbers]}}",
        mode.input_field()
    );
    let err = |reason: String| TaskError::Json {
        origin: origin.to_string(),
        reason,
    };
    let value: Value = serde_json::from_str(text)
        .map_err(|e| err(format!("not valid JSON ({e}); write {expected}")))?;
    let Value::Array(states) = value else {
        return Err(err(format!(
            "the top level is not a list; write {expected}"
        )));
    };
    let mut out = Vec::with_capacity(states.len());
    for (i, state) in states.iter().enumerate() {
        let Value::Object(fields) = state else {
            return Err(err(format!("state {i} is not an object; write {expected}")));
        };
        let field = |name: &str| -> Result<Joints, TaskError> {
            let v = fields
                .get(name)
                .ok_or_else(|| err(format!("state {i} has no field `{name}`; write {expected}")))?;
            let Value::Array(items) = v else {
                return Err(err(format!(
                    "state {i}: `{name}` is not a list; write {expected}"
                )));
            };
            if items.len() != DOF {
                return Err(err(format!(
                    "state {i}: `{name}` has {} entries, expected {DOF} (one per joint)",
                    items.len()
                )));
            }
            let mut arr = [0.0; DOF];
            for (k, item) in items.iter().enumerate() {
                arr[k] = item.as_f64().filter(|x| x.is_finite()).ok_or_else(|| {
                    err(format!(
                        "state {i}: `{name}`[{k}] is {item}, not a finite number; write a number"
                    ))
                })?;
            }
            Ok(arr)
        };
        out.push(Query {
            q: field("q")?,
            qd: field("qd")?,
            input: field(mode.input_field())?,
        });
    }
    Ok(out)
}

/// The answer to one query: `tau` for [`Mode::Rnea`], `qdd` for [`Mode::Aba`].
pub fn answer(arm: &Panda, mode: Mode, query: &Query) -> Result<Joints, TaskError> {
    match mode {
        Mode::Rnea => arm.inverse_dynamics(&query.q, &query.qd, &query.input),
        Mode::Aba => arm.forward_dynamics(&query.q, &query.qd, &query.input),
    }
}

/// One answer as the JSON line the command prints, e.g. `{"tau":[…]}`.
pub fn answer_line(mode: Mode, answer: &Joints) -> String {
    let mut map = serde_json::Map::new();
    map.insert(
        mode.output_field().to_string(),
        Value::from(answer.to_vec()),
    );
    Value::Object(map).to_string()
}

/// Parses STATES.json text and answers every state: the command's whole work, one line per state.
pub fn answer_all(
    arm: &Panda,
    mode: Mode,
    text: &str,
    origin: &str,
) -> Result<Vec<String>, TaskError> {
    parse_states(mode, text, origin)?
        .iter()
        .map(|query| Ok(answer_line(mode, &answer(arm, mode, query)?)))
        .collect()
}
