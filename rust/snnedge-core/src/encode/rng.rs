//! Counter-based random numbers: each draw is a pure function of `(seed, stream, counter)`.
//!
//! Why counter-based (and not a stateful generator such as a PCG or xorshift per channel):
//! a stateful generator would have to be advanced exactly once per decision, so the state
//! after a chunk would depend on which decisions were made, and skipping silent channels
//! (the fast path of the rate encoder) would change later draws. With a counter-based
//! generator, the draw for channel `c` at step `k` is `draw(key(seed, c), k)` whoever asks
//! and whenever; chunking and skipping cannot change it. Philox and Threefry are the
//! classic choices; the SplitMix64 finaliser used here is cheaper (two multiplies) and passes
//! BigCrush when used as `mix(key + counter · γ)`, which is exactly how it is used here.
//!
//! The same functions are written in numpy in `tests/encode_reference.py`; the two must agree
//! bit for bit (the Python tests compare them).

/// The SplitMix64 increment γ = 2^64 / φ (odd).
pub const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's finaliser: a bijection of `u64` with full avalanche.
#[inline(always)]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The key of one stream (a channel or a pixel) under a seed.
#[inline]
pub fn stream_key(seed: u64, stream: u64) -> u64 {
    mix64(seed ^ mix64(stream.wrapping_add(GAMMA)))
}

/// The `counter`-th 64-bit draw of the stream with key `key`.
#[inline(always)]
pub fn draw(key: u64, counter: u64) -> u64 {
    mix64(key.wrapping_add(counter.wrapping_mul(GAMMA)))
}

/// 2^53, the number of distinct values of [`unit`].
pub const UNIT_STEPS: f64 = 9_007_199_254_740_992.0;

/// A draw as a float in `[0, 1)` with 53 random bits.
#[inline(always)]
pub fn unit(d: u64) -> f64 {
    (d >> 11) as f64 * (1.0 / UNIT_STEPS)
}

/// The integer threshold for an event of probability `p`: a draw `d` fires when
/// `d >> 11 < threshold(p)`, which happens with probability `threshold(p) / 2^53`, that is
/// `p` rounded down to a multiple of 2^-53. NaN and `p <= 0` give 0 (never), `p >= 1` gives
/// 2^53 (always).
#[inline(always)]
pub fn threshold(p: f64) -> u64 {
    if p > 0.0 {
        if p < 1.0 {
            (p * UNIT_STEPS) as u64
        } else {
            1 << 53
        }
    } else {
        0
    }
}

/// A standard normal deviate from two draws (Box-Muller, cosine branch).
pub fn normal(key: u64, counter: u64) -> f64 {
    // 1 - unit is in (0, 1], so the logarithm is finite.
    let u1 = 1.0 - unit(draw(key, counter));
    let u2 = unit(draw(key, counter.wrapping_add(1)));
    libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * core::f64::consts::PI * u2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_values() {
        // The first outputs of SplitMix64 seeded with 0 (state += γ, then mix), the
        // published reference sequence.
        assert_eq!(draw(0, 1), 0xE220_A839_7B1D_CDAF);
        assert_eq!(draw(0, 2), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn uniform_mean_and_threshold() {
        let key = stream_key(42, 3);
        let n = 100_000u64;
        let t = threshold(0.25);
        let hits = (0..n).filter(|&k| draw(key, k) >> 11 < t).count() as f64;
        // Binomial(1e5, 0.25): sd = 137; 6 sd bound.
        assert!((hits - 25_000.0).abs() < 6.0 * 137.0, "{hits}");
        assert_eq!(threshold(f64::NAN), 0);
        assert_eq!(threshold(2.0), 1 << 53);
        let mean = (0..n).map(|k| unit(draw(key, k))).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 6.0 * (1.0f64 / 12.0 / n as f64).sqrt());
    }

    #[test]
    fn normal_moments() {
        let key = stream_key(7, 0);
        let n = 50_000u64;
        let xs: alloc::vec::Vec<f64> = (0..n).map(|k| normal(key, 2 * k)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 6.0 / (n as f64).sqrt());
        assert!((var - 1.0).abs() < 0.05);
    }
}
