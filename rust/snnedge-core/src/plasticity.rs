//! Online learning in integer arithmetic: pair-based STDP on dense, sparse and convolutional
//! (shared-weight) connections.
//!
//! The contract (`docs/numerics.md`, "Learning"), per plastic connection, after every layer has
//! computed tick `t` (so the spikes of tick `t` of source and target are known):
//!
//! ```text
//! 1. traces    x_j <- D(x_j, decay_pre), y_i <- D(y_i, decay_post)        (all j, all i)
//!              each pre spike j:  x_j <- min(x_j + ONE, MAX) (all-to-all) or x_j <- ONE (nearest)
//!              each post spike i: y_i <- likewise
//! 2. depression   for each pre spike j, for each post i:
//!                    w_ji <- clamp(w_ji - SR(a_minus * y_i * m_minus, den), w_min, w_max)
//! 3. potentiation for each post spike i, for each pre j:
//!                    w_ji <- clamp(w_ji + SR(a_plus * x_j * m_plus, den), w_min, w_max)
//! ```
//!
//! with `ONE = 2^15` (a trace of 1.0), `MAX = 2^16 - 1`; additive rule: `m = 1`,
//! `den = 2^31` (so `a` is the weight change for a trace of 1.0 in 2^-16 weight units);
//! multiplicative rule: `m_plus = w_max - w`, `m_minus = w - w_min`, `den = 2^31 * (w_max - w_min)`.
//! `SR(num, den)` is stochastic rounding: `floor(num / den)` plus one when
//! `u < num mod den`, where `u = hash(seed, t, j, i, phase) mod den` is a counter-based random
//! number, so learning is reproducible and independent of how the stream is chunked.

use alloc::vec;
use alloc::vec::Vec;

use crate::fixed::{decay, decay_24, DECAY_ONE};
use crate::model::spec::{Pairing, PlasticitySpec, StdpRule};
use crate::synapse::{DenseWeights, Layout};

/// A trace of 1.0.
pub const TRACE_ONE: i32 = 1 << 15;
/// Largest trace value.
pub const TRACE_MAX: i32 = (1 << 16) - 1;

/// SplitMix64 finaliser: the mixing step of the counter-based generator.
#[inline(always)]
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The random number of one synapse update: `mix64(mix64(mix64(seed ^ t) ^ (j << 32 | i)) ^ phase)`
/// with `phase` 0 for depression and 1 for potentiation.
#[inline(always)]
pub fn synapse_random(seed: u64, t: u64, j: u32, i: u32, phase: u64) -> u64 {
    mix64(mix64(mix64(seed ^ t) ^ (((j as u64) << 32) | i as u64)) ^ phase)
}

/// Stochastic rounding of `num / den` (`den > 0`) with the random number `r`:
/// `floor(num / den) + (r mod den < num mod den)`.
#[inline(always)]
pub fn stochastic_round(num: i64, den: u64, r: u64) -> i64 {
    let d = den as i64;
    let q = num.div_euclid(d);
    let rem = num.rem_euclid(d) as u64;
    q + ((r % den) < rem) as i64
}

/// Compiled learning parameters of one dense connection.
#[derive(Debug, Clone, PartialEq)]
pub struct StdpParams {
    /// Additive or weight-dependent.
    pub rule: StdpRule,
    /// All-to-all (traces add) or nearest-spike (traces reset).
    pub pairing: Pairing,
    /// Potentiation rate.
    pub a_plus: i64,
    /// Depression rate.
    pub a_minus: i64,
    /// Pre-synaptic trace decay, Q0.16.
    pub decay_pre: u32,
    /// Post-synaptic trace decay, Q0.16.
    pub decay_post: u32,
    /// Lower weight bound.
    pub w_min: i32,
    /// Upper weight bound.
    pub w_max: i32,
    /// Seed of the counter-based generator.
    pub seed: u64,
    /// Learning enabled at start.
    pub enabled: bool,
    /// Reward-modulated mode: decay of the eligibility traces per tick, Q0.16.
    pub eligibility_decay: Option<u32>,
}

