//! What the benchmarks share (a folder, so that cargo does not take it for
//! a benchmark of its own).

/// A cheap deterministic generator of random `u64`s (xorshift): no
/// dependency for random numbers, the same inputs on every run.
pub fn random_u64s() -> impl FnMut() -> u64 {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}
