//! How each workload is built from its options: the data sets, the simulated robot, BEGAN
//! with its feature network; the option parsers.

use std::collections::BTreeMap;
use std::path::PathBuf;

use lrmem_tasks::began::{BeganConfig, BeganMnist, BeganTaskConfig};
use lrmem_tasks::dynamics::SampleOrder;
use lrmem_tasks::fid::FeatureNet;
use lrmem_tasks::mnist::{Mnist, PixelScale};
use lrmem_tasks::robot::{PandaForward, PandaInverse, RobotConfig};
use lrmem_tasks::{MnistPairs, TaskFamily};

use super::WorkloadConfig;
use crate::BenchError;

/// Samples of `began`'s Fréchet distance (the issue asks for ≥ 1,000).
const FID_SAMPLES: usize = 1000;
/// Seed of the feature network of `began`'s Fréchet distance: one network for every run.
const FID_NET_SEED: u64 = 0;

/// Parses `1-2,1-3` into digit pairs.
pub fn parse_pairs(text: &str) -> Result<Vec<(u8, u8)>, BenchError> {
    text.split(',')
        .map(|p| {
            let bad =
                || BenchError::Parse(format!("pair `{p}` is not of the form A-B (digits 0–9)"));
            let (a, b) = p.split_once('-').ok_or_else(bad)?;
            Ok((
                a.trim().parse().map_err(|_| bad())?,
                b.trim().parse().map_err(|_| bad())?,
            ))
        })
        .collect()
}

/// Parses a pixel scaling name.
pub fn parse_pixels(text: &str) -> Result<PixelScale, BenchError> {
    match text {
        "unit" => Ok(PixelScale::Unit),
        "raw" => Ok(PixelScale::Raw),
        "standardized" => Ok(PixelScale::Standardized),
        other => Err(BenchError::Parse(format!(
            "pixels must be unit, raw or standardized, not `{other}`"
        ))),
    }
}

pub(super) fn pairs(
    config: &WorkloadConfig,
    set: &str,
) -> Result<Box<dyn TaskFamily + Send>, BenchError> {
    let pairs = parse_pairs(
        config
            .options
            .get("pairs")
            .map_or("1-2,1-3,1-4", String::as_str),
    )?;
    let pixels = parse_pixels(config.options.get("pixels").map_or("unit", String::as_str))?;
    let dir = config
        .options
        .get("dir")
        .map_or_else(|| config.data_root.join(set), PathBuf::from);
    let context = || format!("workload `{set}` (data in {})", dir.display());
    let data = Mnist::load(&dir).map_err(|source| BenchError::Task {
        context: context(),
        source: Box::new(source),
    })?;
    let family = MnistPairs::new(&data, &pairs, pixels)
        .and_then(|f| MnistPairs::from_pairs(set, f.pairs().to_vec()))
        .map_err(|source| BenchError::Task {
            context: context(),
            source: Box::new(source),
        })?;
    Ok(Box::new(family))
}

/// Option `key` of `options` as a number, or `default` when it is not given.
fn num<T: std::str::FromStr>(
    options: &BTreeMap<String, String>,
    key: &str,
    default: T,
) -> Result<T, BenchError> {
    match options.get(key) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| {
            BenchError::Parse(format!("option {key}={v}: not a number of the right kind"))
        }),
    }
}

/// The robot data settings of `config`'s options over `defaults`.
pub fn robot_config(
    config: &WorkloadConfig,
    defaults: RobotConfig,
) -> Result<RobotConfig, BenchError> {
    let o = &config.options;
    let order = match o.get("order").map(String::as_str) {
        None => defaults.order,
        Some("stream") => SampleOrder::Stream,
        Some("shuffled") => SampleOrder::Shuffled,
        Some(other) => {
            return Err(BenchError::Parse(format!(
                "option order={other}: pass stream or shuffled"
            )))
        }
    };
    let c = RobotConfig {
        train: num(o, "train", defaults.train)?,
        test: num(o, "test", defaults.test)?,
        seconds: num(o, "seconds", defaults.seconds)?,
        eval_every: num(o, "eval-every", defaults.eval_every)?,
        payload: num(o, "payload", defaults.payload)?,
        margin: num(o, "margin", defaults.margin)?,
        order,
    };
    c.validated().map_err(|source| BenchError::Task {
        context: "the robot workload's options".into(),
        source: Box::new(source),
    })
}

pub(super) fn robot_forward(config: &WorkloadConfig) -> Result<PandaForward, BenchError> {
    if config.options.contains_key("order") {
        return Err(BenchError::Parse(
            "option order is for panda-inverse only (the forward model samples subsequences)"
                .into(),
        ));
    }
    let c = robot_config(config, RobotConfig::forward())?;
    PandaForward::new(&c).map_err(|source| BenchError::Task {
        context: "workload `panda-forward` (simulating its data)".into(),
        source: Box::new(source),
    })
}

pub(super) fn robot_inverse(config: &WorkloadConfig) -> Result<PandaInverse, BenchError> {
    let c = robot_config(config, RobotConfig::inverse())?;
    PandaInverse::new(&c).map_err(|source| BenchError::Task {
        context: "workload `panda-inverse` (simulating its data)".into(),
        source: Box::new(source),
    })
}

pub(super) fn began(config: &WorkloadConfig) -> Result<Box<dyn TaskFamily + Send>, BenchError> {
    let o = &config.options;
    let defaults = BeganTaskConfig::default();
    let cfg = BeganTaskConfig {
        model: BeganConfig {
            batch: num(o, "batch", defaults.model.batch)?,
            ..defaults.model
        },
        eval_every: num(o, "eval-every", defaults.eval_every)?,
        eval_images: num(o, "eval-images", defaults.eval_images)?,
    };
    let dir = o
        .get("dir")
        .map_or_else(|| config.data_root.join("mnist"), PathBuf::from);
    let context = || format!("workload `began` (data in {})", dir.display());
    let err = |source| BenchError::Task {
        context: context(),
        source: Box::new(source),
    };
    let data = Mnist::load(&dir).map_err(err)?;
    let family = BeganMnist::new(&data, cfg).map_err(err)?;
    let samples = num(o, "fid-samples", FID_SAMPLES)?;
    if samples == 0 {
        return Ok(Box::new(family));
    }
    // Trained once (≈ 1 min on a core) and kept, so that every run and every later
    // experiment measures with the same network.
    let net = match &config.cache_dir {
        Some(d) => FeatureNet::cached(
            &d.join(format!("began-featurenet-seed{FID_NET_SEED}.bin")),
            &data,
            FID_NET_SEED,
        ),
        None => FeatureNet::train(&data, FID_NET_SEED),
    }
    .map_err(err)?;
    Ok(Box::new(family.with_fid(&data, net, samples).map_err(err)?))
}
