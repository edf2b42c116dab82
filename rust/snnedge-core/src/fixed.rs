//! Fixed-point formats and the three arithmetic primitives of the integer contract.
//!
//! Everything the engine computes is one of these steps; `docs/numerics.md` gives the same
//! rules as a table. The formats:
//!
//! | quantity            | storage | range                                   |
//! |---------------------|---------|-----------------------------------------|
//! | weight              | i8/i16  | `weight_bits` = 4, 8 (default) or 16    |
//! | contribution        | i32     | `weight << shift`, `shift` in 0..=16    |
//! | tick input (accum.) | i64     | exact sum, then saturated to i32        |
//! | current, membrane   | i32     | saturated to `state_bits` (2..=32)      |
//! | threshold offset θ  | i32     | saturated to 0..=max(state_bits)        |
//! | decay factor        | u32     | Q0.16 in 0..=65536 (65536 = no decay)   |
//!
//! Why truncation toward zero for the decay (and not floor or round-to-nearest): it is the
//! only one of the three under which every decay with factor < 1 reaches exactly zero from
//! any start value, for either sign. Floor (an arithmetic right shift, as Lava's
//! bit-accurate LIF does) leaves negative states stuck at -1; round-to-nearest leaves small
//! positive and negative states stuck (1 * 0.9 rounds back to 1). A state that reaches zero
//! stops moving, and a neuron whose state stops moving costs nothing in an event-driven engine.

/// Number of fractional bits of a decay factor (Q0.16).
pub const DECAY_FRAC_BITS: u32 = 16;

/// The decay factor that means "no decay" (1.0 in Q0.16).
pub const DECAY_ONE: u32 = 1 << DECAY_FRAC_BITS;

/// Largest allowed left shift applied to a weight before it is added.
pub const MAX_WEIGHT_SHIFT: u32 = 16;

/// One tick of multiplicative decay: `x * alpha / 2^16`, truncated toward zero.
///
/// Format: i32 state × Q0.16 factor → i48 product in i64 (|x| ≤ 2^31, alpha ≤ 2^16, so
/// |product| ≤ 2^47), divided by 2^16 with truncation toward zero → i32 (|result| ≤ |x|).
#[inline(always)]
pub fn decay(x: i32, alpha: u32) -> i32 {
    // Rust's integer division truncates toward zero, which is exactly the contract.
    ((x as i64 * alpha as i64) / DECAY_ONE as i64) as i32
}

/// [`decay`] in 32-bit lanes, bit-identical for states of at most 24 bits (|x| ≤ 2^23).
///
/// Split |x| = 256·h + l (h < 2^15 + 1, l < 2^8). Then
/// `floor(|x|·α / 2^16) = floor((h·α + floor(l·α / 2^8)) / 2^8)` (nested floors of integer
/// sums), where h·α ≤ 2^31 − 2^15 and l·α < 2^24, so every intermediate fits a u32. The sign
/// is restored afterwards, which gives truncation toward zero.
///
/// Why: the engine's whole-layer pass applies the decay to thousands of independent lanes
/// per tick. A 64-bit lane multiply processes half as many lanes per instruction as a 32-bit
/// one (and x86 has no packed 64-bit multiply before AVX-512DQ), so for the default 24-bit
/// states this form doubles the width of the hot loop.
#[inline(always)]
pub fn decay_24(x: i32, alpha: u32) -> i32 {
    let m = x.unsigned_abs();
    let (h, l) = (m >> 8, m & 0xFF);
    let r = (h.wrapping_mul(alpha).wrapping_add(l.wrapping_mul(alpha) >> 8) >> 8) as i32;
    // The sign restored without a branch or select: `(r ^ s) - s` is `r` for s = 0 and `-r`
    // for s = -1. (A select made the vectoriser compute both products, for x and for -x.)
    let s = x >> 31;
    (r ^ s).wrapping_sub(s)
}

/// Applies `n` ticks of [`decay`] one after the other, stopping early once the value is zero.
///
/// This is the same as calling `decay` `n` times (the contract is per tick, and the product
/// of truncated steps is not a truncated power, so no closed form exists). The loop runs at
/// most `min(n, ticks to reach zero)` times, so catching up an idle neuron never costs more
/// than stepping it tick by tick would have.
#[inline]
pub fn decay_n(mut x: i32, alpha: u32, n: u64) -> i32 {
    if alpha >= DECAY_ONE {
        return x;
    }
    let mut k = n;
    while k > 0 && x != 0 {
        x = decay(x, alpha);
        k -= 1;
    }
    x
}

