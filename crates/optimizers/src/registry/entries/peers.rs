//! The entries of the peers the memory is measured against today: the learning-rate-free and
//! schedule-free optimizers, each matched number for number to its reference and run at its own
//! defaults, in every comparison ([`Tier::Headline`]) or, for the SGD forms of a peer already
//! there, in the full protocol; and the learned LSTM optimizer (Andrychowicz et al. 2016), the
//! offline "learning to learn".

use super::keys::{
    BaseKeys, ADAM_WEIGHT_DECAY, BETA1, BETA2, DAMPENING, DECOUPLED, EPS, MOMENTUM, NESTEROV,
    SGD_WEIGHT_DECAY,
};
use crate::methods::adam::{Adam, AdamConfig};
use crate::methods::cocob::{Cocob, CocobConfig};
use crate::methods::dadapt::{DAdaptAdam, DAdaptAdamConfig, DAdaptSgd, DAdaptSgdConfig};
use crate::methods::dog::{Dog, DogConfig, LDog};
use crate::methods::l2l::{L2l, L2lConfig, L2lWeights, MAX_WEIGHTS_BYTES};
use crate::methods::prodigy::{Prodigy, ProdigyConfig};
use crate::methods::schedule_free::{
    ScheduleFreeAdamW, ScheduleFreeAdamWConfig, ScheduleFreeSgd, ScheduleFreeSgdConfig,
};
use crate::methods::sgd::{Sgd, SgdConfig};
use crate::optimizer::hyper;
use crate::registry::{
    Built, Family, Key, Params, Preset, RegistryEntry, SpecError, Speed, SpeedCase, Tier,
    NON_FINITE,
};
use crate::wrappers::mechanic::{Mechanic, MechanicConfig};

/// `prodigy`.
pub(crate) const PRODIGY: RegistryEntry = RegistryEntry {
    name: "prodigy",
    summary: "Prodigy (Mishchenko & Defazio 2023) as prodigyopt 1.1.2: Adam with its step size d estimated while training",
    keys: &[
        Key::new("lr", "multiplier of the estimated step size d, > 0", "1"),
        Key::new("beta1", "decay of the first moment, in [0, 1) (0: none)", "0.9"),
        Key::new("beta2", "decay of the second moment, in [0, 1)", "0.999"),
        Key::new("beta3", "decay of the sums behind d, in [0, 1)", "sqrt(beta2)"),
        Key::new("eps", "epsilon added to the root of the second moment (times d), > 0", "1e-8"),
        Key::new("weight_decay", "weight decay lambda, in [0, 1e6]", "0"),
        Key::new("decouple", "true: decoupled weight decay; false: lambda*w added to the gradient", "true"),
        Key::new("use_bias_correction", "Adam's bias correction in the step size", "false"),
        Key::new("safeguard_warmup", "leave lr out of the sum s (avoids a large d early)", "false"),
        Key::new("d0", "initial estimate of d, > 0", "1e-6"),
        Key::new("d_coef", "multiplier of the estimate, > 0", "1"),
        Key::new("growth_rate", "largest factor by which d grows per step, >= 1", "inf"),
        NON_FINITE,
    ],
    whole_model: true,
    family: Family::LearningRateFree,
    presets: &[Preset::defaults("prodigy", Tier::Headline)],
    // g, w, x₀, s, m, v; m, v, w | s, m, v; w.
    speed: Speed::Timed(&[SpeedCase::new("", 52)]),
    contract: "",
    fields: &[],
    build: |p| {
        let d = ProdigyConfig::default();
        let beta3 = match p.text("beta3") {
            None | Some("sqrt(beta2)") => None,
            Some(_) => Some(p.f32("beta3", 0.0)?),
        };
        let config = ProdigyConfig {
            lr: p.f32("lr", d.lr)?,
            beta1: p.f32("beta1", d.beta1)?,
            beta2: p.f32("beta2", d.beta2)?,
            beta3,
            eps: p.f32("eps", d.eps)?,
            weight_decay: p.f32("weight_decay", d.weight_decay)?,
            decouple: p.bool("decouple", d.decouple)?,
            use_bias_correction: p.bool("use_bias_correction", d.use_bias_correction)?,
            safeguard_warmup: p.bool("safeguard_warmup", d.safeguard_warmup)?,
            d0: p.f32("d0", d.d0)?,
            d_coef: p.f32("d_coef", d.d_coef)?,
            growth_rate: p.f32("growth_rate", d.growth_rate)?,
            non_finite: p.non_finite(d.non_finite)?,
        };
        Ok(Built::new(Prodigy::new(config)?))
    },
};

