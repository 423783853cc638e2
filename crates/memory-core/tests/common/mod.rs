//! What the integration tests share.

/// max_d |ours − reference| / max_d |reference|: the error relative to the vector's scale, the
/// measure of the parity tolerance (docs/algorithm.md §13).
pub fn scaled_error(ours: &[f32], reference: &[f32]) -> f64 {
    assert_eq!(ours.len(), reference.len());
    let scale = reference
        .iter()
        .fold(0.0f64, |m, &x| m.max((x as f64).abs()));
    let err = ours
        .iter()
        .zip(reference)
        .fold(0.0f64, |m, (&a, &b)| m.max((a as f64 - b as f64).abs()));
    err / scale.max(f64::MIN_POSITIVE)
}