impl StdpParams {
    /// From the model description (ranges checked by the caller).
    pub fn from_spec(p: &PlasticitySpec) -> Self {
        StdpParams {
            rule: p.rule,
            pairing: p.pairing,
            a_plus: p.a_plus,
            a_minus: p.a_minus,
            decay_pre: p.trace_decay_pre,
            decay_post: p.trace_decay_post,
            w_min: p.w_min as i32,
            w_max: p.w_max as i32,
            seed: p.seed,
            enabled: p.enabled,
            eligibility_decay: p.eligibility_decay,
        }
    }
}

/// Which synapses a plastic connection has, and the order of its weights.
#[derive(Debug, Clone, PartialEq)]
pub enum Topology {
    /// Every source to every target: weight `k = j * n_post + i` (internal indices).
    Dense,
    /// Explicit synapses (no two between the same pair): weight `k` in CSR order by source
    /// internal index.
    Sparse(SparseTopology),
    /// A convolution: weight `q = ((ci * kh + ky) * kw + kx) * c_out + o` is shared by every
    /// pair its window relates; the changes of one tick are summed per weight, then rounded once.
    Conv(ConvTopology),
}

/// The geometry of a plastic convolution.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvTopology {
    /// Input channels.
    pub c_in: usize,
    /// Kernel rows.
    pub kh: usize,
    /// Kernel columns.
    pub kw: usize,
    /// Row stride.
    pub sh: usize,
    /// Column stride.
    pub sw: usize,
    /// Row padding.
    pub ph: usize,
    /// Column padding.
    pub pw: usize,
    /// Output channels.
    pub c_out: usize,
    /// Per source row: the output rows whose window covers it.
    pub rows: Vec<(u16, u16)>,
    /// Per source column: the output columns whose window covers it.
    pub cols: Vec<(u16, u16)>,
}

impl ConvTopology {
    /// The C-order (`[C_out, C_in, kh, kw]`) index of kernel weight `q`.
    pub fn spec_index(&self, q: usize) -> usize {
        let (o, rest) = (q % self.c_out, q / self.c_out);
        let (kx, rest) = (rest % self.kw, rest / self.kw);
        let (ky, ci) = (rest % self.kh, rest / self.kh);
        ((o * self.c_in + ci) * self.kh + ky) * self.kw + kx
    }
}

/// The synapses of a plastic sparse connection, indexed both ways.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseTopology {
    /// `[n_pre + 1]`: synapses `indptr[j]..indptr[j + 1]` start at source `j`.
    pub indptr: Vec<u32>,
    /// Per synapse: target internal index.
    pub targets: Vec<u32>,
    /// Per synapse: source internal index.
    pub sources: Vec<u32>,
    /// `[n_post + 1]`: `by_target[col_ptr[i]..col_ptr[i + 1]]` are the synapses into target `i`.
    pub col_ptr: Vec<u32>,
    /// Synapse indices grouped by target.
    pub by_target: Vec<u32>,
    /// Per synapse: its position in the model's (C-order, CSR) synapse list.
    pub spec_index: Vec<u32>,
}

impl SparseTopology {
    /// From CSR rows by source internal index, and each synapse's position in the model's list.
    pub fn new(indptr: Vec<u32>, targets: Vec<u32>, spec_index: Vec<u32>, n_post: usize) -> Self {
        let mut sources = Vec::with_capacity(targets.len());
        for (j, w) in indptr.windows(2).enumerate() {
            sources.extend(core::iter::repeat_n(j as u32, (w[1] - w[0]) as usize));
        }
        let mut col_ptr = vec![0u32; n_post + 1];
        for &i in &targets {
            col_ptr[i as usize + 1] += 1;
        }
        for i in 0..n_post {
            col_ptr[i + 1] += col_ptr[i];
        }
        let mut fill = col_ptr.clone();
        let mut by_target = vec![0u32; targets.len()];
        for (k, &i) in targets.iter().enumerate() {
            by_target[fill[i as usize] as usize] = k as u32;
            fill[i as usize] += 1;
        }
        SparseTopology { indptr, targets, sources, col_ptr, by_target, spec_index }
    }
}