/// `dadapt-adam`.
pub(crate) const DADAPT_ADAM: RegistryEntry = RegistryEntry {
    name: "dadapt-adam",
    summary: "D-Adaptation Adam (Defazio & Mishchenko 2023) as dadaptation 3.2: Adam with its step size d estimated while training (layer_scale 1)",
    keys: &[
        Key::new("lr", "multiplier of the estimated step size d, > 0", "1"),
        Key::new("beta1", "decay of the first moment, in [0, 1)", "0.9"),
        Key::new("beta2", "decay of the second moment, in [0, 1); its root decays the sums behind d", "0.999"),
        Key::new("eps", "epsilon added to the root of the second moment, > 0", "1e-8"),
        Key::new("weight_decay", "weight decay lambda, in [0, 1e6]", "0"),
        Key::new("decouple", "true: decoupled weight decay; false: lambda*w added to the gradient", "false"),
        Key::new("use_bias_correction", "Adam's bias correction in the step size", "false"),
        Key::new("d0", "initial estimate of d, > 0", "1e-6"),
        Key::new("growth_rate", "largest factor by which d grows per step, >= 1", "inf"),
        NON_FINITE,
    ],
    whole_model: true,
    family: Family::LearningRateFree,
    presets: &[Preset::defaults("dadapt-adam", Tier::Headline)],
    // g, s, m, v; m, v, w | s, m, v; w.
    speed: Speed::Timed(&[SpeedCase::new("", 44)]),
    contract: "",
    fields: &[],
    build: |p| {
        let d = DAdaptAdamConfig::default();
        let config = DAdaptAdamConfig {
            lr: p.f32("lr", d.lr)?,
            beta1: p.f32("beta1", d.beta1)?,
            beta2: p.f32("beta2", d.beta2)?,
            eps: p.f32("eps", d.eps)?,
            weight_decay: p.f32("weight_decay", d.weight_decay)?,
            decouple: p.bool("decouple", d.decouple)?,
            use_bias_correction: p.bool("use_bias_correction", d.use_bias_correction)?,
            d0: p.f32("d0", d.d0)?,
            growth_rate: p.f32("growth_rate", d.growth_rate)?,
            non_finite: p.non_finite(d.non_finite)?,
        };
        Ok(Built::new(DAdaptAdam::new(config)?))
    },
};

/// `dadapt-sgd`.
pub(crate) const DADAPT_SGD: RegistryEntry = RegistryEntry {
    name: "dadapt-sgd",
    summary: "D-Adaptation SGD (Defazio & Mishchenko 2023) as dadaptation 3.2: SGD (dual averaging) with its step size d estimated while training",
    keys: &[
        Key::new("lr", "multiplier of the estimated step size d, > 0", "1"),
        Key::new("momentum", "momentum mu, in [0, 1) (x <- mu*x + (1-mu)*(x0 - s))", "0"),
        Key::new("weight_decay", "weight decay lambda added to the gradient, in [0, 1e6]", "0"),
        Key::new("d0", "initial estimate of d, > 0", "1e-6"),
        Key::new("growth_rate", "largest factor by which d grows per step, >= 1", "inf"),
        NON_FINITE,
    ],
    whole_model: true,
    family: Family::LearningRateFree,
    presets: &[Preset::defaults("dadapt-sgd", Tier::Full)],
    // g, s; x₀, s | s; w.
    speed: Speed::Timed(&[SpeedCase::new("", 24)]),
    contract: "",
    fields: &[],
    build: |p| {
        let d = DAdaptSgdConfig::default();
        let config = DAdaptSgdConfig {
            lr: p.f32("lr", d.lr)?,
            momentum: p.f32("momentum", d.momentum)?,
            weight_decay: p.f32("weight_decay", d.weight_decay)?,
            d0: p.f32("d0", d.d0)?,
            growth_rate: p.f32("growth_rate", d.growth_rate)?,
            non_finite: p.non_finite(d.non_finite)?,
        };
        Ok(Built::new(DAdaptSgd::new(config)?))
    },
};

