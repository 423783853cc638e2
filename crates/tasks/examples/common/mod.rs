//! What the MNIST examples share: their `[LR] [UPDATES] [SEED]` arguments.

/// The command line's `[LR] [UPDATES] [SEED]`, each optional, with the defaults 1e−3,
/// `updates` and 0.
pub fn lr_updates_seed(updates: usize) -> Result<(f32, usize, u64), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let lr: f32 = args.next().map_or(Ok(1e-3), |a| a.parse())?;
    let updates: usize = args.next().map_or(Ok(updates), |a| a.parse())?;
    let seed: u64 = args.next().map_or(Ok(0), |a| a.parse())?;
    Ok((lr, updates, seed))
}