/// Mutable learning state of one plastic connection in one engine: its own weights, the traces.
#[derive(Debug, Clone)]
pub struct StdpState {
    /// Current parameters (rates and enable flag can change at run time).
    pub params: StdpParams,
    /// The connection's weights (dense: rows by source internal index; sparse: CSR order).
    pub weights: DenseWeights,
    /// Which synapses exist.
    pub topology: Topology,
    /// Pre-synaptic traces (source internal index).
    pub x: Vec<i32>,
    /// Post-synaptic traces (target internal index).
    pub y: Vec<i32>,
    /// Some trace is non-zero (the connection needs the next tick computed).
    pub moving: bool,
    /// Source and target layouts: the random numbers are keyed by C-order indices.
    src: Layout,
    dst: Layout,
    /// Scratch: indices of the non-zero traces.
    active: Vec<u32>,
    /// Scratch (convolutions): the summed trace of each kernel weight in one phase.
    sums: Vec<i64>,
    /// Reward-modulated mode: eligibility per synapse (same order as the weights), in 2^-16
    /// weight units.
    pub elig: Vec<i32>,
}

impl StdpState {
    /// Fresh state with the initial weights.
    pub fn new(params: StdpParams, weights: DenseWeights, topology: Topology, src: Layout, dst: Layout) -> Self {
        StdpState {
            params,
            weights,
            topology,
            x: vec![0; src.len()],
            y: vec![0; dst.len()],
            moving: false,
            src,
            dst,
            active: Vec::new(),
            sums: Vec::new(),
            elig: Vec::new(),
        }
        .with_eligibility()
    }

    fn with_eligibility(mut self) -> Self {
        if self.params.eligibility_decay.is_some() {
            self.elig = vec![0; weights_len(&self.weights)];
        }
        self
    }