/// The keys of `dog` and `ldog`.
const KEYS: &[Key] = &[
    Key::new(
        "lr",
        "multiplier of the step size (c in the paper), > 0",
        "1",
    ),
    Key::new(
        "reps_rel",
        "first step's distance relative to 1 + |x0|, > 0 (ignored with init_eta)",
        "1e-6",
    ),
    Key::new(
        "weight_decay",
        "weight decay lambda added to the gradient, in [0, 1e6]",
        "0",
    ),
    Key::new(
        "eps",
        "epsilon added to the sum of squared gradient norms, >= 0",
        "1e-8",
    ),
    Key::new(
        "init_eta",
        "first step size itself, > 0, instead of reps_rel's",
        "none",
    ),
    Key::new(
        "average",
        "gamma of the polynomial-decay average evaluated at, >= 0 (0: none; the paper uses 8)",
        "0",
    ),
    NON_FINITE,
];

/// Reads [`KEYS`] into a config.
fn config(p: &mut Params<'_>) -> Result<DogConfig, SpecError> {
    let d = DogConfig::default();
    let init_eta = match p.text("init_eta") {
        None | Some("none") => None,
        Some(_) => Some(p.f32("init_eta", 0.0)?),
    };
    Ok(DogConfig {
        lr: p.f32("lr", d.lr)?,
        reps_rel: p.f32("reps_rel", d.reps_rel)?,
        weight_decay: p.f32("weight_decay", d.weight_decay)?,
        eps: p.f32("eps", d.eps)?,
        init_eta,
        average: p.f32("average", d.average)?,
        non_finite: p.non_finite(d.non_finite)?,
    })
}

/// `dog`.
pub(crate) const DOG: RegistryEntry = RegistryEntry {
    name: "dog",
    summary: "DoG (Ivgi, Hinder & Carmon 2023) as dog-optimizer 1.0.3: SGD with step size max distance from x0 over the root of the summed squared gradient norms, model-wide",
    keys: KEYS,
    whole_model: true,
    family: Family::LearningRateFree,
    presets: &[Preset::defaults("dog", Tier::Headline)],
    // g, w, x₀ (distance, Σg²); g, w | w.
    speed: Speed::Timed(&[SpeedCase::new("", 24)]),
    contract: "",
    fields: &[],
    build: |p| Ok(Built::new(Dog::new(config(p)?)?)),
};

/// `ldog`.
pub(crate) const LDOG: RegistryEntry = RegistryEntry {
    name: "ldog",
    summary: "L-DoG (Ivgi, Hinder & Carmon 2023) as dog-optimizer 1.0.3: DoG with the step size of each tensor on its own",
    keys: KEYS,
    whole_model: true,
    family: Family::LearningRateFree,
    presets: &[Preset::defaults("ldog", Tier::Full)],
    // g, w, x₀ (distance, Σg²); g, w | w.
    speed: Speed::Timed(&[SpeedCase::new("", 24)]),
    contract: "",
    fields: &[],
    build: |p| Ok(Built::new(LDog::new(config(p)?)?)),
};

/// The keys both entries share, after their own.
const WARMUP: Key = Key::new(
    "warmup_steps",
    "steps of linear learning-rate warmup, a whole number (0: none)",
    "0",
);
const R: Key = Key::new(
    "r",
    "power r of the polynomial weights (k+1)^r of the average, in [0, 10]",
    "0",
);
const WEIGHT_LR_POWER: Key = Key::new(
    "weight_lr_power",
    "power of the largest learning rate so far in the weights of the average, in [0, 10]",
    "2",
);

