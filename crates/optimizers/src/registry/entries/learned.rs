//! The entry of the learned LSTM optimizer (Andrychowicz et al. 2016), the offline "learning to
//! learn" the memory is measured against.

use crate::methods::l2l::{L2l, L2lConfig, L2lWeights};
use crate::registry::{
    Built, Family, Key, Preset, RegistryEntry, SpecError, Speed, Tier, NON_FINITE,
};

/// The weights a spec's `weights` value names: a shipped set or a file.
fn weights_named(value: &str) -> Result<L2lWeights, SpecError> {
    if let Some(w) = L2lWeights::shipped(value) {
        return Ok(w);
    }
    let bad = |why: String| SpecError::BadValue {
        optimizer: "l2l".to_owned(),
        key: "weights".to_owned(),
        value: value.to_owned(),
        expected: format!(
            "`mnist`, `quadratic`, or the path of a file written by `L2lWeights::save` ({why})"
        ),
    };
    let bytes = std::fs::read(value).map_err(|e| bad(format!("cannot read it: {e}")))?;
    L2lWeights::load(&bytes).map_err(|e| bad(e.to_string()))
}

/// `l2l`: the learned optimizer with shipped or saved weights.
pub(crate) const L2L: RegistryEntry = RegistryEntry {
    name: "l2l",
    summary: "the learned LSTM optimizer (Andrychowicz et al. 2016): a 2-layer, 20-unit coordinatewise LSTM, meta-trained offline",
    keys: &[
        Key::new("weights", "the meta-trained weights: `mnist` (an MNIST MLP's), `quadratic` (random 10-D quadratics'), or a file written by L2lWeights::save", "mnist"),
        Key::new("lr", "multiplier of the learned update, > 0", "1"),
        NON_FINITE,
    ],
    whole_model: false,
    family: Family::Learned,
    presets: &[Preset::defaults("l2l", Tier::Full)],
    speed: Speed::Untimed(
        "a 2-layer, 20-unit LSTM per coordinate costs thousands of operations per coordinate: compute-bound, 10^3 times Adam's step and hours at the suite's largest tensors",
    ),
    // The weights meta-trained on quadratics.
    contract: "weights=quadratic",
    fields: &[],
    build: |p| {
        let d = L2lConfig::default();
        let weights = weights_named(p.text("weights").unwrap_or("mnist"))?;
        let config = L2lConfig {
            lr: p.f32("lr", d.lr)?,
            non_finite: p.non_finite(d.non_finite)?,
        };
        Ok(Built::new(L2l::new(config, weights)?))
    },
};