/// The inclusive range of a signed state of `bits` bits (2 ≤ bits ≤ 32).
#[inline]
pub const fn state_range(bits: u32) -> (i64, i64) {
    let hi = (1i64 << (bits - 1)) - 1;
    (-hi - 1, hi)
}

/// Saturates an exact i64 intermediate into `[lo, hi]` (the narrowing rule for every state).
#[inline(always)]
pub fn saturate(x: i64, lo: i64, hi: i64) -> i32 {
    (if x < lo {
        lo
    } else if x > hi {
        hi
    } else {
        x
    }) as i32
}

/// Saturates an exact i64 tick input to i32 (the accumulator narrowing rule).
#[inline(always)]
pub fn saturate_i32(x: i64) -> i32 {
    saturate(x, i32::MIN as i64, i32::MAX as i64)
}

/// Converts a floating decay per tick (for example `exp(-dt/tau)`) to the nearest Q0.16 factor.
///
/// Only for building models; the engine itself never touches floating point.
pub fn decay_from_f64(factor: f64) -> Option<u32> {
    if !(0.0..=1.0).contains(&factor) {
        return None;
    }
    let r = factor * DECAY_ONE as f64 + 0.5;
    Some(if r >= DECAY_ONE as f64 { DECAY_ONE } else { r as u32 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decay_truncates_toward_zero() {
        assert_eq!(decay(10, 58982), 8); // 10 * 0.9 = 8.99.. -> 8
        assert_eq!(decay(-10, 58982), -8); // symmetric
        assert_eq!(decay(1, 65535), 0);
        assert_eq!(decay(-1, 65535), 0);
        assert_eq!(decay(i32::MIN, DECAY_ONE), i32::MIN);
        assert_eq!(decay(i32::MAX, DECAY_ONE), i32::MAX);
        assert_eq!(decay(i32::MIN, 32768), -(1 << 30));
    }

    #[test]
    fn decay_reaches_zero_for_every_int16_start() {
        // Exhaustive over the int16 domain for a slow and a fast factor: the value strictly
        // shrinks in magnitude each tick until it is zero.
        for &alpha in &[1u32, 32768, 58982, 65535] {
            for x0 in i16::MIN as i32..=i16::MAX as i32 {
                let mut x = x0;
                let mut steps = 0u32;
                while x != 0 {
                    let y = decay(x, alpha);
                    assert!(y.unsigned_abs() < x.unsigned_abs(), "alpha {alpha} x {x} -> {y}");
                    assert!(y.signum() * x.signum() >= 0);
                    x = y;
                    steps += 1;
                }
                assert!(steps <= 65536);
                assert_eq!(decay_n(x0, alpha, u64::MAX), 0);
            }
        }
    }

    #[test]
    fn decay_n_equals_repeated_decay() {
        for x0 in [-100_000i32, -3, 0, 7, 123_456, i32::MAX, i32::MIN] {
            for n in 0..40u64 {
                let mut x = x0;
                for _ in 0..n {
                    x = decay(x, 60000);
                }
                assert_eq!(decay_n(x0, 60000, n), x);
            }
        }
    }

    #[test]
    fn decay_24_is_bit_exact_on_the_whole_24_bit_domain() {
        for &a in &[0u32, 1, 255, 256, 32768, 58982, 65280, 65535] {
            for x in -(1i32 << 23)..=(1i32 << 23) - 1 {
                assert_eq!(decay_24(x, a), decay(x, a), "x {x} alpha {a}");
            }
        }
        for a in 0..DECAY_ONE {
            for x in [-(1i32 << 23), -8_388_607, -65536, -257, -1, 0, 1, 255, 256, 65537, (1 << 23) - 1] {
                assert_eq!(decay_24(x, a), decay(x, a), "x {x} alpha {a}");
            }
        }
    }

    #[test]
    fn ranges_and_saturation() {
        assert_eq!(state_range(8), (-128, 127));
        assert_eq!(state_range(32), (i32::MIN as i64, i32::MAX as i64));
        assert_eq!(saturate(1000, -128, 127), 127);
        assert_eq!(saturate(-1000, -128, 127), -128);
        assert_eq!(saturate_i32(1 << 40), i32::MAX);
        assert_eq!(decay_from_f64(0.9), Some(58982));
        assert_eq!(decay_from_f64(1.0), Some(DECAY_ONE));
        assert_eq!(decay_from_f64(1.5), None);
    }
}