/// `sf-sgd`.
pub(crate) const SF_SGD: RegistryEntry = RegistryEntry {
    name: "sf-sgd",
    summary: "Schedule-Free SGD (Defazio et al. 2024) as schedulefree 1.4.1's reference: no schedule, evaluate at the average x (eval_params)",
    keys: &[
        Key::new("lr", "learning rate of z, in [0, 1e6]", "1"),
        Key::new("momentum", "beta of the training point y = beta*x + (1-beta)*z, in (0, 1)", "0.9"),
        Key::new("weight_decay", "L2 penalty lambda*y added to the gradient, in [0, 1e6] with lr*lambda <= 1", "0"),
        WARMUP,
        R,
        WEIGHT_LR_POWER,
        NON_FINITE,
    ],
    whole_model: true,
    family: Family::LearningRateFree,
    presets: &[Preset::defaults("sf-sgd", Tier::Full)],
    // g, w, z, x | z, x, w.
    speed: Speed::Timed(&[SpeedCase::new("", 28)]),
    contract: "",
    fields: &[],
    build: |p| {
        let d = ScheduleFreeSgdConfig::default();
        let config = ScheduleFreeSgdConfig {
            lr: p.f32("lr", d.lr)?,
            momentum: p.f32("momentum", d.momentum)?,
            weight_decay: p.f32("weight_decay", d.weight_decay)?,
            warmup_steps: p.usize("warmup_steps", d.warmup_steps as usize)? as u64,
            r: p.f32("r", d.r)?,
            weight_lr_power: p.f32("weight_lr_power", d.weight_lr_power)?,
            non_finite: p.non_finite(d.non_finite)?,
        };
        Ok(Built::new(ScheduleFreeSgd::new(config)?))
    },
};

/// `sf-adamw`.
pub(crate) const SF_ADAMW: RegistryEntry = RegistryEntry {
    name: "sf-adamw",
    summary: "Schedule-Free AdamW (Defazio et al. 2024) as schedulefree 1.4.1's reference: no schedule, evaluate at the average x (eval_params)",
    keys: &[
        Key::new("lr", "learning rate of z, in [0, 1e6]", "0.0025"),
        Key::new("beta1", "beta of the training point y = beta*x + (1-beta)*z, in [0, 1)", "0.9"),
        Key::new("beta2", "decay of the second moment, in [0, 1)", "0.999"),
        Key::new("eps", "epsilon added to the root of the bias-corrected second moment, > 0", "1e-8"),
        Key::new("weight_decay", "decoupled weight decay lambda (z -= lr*lambda*y), in [0, 1e6] with lr*lambda <= 1", "0"),
        WARMUP,
        R,
        WEIGHT_LR_POWER,
        Key::new("decay_at_z", "decay z instead of y", "false"),
        NON_FINITE,
    ],
    whole_model: true,
    family: Family::LearningRateFree,
    presets: &[Preset::defaults("sf-adamw", Tier::Headline)],
    // g, w, z, x, v | z, x, v, w.
    speed: Speed::Timed(&[SpeedCase::new("", 36)]),
    contract: "lr=0.01",
    fields: &[],
    build: |p| {
        let d = ScheduleFreeAdamWConfig::default();
        let config = ScheduleFreeAdamWConfig {
            lr: p.f32("lr", d.lr)?,
            beta1: p.f32("beta1", d.beta1)?,
            beta2: p.f32("beta2", d.beta2)?,
            eps: p.f32("eps", d.eps)?,
            weight_decay: p.f32("weight_decay", d.weight_decay)?,
            warmup_steps: p.usize("warmup_steps", d.warmup_steps as usize)? as u64,
            r: p.f32("r", d.r)?,
            weight_lr_power: p.f32("weight_lr_power", d.weight_lr_power)?,
            decay_at_z: p.bool("decay_at_z", d.decay_at_z)?,
            non_finite: p.non_finite(d.non_finite)?,
        };
        Ok(Built::new(ScheduleFreeAdamW::new(config)?))
    },
};