    /// One tick of learning (see the module documentation). `pre` and `post` are the
    /// internal indices of the source's and target's spikes of tick `t`, in any order, one
    /// entry per spike.
    pub fn step(&mut self, t: u64, pre: &[u32], post: &[u32], reward: i64) {
        let StdpState { params: p, weights, topology, x, y, moving, src, dst, active, sums, elig } = self;
        if !p.enabled {
            return;
        }
        if !*moving && pre.is_empty() && post.is_empty() && reward == 0 {
            return;
        }
        // 1. traces (at most 2^16: the 32-bit form of the decay is exact, see fixed::decay_24)
        let (dp, dq) = (p.decay_pre, p.decay_post);
        if dp < DECAY_ONE {
            x.iter_mut().for_each(|x| *x = decay_24(*x, dp));
        }
        if dq < DECAY_ONE {
            y.iter_mut().for_each(|y| *y = decay_24(*y, dq));
        }
        if let Some(de) = p.eligibility_decay {
            if de < DECAY_ONE {
                elig.iter_mut().for_each(|e| *e = decay(*e, de));
            }
        }
        let bump = |v: &mut i32| match p.pairing {
            Pairing::AllToAll => *v = (*v + TRACE_ONE).min(TRACE_MAX),
            Pairing::Nearest => *v = TRACE_ONE,
        };
        for &j in pre {
            bump(&mut x[j as usize]);
        }
        for &i in post {
            bump(&mut y[i as usize]);
        }
        let n_post = y.len();
        let (lo, hi) = (p.w_min as i64, p.w_max as i64);
        let range = (hi - lo).max(1) as u64;
        let den = match p.rule {
            StdpRule::Additive => 1u64 << 31,
            StdpRule::Multiplicative => (1u64 << 31) * range,
        };
        let rstdp = p.eligibility_decay.is_some();
        // A pair's change: to the weight (stochastic rounding), or, in the reward-modulated
        // mode, to the synapse's eligibility (2^-16 weight units, truncated toward zero).
        // `phase` 0 is depression (a pre spike against post trace `tr`), 1 potentiation.
        let pair = |weights: &mut DenseWeights, elig: &mut [i32], k: usize, tr: i32, jl: u32, il: u32, phase: u64| {
            let w = get(weights, k) as i64;
            let num = if phase == 0 {
                let m = match p.rule {
                    StdpRule::Additive => 1,
                    StdpRule::Multiplicative => w - lo,
                };
                -(p.a_minus * tr as i64 * m)
            } else {
                let m = match p.rule {
                    StdpRule::Additive => 1,
                    StdpRule::Multiplicative => hi - w,
                };
                p.a_plus * tr as i64 * m
            };
            if rstdp {
                let q = num / (den >> 16) as i64;
                elig[k] = crate::fixed::saturate_i32(elig[k] as i64 + q);
            } else {
                let r = synapse_random(p.seed, t, jl, il, phase);
                set(weights, k, (w + stochastic_round(num, den, r)).clamp(lo, hi));
            }
        };
        if let Topology::Conv(cv) = topology {
            // 2-3 for shared weights: per phase, the traces of every pair a weight relates are
            // summed exactly, then the weight changes once (see docs/numerics.md)
            if p.a_minus != 0 && !pre.is_empty() {
                sums.clear();
                sums.resize(weights_len(weights), 0);
                for &j in pre {
                    let (ci, yy, xx) = src.coord(j as usize);
                    let ((r0, r1), (c0, c1)) = (cv.rows[yy], cv.cols[xx]);
                    for oy in r0 as usize..r1 as usize {
                        let ky = yy + cv.ph - oy * cv.sh;
                        for ox in c0 as usize..c1 as usize {
                            let kx = xx + cv.pw - ox * cv.sw;
                            let q0 = ((ci * cv.kh + ky) * cv.kw + kx) * cv.c_out;
                            let t0 = dst.index(0, oy, ox);
                            for (s, &tr) in sums[q0..q0 + cv.c_out].iter_mut().zip(&y[t0..t0 + cv.c_out]) {
                                *s += tr as i64;
                            }
                        }
                    }
                }
                conv_phase(p, cv, weights, elig, sums, t, 0, den);
            }
            if p.a_plus != 0 && !post.is_empty() {
                sums.clear();
                sums.resize(weights_len(weights), 0);
                for &i in post {
                    let (o, oy, ox) = dst.coord(i as usize);
                    for ky in 0..cv.kh {
                        let Some(yy) = (oy * cv.sh + ky).checked_sub(cv.ph).filter(|&v| v < src.h) else {
                            continue;
                        };
                        for kx in 0..cv.kw {
                            let Some(xx) = (ox * cv.sw + kx).checked_sub(cv.pw).filter(|&v| v < src.w) else {
                                continue;
                            };
                            for ci in 0..cv.c_in {
                                let tr = x[src.index(ci, yy, xx)];
                                if tr != 0 {
                                    sums[((ci * cv.kh + ky) * cv.kw + kx) * cv.c_out + o] += tr as i64;
                                }
                            }
                        }
                    }
                }
                conv_phase(p, cv, weights, elig, sums, t, 1, den);
            }
        }
        // 2. depression: each pre spike (duplicates each applied) against the non-zero post
        // traces (a zero trace gives a zero change, whatever the random number)
        if p.a_minus != 0 && !pre.is_empty() && !matches!(topology, Topology::Conv(_)) {
            match topology {
                Topology::Conv(_) => {}
                Topology::Dense => {
                    active.clear();
                    active.extend((0..n_post as u32).filter(|&i| y[i as usize] != 0));
                    for &j in pre {
                        let jl = src.to_logical(j as usize) as u32;
                        let row = j as usize * n_post;
                        for &i in active.iter() {
                            let il = dst.to_logical(i as usize) as u32;
                            pair(weights, elig, row + i as usize, y[i as usize], jl, il, 0);
                        }
                    }
                }
                Topology::Sparse(sp) => {
                    for &j in pre {
                        let jl = src.to_logical(j as usize) as u32;
                        for k in sp.indptr[j as usize] as usize..sp.indptr[j as usize + 1] as usize {
                            let i = sp.targets[k] as usize;
                            if y[i] != 0 {
                                pair(weights, elig, k, y[i], jl, dst.to_logical(i) as u32, 0);
                            }
                        }
                    }
                }
            }
        }
        // 3. potentiation: each post spike against the non-zero pre traces
        if p.a_plus != 0 && !post.is_empty() && !matches!(topology, Topology::Conv(_)) {
            match topology {
                Topology::Conv(_) => {}
                Topology::Dense => {
                    active.clear();
                    active.extend((0..x.len() as u32).filter(|&j| x[j as usize] != 0));
                    for &i in post {
                        let il = dst.to_logical(i as usize) as u32;
                        for &j in active.iter() {
                            let jl = src.to_logical(j as usize) as u32;
                            pair(weights, elig, j as usize * n_post + i as usize, x[j as usize], jl, il, 1);
                        }
                    }
                }
                Topology::Sparse(sp) => {
                    for &i in post {
                        let il = dst.to_logical(i as usize) as u32;
                        for &k in &sp.by_target[sp.col_ptr[i as usize] as usize..sp.col_ptr[i as usize + 1] as usize] {
                            let j = sp.sources[k as usize] as usize;
                            if x[j] != 0 {
                                pair(weights, elig, k as usize, x[j], src.to_logical(j) as u32, il, 1);
                            }
                        }
                    }
                }
            }
        }
        // 4. reward (reward-modulated mode): w <- clamp(w + SR(R * e, 2^24)), R in Q8
        if rstdp && reward != 0 {
            for (k, &e) in elig.iter().enumerate() {
                if e == 0 {
                    continue;
                }
                let (jl, il) = match topology {
                    Topology::Dense => (src.to_logical(k / n_post) as u32, dst.to_logical(k % n_post) as u32),
                    Topology::Sparse(sp) => {
                        (src.to_logical(sp.sources[k] as usize) as u32, dst.to_logical(sp.targets[k] as usize) as u32)
                    }
                    Topology::Conv(cv) => (cv.spec_index(k) as u32, u32::MAX),
                };
                let r = synapse_random(p.seed, t, jl, il, 2);
                let w = get(weights, k) as i64;
                set(weights, k, (w + stochastic_round(reward * e as i64, 1 << 24, r)).clamp(lo, hi));
            }
        }
        *moving = x.iter().any(|&v| v != 0) || y.iter().any(|&v| v != 0) || (rstdp && elig.iter().any(|&e| e != 0));
    }