/// `cocob`.
pub(crate) const COCOB: RegistryEntry = RegistryEntry {
    name: "cocob",
    summary: "COCOB-Backprop (Orabona & Tommasi 2017) as optax 0.2.8 contrib.cocob: per-coordinate coin betting, no learning rate",
    keys: &[
        Key::new("lr", "scale of the gradients before betting, > 0", "1"),
        Key::new("alpha", "fraction alpha of the wealth not to bet early on, > 0", "100"),
        Key::new("eps", "initial scale L, > 0", "1e-8"),
        Key::new("weight_decay", "weight decay lambda added to the gradient, in [0, 1e6]", "0"),
        NON_FINITE,
    ],
    whole_model: false,
    family: Family::LearningRateFree,
    presets: &[Preset::defaults("cocob", Tier::Headline)],
    // g, w, x₀, C, L, G, R | C, L, G, R, w.
    speed: Speed::Timed(&[SpeedCase::new("", 48)]),
    contract: "",
    fields: &[],
    build: |p| {
        let d = CocobConfig::default();
        let config = CocobConfig {
            lr: p.f32("lr", d.lr)?,
            alpha: p.f32("alpha", d.alpha)?,
            eps: p.f32("eps", d.eps)?,
            weight_decay: p.f32("weight_decay", d.weight_decay)?,
            non_finite: p.non_finite(d.non_finite)?,
        };
        Ok(Built::new(Cocob::new(config)?))
    },
};

/// Mechanic's keys of the registry entries.
const S_DECAY: Key = Key::new(
    "s_decay",
    "Mechanic's weight-decay-like lambda, in [0, 1e6]",
    "0.01",
);
/// See [`S_DECAY`].
const S_INIT: Key = Key::new(
    "s_init",
    "Mechanic's initial scale, an underestimate, in (0, 1e6]",
    "1e-8",
);
/// See [`S_DECAY`]; `s_eps` because Adam's `eps` is a key of `mechanic-adam` too.
const S_EPS: Key = Key::new(
    "s_eps",
    "Mechanic's epsilon (the reference's `eps`), finite and > 0",
    "1e-8",
);
/// The base's learning rate: the reference's README uses 1.
const LR: Key = Key::new("lr", "the base's learning rate, which Mechanic scales (the reference's README: 1; very small values lose precision)", "1");

/// Reads `s_decay`, `s_init`, `s_eps` and `non_finite` over [`MechanicConfig::default`], and
/// validates them (a range error names the key, `s_eps` for the config's `eps`).
fn mechanic_keys(p: &mut Params<'_>) -> Result<MechanicConfig, SpecError> {
    let d = MechanicConfig::default();
    let config = MechanicConfig {
        s_decay: p.f32("s_decay", d.s_decay)?,
        s_init: p.f32("s_init", d.s_init)?,
        eps: p.f32("s_eps", d.eps)?,
        non_finite: p.non_finite(d.non_finite)?,
        ..d
    };
    config
        .validate()
        .map_err(|e| hyper::rename(e, &[&[("eps", "s_eps")]]))?;
    Ok(config)
}

/// `mechanic-sgd`: `mechanic-sgd:lr=X` is
/// `Mechanic::new(Sgd::new(SgdConfig::with_lr(X))?, MechanicConfig::default())`, the reference's
/// `mechanize(torch.optim.SGD)(params, lr=X)`.
pub(crate) const MECHANIC_SGD: RegistryEntry = RegistryEntry {
    name: "mechanic-sgd",
    summary: "Mechanic (Cutkosky, Defazio & Mehta 2023) as mechanic-pytorch 0.0.1 over SGD: learns the scale of SGD's steps from the starting point",
    keys: &[
        LR,
        MOMENTUM,
        DAMPENING,
        NESTEROV,
        SGD_WEIGHT_DECAY,
        S_DECAY,
        S_INIT,
        S_EPS,
        NON_FINITE,
    ],
    whole_model: true,
    family: Family::LearningRateFree,
    presets: &[Preset::defaults("mechanic-sgd", Tier::Full)],
    // w (copy); SGD's; w, ref, g, copy; ref | copy; SGD's; w.
    speed: Speed::Timed(&[SpeedCase::new("", 48)]),
    contract: "",
    fields: &[],
    build: |p| {
        let config = mechanic_keys(p)?;
        let lr = p.f32("lr", 1.0)?;
        let base = SgdConfig::read(p, lr, config.non_finite)?;
        Ok(Built::new(Mechanic::new(Sgd::new(base)?, config)?))
    },
};