    /// The target (internal index) of each weight, in weight order.
    fn target_of(&self, k: usize) -> usize {
        match &self.topology {
            Topology::Dense => k % self.y.len(),
            Topology::Sparse(sp) => sp.targets[k] as usize,
            // a kernel's weights: those of one output channel
            Topology::Conv(cv) => k % cv.c_out,
        }
    }

    /// Scales each target neuron's incoming weights so that they sum to `target`:
    /// `w <- clamp(floor((2 w target + s) / (2 s)), w_min, w_max)` with `s` the current sum;
    /// neurons whose weights sum to zero or less are left alone.
    pub fn normalize(&mut self, target: i64) {
        let (lo, hi) = (self.params.w_min as i64, self.params.w_max as i64);
        let scale = |w: i64, s: i64| if s <= 0 { w } else { (2 * w * target + s).div_euclid(2 * s).clamp(lo, hi) };
        let n_post = self.y.len();
        if let (Topology::Dense, Some(n)) = (&self.topology, core::num::NonZeroUsize::new(n_post)) {
            // rows by source: sum down the columns, then scale each row against the sums
            let n = n.get();
            let mut sums = vec![0i64; n];
            match &mut self.weights {
                DenseWeights::I8(w) => {
                    w.chunks_exact(n).for_each(|row| sums.iter_mut().zip(row).for_each(|(s, &x)| *s += x as i64));
                    w.chunks_exact_mut(n)
                        .for_each(|row| row.iter_mut().zip(&sums).for_each(|(x, &s)| *x = scale(*x as i64, s) as i8));
                }
                DenseWeights::I16(w) => {
                    w.chunks_exact(n).for_each(|row| sums.iter_mut().zip(row).for_each(|(s, &x)| *s += x as i64));
                    w.chunks_exact_mut(n)
                        .for_each(|row| row.iter_mut().zip(&sums).for_each(|(x, &s)| *x = scale(*x as i64, s) as i16));
                }
            }
            return;
        }
        let n = weights_len(&self.weights);
        let mut sums = vec![0i64; n_post];
        for k in 0..n {
            sums[self.target_of(k)] += get(&self.weights, k) as i64;
        }
        for k in 0..n {
            let s = sums[self.target_of(k)];
            let w = get(&self.weights, k) as i64;
            set(&mut self.weights, k, scale(w, s));
        }
    }
}

/// One phase (0 depression, 1 potentiation) of a shared-weight connection: weight `q` changes
/// by `SR(∓a · sums[q] · m, den)` (or its eligibility by the truncated quotient), in 128-bit
/// arithmetic since `sums[q]` adds up the traces of every pair of the tick.
#[allow(clippy::too_many_arguments)]
fn conv_phase(
    p: &StdpParams,
    cv: &ConvTopology,
    weights: &mut DenseWeights,
    elig: &mut [i32],
    sums: &[i64],
    t: u64,
    phase: u64,
    den: u64,
) {
    let (lo, hi) = (p.w_min as i128, p.w_max as i128);
    let mult = p.rule == StdpRule::Multiplicative;
    for (q, &s) in sums.iter().enumerate() {
        if s == 0 {
            continue;
        }
        let w = get(weights, q) as i128;
        let num = if phase == 0 {
            -(p.a_minus as i128) * s as i128 * if mult { w - lo } else { 1 }
        } else {
            p.a_plus as i128 * s as i128 * if mult { hi - w } else { 1 }
        };
        if p.eligibility_decay.is_some() {
            let e = elig[q] as i128 + num / (den >> 16) as i128;
            elig[q] = e.clamp(i32::MIN as i128, i32::MAX as i128) as i32;
        } else {
            let d = den as i128;
            let r = synapse_random(p.seed, t, cv.spec_index(q) as u32, u32::MAX, phase);
            let step = num.div_euclid(d) + ((r % den) < num.rem_euclid(d) as u64) as i128;
            set(weights, q, (w + step).clamp(lo, hi) as i64);
        }
    }
}

/// Number of weights.
pub fn weights_len(w: &DenseWeights) -> usize {
    match w {
        DenseWeights::I8(v) => v.len(),
        DenseWeights::I16(v) => v.len(),
    }
}

/// Weight `k` (either width).
#[inline(always)]
pub fn get(w: &DenseWeights, k: usize) -> i32 {
    match w {
        DenseWeights::I8(v) => v[k] as i32,
        DenseWeights::I16(v) => v[k] as i32,
    }
}

/// Sets weight `k` (already within the width's range).
#[inline(always)]
pub fn set(w: &mut DenseWeights, k: usize, v: i64) {
    match w {
        DenseWeights::I8(a) => a[k] = v as i8,
        DenseWeights::I16(a) => a[k] = v as i16,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stochastic_rounding_is_unbiased_and_exact_on_integers() {
        assert_eq!(stochastic_round(10 << 31, 1 << 31, 12345), 10);
        assert_eq!(stochastic_round(-(3 << 31), 1 << 31, 999), -3);
        // expectation of num/den = 0.25 over many random numbers
        let mut sum = 0i64;
        for k in 0..100_000u64 {
            sum += stochastic_round(1 << 29, 1 << 31, mix64(k));
        }
        assert!((sum - 25_000).abs() < 600, "{sum}");
        let mut sum = 0i64;
        for k in 0..100_000u64 {
            sum += stochastic_round(-(3 << 29), 1 << 31, mix64(k));
        }
        assert!((sum + 75_000).abs() < 600, "{sum}");
    }
}