/// `mechanic-adam`: as `mechanic-sgd`, over Adam
/// (`mechanize(torch.optim.Adam)(params, lr=X)`).
pub(crate) const MECHANIC_ADAM: RegistryEntry = RegistryEntry {
    name: "mechanic-adam",
    summary: "Mechanic (Cutkosky, Defazio & Mehta 2023) as mechanic-pytorch 0.0.1 over Adam: learns the scale of Adam's steps from the starting point",
    keys: &[
        LR,
        BETA1,
        BETA2,
        EPS,
        ADAM_WEIGHT_DECAY,
        DECOUPLED,
        S_DECAY,
        S_INIT,
        S_EPS,
        NON_FINITE,
    ],
    whole_model: true,
    family: Family::LearningRateFree,
    presets: &[Preset::defaults("mechanic-adam", Tier::Headline)],
    // w (copy); Adam's; w, ref, g, copy; ref | copy; Adam's; w.
    speed: Speed::Timed(&[SpeedCase::new("", 64)]),
    contract: "",
    fields: &[],
    build: |p| {
        let config = mechanic_keys(p)?;
        let lr = p.f32("lr", 1.0)?;
        let base = AdamConfig::read(p, lr, config.non_finite)?;
        Ok(Built::new(Mechanic::new(Adam::new(base)?, config)?))
    },
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
    let bytes = read_weights_file(value).map_err(bad)?;
    L2lWeights::load(&bytes).map_err(|e| bad(e.to_string()))
}

/// The bytes of the weights file at `path`, read only if it is a regular file of at most
/// [`MAX_WEIGHTS_BYTES`] (the largest file [`L2lWeights::save`] writes), and never more than
/// that: a FIFO would block the read forever, a device (`/dev/zero`) never ends, and a huge
/// file would be read whole into memory before the checks could refuse it. The error says what
/// the path is, in words.
///
/// The path is checked before it is opened (opening a FIFO blocks until someone writes to it)
/// and the file again once open; a path swapped for a FIFO between the two would still block.
fn read_weights_file(path: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let cannot = |e: std::io::Error| format!("cannot read it: {e}");
    let regular = |meta: std::fs::Metadata| -> Result<(), String> {
        if !meta.is_file() {
            return Err(format!(
                "it is {}, not a regular file; give the path of a weights file itself",
                file_type_in_words(meta.file_type())
            ));
        }
        if meta.len() > MAX_WEIGHTS_BYTES {
            return Err(format!(
                "it has {} bytes, and a weights file has at most {MAX_WEIGHTS_BYTES}: it is another file",
                meta.len()
            ));
        }
        Ok(())
    };
    regular(std::fs::metadata(path).map_err(cannot)?)?;
    let file = std::fs::File::open(path).map_err(cannot)?;
    regular(file.metadata().map_err(cannot)?)?;
    let mut bytes = Vec::new();
    file.take(MAX_WEIGHTS_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_WEIGHTS_BYTES {
        return Err(format!(
            "it grew beyond the {MAX_WEIGHTS_BYTES} bytes a weights file has at most while it was read: it is another file"
        ));
    }
    Ok(bytes)
}

/// What a path that is not a regular file is, for [`read_weights_file`]'s message.
fn file_type_in_words(t: std::fs::FileType) -> &'static str {
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "something other than a file"
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
