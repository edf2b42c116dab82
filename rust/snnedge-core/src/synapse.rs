//! Connections in compiled form, and the accumulation slots they write into.
//!
//! **Layouts.** The input node keeps the C-order layout of its shape. A neuron layer of shape
//! `(C, H, W)` stores its neurons position-major (`(y * W + x) * C + c`, "HWC"), and a layer of
//! shape `(N,)` is `(1, 1, N)`. Position-major makes a convolution's output channels for one
//! position contiguous (one short vector add per covered position) and lets the engine track
//! activity per position (a *group* of `C` neurons) instead of per neuron. Every connection is
//! compiled against these internal indices; indices that users see (weights, outputs, state)
//! stay C-order and are translated at compile time and at the output.

use alloc::vec;
use alloc::vec::Vec;

use crate::buffer::Aligned;

/// A node's geometry and index layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Channels.
    pub c: usize,
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
    /// `true` for position-major (neuron layers), `false` for C-order (the input node).
    pub hwc: bool,
}

impl Layout {
    /// Number of neurons.
    pub fn len(&self) -> usize {
        self.c * self.h * self.w
    }

    /// Whether the layout is empty (never, after validation).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of groups (positions for HWC layouts; one group per neuron otherwise).
    pub fn groups(&self) -> usize {
        if self.hwc {
            self.h * self.w
        } else {
            self.len()
        }
    }

    /// Neurons per group.
    pub fn group_size(&self) -> usize {
        if self.hwc {
            self.c
        } else {
            1
        }
    }

    /// `(c, y, x)` of an internal index.
    #[inline(always)]
    pub fn coord(&self, idx: usize) -> (usize, usize, usize) {
        // 32-bit divisions (a layout holds at most MAX_LAYER_NEURONS < 2^32 neurons): about
        // half the latency of 64-bit ones, and a spike's delivery starts with this.
        let (i, c, w) = (idx as u32, self.c as u32, self.w as u32);
        let (c, y, x) = if self.hwc {
            let pos = i / c;
            (i % c, pos / w, pos % w)
        } else {
            let hw = self.h as u32 * w;
            let rem = i % hw;
            (i / hw, rem / w, rem % w)
        };
        (c as usize, y as usize, x as usize)
    }

    /// Internal index of `(c, y, x)`.
    #[inline(always)]
    pub fn index(&self, c: usize, y: usize, x: usize) -> usize {
        if self.hwc {
            (y * self.w + x) * self.c + c
        } else {
            (c * self.h + y) * self.w + x
        }
    }

    /// Internal index of a C-order (user-visible) index.
    #[inline]
    pub fn from_logical(&self, logical: usize) -> usize {
        let hw = self.h * self.w;
        let (c, y, x) = (logical / hw, (logical % hw) / self.w, logical % self.w);
        self.index(c, y, x)
    }

    /// C-order (user-visible) index of an internal index.
    #[inline]
    pub fn to_logical(&self, idx: usize) -> usize {
        let (c, y, x) = self.coord(idx);
        (c * self.h + y) * self.w + x
    }
}

/// Integer weights of a dense connection, rows by source internal index.
#[derive(Debug, Clone, PartialEq)]
pub enum DenseWeights {
    /// 4- or 8-bit weights.
    I8(Aligned<i8>),
    /// 16-bit weights.
    I16(Aligned<i16>),
}

/// What a connection does with one source spike.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnKind {
    /// Adds row `src` (`n_out` weights, shifted) to every target neuron.
    Dense {
        /// `[n_src][n_out]` by internal indices.
        weights: DenseWeights,
        /// Target size.
        n_out: usize,
    },
    /// Adds a kernel column to every output position whose window covers the source pixel.
    Conv {
        /// `[c_in][kh][kw][c_out]`, already shifted.
        kernel: Vec<i32>,
        /// Kernel rows, columns.
        kh: usize,
        /// Kernel columns.
        kw: usize,
        /// Strides.
        sh: usize,
        /// Column stride.
        sw: usize,
        /// Padding.
        ph: usize,
        /// Column padding.
        pw: usize,
        /// Output channels.
        c_out: usize,
        /// Per source row: the range of output rows whose window covers it.
        rows: Vec<(u16, u16)>,
        /// Per source column: the range of output columns whose window covers it.
        cols: Vec<(u16, u16)>,
    },
    /// Adds `weight` to the same channel of every output window covering the source pixel.
    Pool {
        /// Contribution of one spike.
        weight: i32,
        /// Window rows.
        kh: usize,
        /// Window columns.
        kw: usize,
        /// Row stride.
        sh: usize,
        /// Column stride.
        sw: usize,
        /// Row padding.
        ph: usize,
        /// Column padding.
        pw: usize,
        /// Per source row: the range of output rows whose window covers it.
        rows: Vec<(u16, u16)>,
        /// Per source column: the range of output columns whose window covers it.
        cols: Vec<(u16, u16)>,
    },
    /// Explicit synapses; row `src` lists (target internal index, shifted weight, extra delay).
    Sparse {
        /// `[n_src + 1]`.
        indptr: Vec<u32>,
        /// Target internal indices.
        targets: Vec<u32>,
        /// Shifted weights.
        weights: Vec<i32>,
        /// Extra delays (ticks); empty when every extra delay is 0.
        delays: Vec<u32>,
        /// Plastic connections: each synapse's position in the model's synapse list.
        order: Vec<u32>,
    },
}

/// Where a connection starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    /// The input node.
    Input,
    /// A neuron layer (index into `NetworkParams::layers`).
    Layer(usize),
}

/// A compiled connection.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnParams {
    /// Name.
    pub name: alloc::string::String,
    /// Source node.
    pub source: Node,
    /// Source layout.
    pub src: Layout,
    /// Target layer index.
    pub target: usize,
    /// Target layout.
    pub dst: Layout,
    /// Delay of every synapse, ticks.
    pub delay: u32,
    /// Left shift of dense weights.
    pub shift: u32,
    /// The largest |contribution| one source spike can add to one target neuron (the bound
    /// that keeps i32 accumulation exact, see [`Slot::reserve`]).
    pub max_abs: u64,
    /// What it does.
    pub kind: ConnKind,
    /// Online learning (dense, sparse and convolutional connections).
    pub plastic: Option<crate::plasticity::StdpParams>,
}

/// Per target layer and tick: the exact input sum of each neuron, and which groups received any.
///
/// The contract says a neuron's tick input is the *exact* sum of its contributions, saturated
/// to i32 once. Accumulating in i64 everywhere would halve the speed of the dense inner loop,
/// so `acc` is i32 and `bound` is an upper bound of every |acc[n]|. Before a delivery could
/// push the bound past i32::MAX, the i32 partial sums move into the i64 `wide` array (rare:
/// with int8 weights it takes ~16 million spikes into one layer in one tick). The sum is
/// therefore exact whatever the order of deliveries; and order never matters.
#[derive(Debug, Clone)]
pub struct Slot {
    /// Partial sums.
    pub acc: Aligned<i32>,
    /// Overflow partial sums (empty unless used this tick).
    pub wide: Vec<i64>,
    /// Upper bound of |acc[n]| for every n.
    pub bound: u64,
    /// Every group received input (dense delivery).
    pub all: bool,
    /// Groups that received input (when not `all`).
    pub groups: Vec<u32>,
    /// Membership of `groups`.
    pub marked: Vec<bool>,
}

impl Slot {
    /// An empty slot for `n` neurons in `g` groups.
    pub fn new(n: usize, g: usize) -> Self {
        Slot {
            acc: Aligned::zeroed(n),
            wide: Vec::new(),
            bound: 0,
            all: false,
            groups: Vec::new(),
            marked: vec![false; g],
        }
    }

    /// Whether anything was delivered.
    #[inline]
    pub fn is_empty(&self) -> bool {
        !self.all && self.groups.is_empty()
    }

    /// Makes room for one delivery adding at most `max_abs` to any neuron.
    #[inline(always)]
    pub fn reserve(&mut self, max_abs: u64) {
        if self.bound + max_abs > i32::MAX as u64 {
            self.spill();
        }
        self.bound += max_abs;
    }

    #[cold]
    fn spill(&mut self) {
        if self.wide.is_empty() {
            self.wide = vec![0; self.acc.len()];
        }
        for (w, a) in self.wide.iter_mut().zip(self.acc.iter_mut()) {
            *w += *a as i64;
            *a = 0;
        }
        self.bound = 0;
    }

    /// Marks a group as having received input.
    #[inline(always)]
    pub fn mark(&mut self, g: usize) {
        if !self.marked[g] {
            self.marked[g] = true;
            self.groups.push(g as u32);
        }
    }

    /// Takes the exact input of neuron `n` (saturated to i32) and zeroes its partial sum.
    #[inline(always)]
    pub fn take(&mut self, n: usize) -> i32 {
        let a = core::mem::take(&mut self.acc[n]);
        if self.wide.is_empty() {
            a
        } else {
            crate::fixed::saturate_i32(a as i64 + self.wide[n])
        }
    }

    /// Forgets the bookkeeping once every touched neuron was taken.
    pub fn finish(&mut self) {
        for &g in &self.groups {
            self.marked[g as usize] = false;
        }
        self.groups.clear();
        self.all = false;
        self.bound = 0;
        self.wide = Vec::new();
    }
}

/// [`window_range`] for every input position `0..n_in` (the table a conv or pool keeps, so that
/// delivering a spike needs no division).
pub fn window_table(n_in: usize, k: usize, s: usize, p: usize, n_out: usize) -> Vec<(u16, u16)> {
    (0..n_in)
        .map(|i| {
            let r = window_range(i, k, s, p, n_out);
            (r.start as u16, r.end as u16)
        })
        .collect()
}

/// Output positions `o` (0 ≤ o < n_out) whose window `[o*s - p, o*s - p + k)` contains `i`.
#[inline(always)]
pub fn window_range(i: usize, k: usize, s: usize, p: usize, n_out: usize) -> core::ops::Range<usize> {
    // o*s - p <= i < o*s - p + k  <=>  (i + p - k + 1)/s <= o <= (i + p)/s
    let ip = i + p;
    let lo = if ip + 1 >= k { (ip + 1 - k).div_ceil(s) } else { 0 };
    let hi = (ip / s + 1).min(n_out);
    lo..hi.max(lo)
}

/// Delivers the spikes of several sources (internal indices, one entry per spike) in tick
/// `tick`; returns the number of synaptic operations. Same result as [`deliver`] per spike,
/// with the dispatch done once: dense rows are summed in one loop.
pub fn deliver_batch(
    c: &ConnParams,
    plastic: Option<&DenseWeights>,
    srcs: &[u32],
    tick: u64,
    slots: &mut [Slot],
    scratch: &mut Vec<i16>,
) -> u64 {
    if let ConnKind::Dense { weights, n_out } = &c.kind {
        // a plastic connection's current weights live in the engine
        let weights = plastic.unwrap_or(weights);
        let len = slots.len() as u64;
        let slot = &mut slots[((tick + c.delay as u64) % len) as usize];
        let n_out = *n_out;
        let sh = c.shift;
        slot.all = true;
        match weights {
            // Several 8-bit rows: sum them in 16-bit lanes first (twice the lanes per vector
            // instruction), then shift and widen once into the i32 partial sums. Exact: at
            // most I16_BATCH rows of |w| <= 128 are summed (255 * 128 < 2^15), and shifting
            // the sum equals summing the shifted weights.
            DenseWeights::I8(w) if srcs.len() > 1 => {
                const I16_BATCH: usize = 255;
                scratch.clear();
                scratch.resize(n_out, 0);
                for batch in srcs.chunks(I16_BATCH) {
                    slot.reserve(c.max_abs * batch.len() as u64);
                    for &s in batch {
                        let s = s as usize;
                        for (a, &x) in scratch.iter_mut().zip(&w[s * n_out..(s + 1) * n_out]) {
                            *a = a.wrapping_add(x as i16);
                        }
                    }
                    for (a, b) in slot.acc[..n_out].iter_mut().zip(scratch.iter_mut()) {
                        *a = a.wrapping_add((*b as i32) << sh);
                        *b = 0;
                    }
                }
            }
            _ => {
                for &s in srcs {
                    slot.reserve(c.max_abs);
                    let s = s as usize;
                    let acc = &mut slot.acc[..n_out];
                    match weights {
                        DenseWeights::I8(w) => {
                            for (a, &x) in acc.iter_mut().zip(&w[s * n_out..(s + 1) * n_out]) {
                                *a = a.wrapping_add((x as i32) << sh);
                            }
                        }
                        DenseWeights::I16(w) => {
                            for (a, &x) in acc.iter_mut().zip(&w[s * n_out..(s + 1) * n_out]) {
                                *a = a.wrapping_add((x as i32) << sh);
                            }
                        }
                    }
                }
            }
        }
        return (srcs.len() * n_out) as u64;
    }
    if let (ConnKind::Conv { kh, kw, ph, pw, sh, sw, c_out, rows, cols, .. }, Some(w)) = (&c.kind, plastic) {
        // a plastic convolution: the current (unshifted) kernel, `[c_in][kh][kw][c_out]`
        let len = slots.len() as u64;
        let slot = &mut slots[((tick + c.delay as u64) % len) as usize];
        let (ow, c_out) = (c.dst.w, *c_out);
        let mut ops = 0u64;
        for &s in srcs {
            slot.reserve(c.max_abs);
            let (ci, y, x) = c.src.coord(s as usize);
            let ((r0, r1), (c0, c1)) = (rows[y], cols[x]);
            for oy in r0 as usize..r1 as usize {
                let ky = y + ph - oy * sh;
                for ox in c0 as usize..c1 as usize {
                    let kx = x + pw - ox * sw;
                    let pos = oy * ow + ox;
                    let k0 = ((ci * kh + ky) * kw + kx) * c_out;
                    for (o, a) in slot.acc[pos * c_out..(pos + 1) * c_out].iter_mut().enumerate() {
                        *a = a.wrapping_add(crate::plasticity::get(w, k0 + o) << c.shift);
                    }
                    slot.mark(pos);
                }
                ops += (c1 - c0) as u64 * c_out as u64;
            }
        }
        return ops;
    }
    if let (ConnKind::Sparse { indptr, targets, .. }, Some(w)) = (&c.kind, plastic) {
        // a plastic sparse connection: current (unshifted) weights in CSR order; delay 0 and
        // no per-synapse delays (checked when the model is compiled)
        let len = slots.len() as u64;
        let slot = &mut slots[((tick + c.delay as u64) % len) as usize];
        let gs = c.dst.group_size();
        let mut ops = 0u64;
        for &s in srcs {
            slot.reserve(c.max_abs);
            let (k0, k1) = (indptr[s as usize] as usize, indptr[s as usize + 1] as usize);
            for (k, &n) in (k0..k1).zip(&targets[k0..k1]) {
                let n = n as usize;
                slot.acc[n] = slot.acc[n].wrapping_add(crate::plasticity::get(w, k) << c.shift);
                slot.mark(n / gs);
            }
            ops += (k1 - k0) as u64;
        }
        return ops;
    }
    srcs.iter().map(|&s| deliver(c, s as usize, tick, slots)).sum()
}

/// `acc[k] += w[k]` (wrapping; `reserve` keeps the sums within i32) in blocks of 8 lanes, so
/// that a convolution's few output channels per position (a length known only at run time)
/// still take whole vector adds.
#[inline(always)]
fn add_lanes(acc: &mut [i32], w: &[i32]) {
    let (ab, at) = acc.as_chunks_mut::<8>();
    let (wb, wt) = w.as_chunks::<8>();
    for (a, w) in ab.iter_mut().zip(wb) {
        // a whole-array load, add and store (a per-element loop stayed scalar)
        *a = core::array::from_fn(|k| a[k].wrapping_add(w[k]));
    }
    for (a, &w) in at.iter_mut().zip(wt) {
        *a = a.wrapping_add(w);
    }
}

/// Delivers one spike of source internal index `src` into `slot` (the slot of the connection's
/// delay), and for sparse connections with per-synapse delays into `slots[(tick + d) % len]`.
/// Returns the number of synaptic operations (weights added).
#[inline]
pub fn deliver(c: &ConnParams, src: usize, tick: u64, slots: &mut [Slot]) -> u64 {
    let len = slots.len() as u64;
    let base = ((tick + c.delay as u64) % len) as usize;
    match &c.kind {
        ConnKind::Dense { weights, n_out } => {
            let slot = &mut slots[base];
            slot.reserve(c.max_abs);
            slot.all = true;
            let acc = &mut slot.acc[..*n_out];
            let sh = c.shift;
            // i8/i16 weight << shift -> i32 contribution; wrapping add is exact because
            // `reserve` keeps every partial sum within i32.
            match weights {
                DenseWeights::I8(w) if sh == 0 => {
                    for (a, &x) in acc.iter_mut().zip(&w[src * n_out..(src + 1) * n_out]) {
                        *a = a.wrapping_add(x as i32);
                    }
                }
                DenseWeights::I8(w) => {
                    for (a, &x) in acc.iter_mut().zip(&w[src * n_out..(src + 1) * n_out]) {
                        *a = a.wrapping_add((x as i32) << sh);
                    }
                }
                DenseWeights::I16(w) => {
                    for (a, &x) in acc.iter_mut().zip(&w[src * n_out..(src + 1) * n_out]) {
                        *a = a.wrapping_add((x as i32) << sh);
                    }
                }
            }
            *n_out as u64
        }
        ConnKind::Conv { kernel, kh, kw, ph, pw, sh, sw, c_out, rows, cols } => {
            let slot = &mut slots[base];
            slot.reserve(c.max_abs);
            let (ci, y, x) = c.src.coord(src);
            let ow = c.dst.w;
            let ((r0, r1), (c0, c1)) = (rows[y], cols[x]);
            let mut ops = 0u64;
            for oy in r0 as usize..r1 as usize {
                let ky = y + ph - oy * sh;
                for ox in c0 as usize..c1 as usize {
                    let kx = x + pw - ox * sw;
                    let pos = oy * ow + ox;
                    let k0 = ((ci * kh + ky) * kw + kx) * c_out;
                    add_lanes(&mut slot.acc[pos * c_out..(pos + 1) * c_out], &kernel[k0..k0 + c_out]);
                    slot.mark(pos);
                }
                ops += (c1 - c0) as u64 * *c_out as u64;
            }
            ops
        }
        ConnKind::Pool { weight, rows, cols, .. } => {
            let slot = &mut slots[base];
            slot.reserve(c.max_abs);
            let (ch, y, x) = c.src.coord(src);
            let (ow, cc) = (c.dst.w, c.dst.c);
            let ((r0, r1), (c0, c1)) = (rows[y], cols[x]);
            for oy in r0 as usize..r1 as usize {
                for ox in c0 as usize..c1 as usize {
                    let pos = oy * ow + ox;
                    let a = &mut slot.acc[pos * cc + ch];
                    *a = a.wrapping_add(*weight);
                    slot.mark(pos);
                }
            }
            ((r1 - r0) as u64) * ((c1 - c0) as u64)
        }
        ConnKind::Sparse { indptr, targets, weights, delays, .. } => {
            let (k0, k1) = (indptr[src] as usize, indptr[src + 1] as usize);
            let gs = c.dst.group_size();
            if delays.is_empty() {
                let slot = &mut slots[base];
                slot.reserve(c.max_abs);
                for k in k0..k1 {
                    let n = targets[k] as usize;
                    slot.acc[n] = slot.acc[n].wrapping_add(weights[k]);
                    slot.mark(n / gs);
                }
            } else {
                for k in k0..k1 {
                    let s = ((tick + c.delay as u64 + delays[k] as u64) % len) as usize;
                    let slot = &mut slots[s];
                    slot.reserve(weights[k].unsigned_abs() as u64);
                    let n = targets[k] as usize;
                    slot.acc[n] = slot.acc[n].wrapping_add(weights[k]);
                    slot.mark(n / gs);
                }
            }
            (k1 - k0) as u64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_range_matches_brute_force() {
        for n_in in 1..12usize {
            for k in 1..5usize {
                for s in 1..4usize {
                    for p in 0..3usize {
                        if n_in + 2 * p < k {
                            continue;
                        }
                        let n_out = (n_in + 2 * p - k) / s + 1;
                        for i in 0..n_in {
                            let brute: Vec<usize> =
                                (0..n_out).filter(|&o| o * s <= i + p && i + p < o * s + k).collect();
                            let got: Vec<usize> = window_range(i, k, s, p, n_out).collect();
                            assert_eq!(got, brute, "n_in {n_in} k {k} s {s} p {p} i {i}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn layout_round_trip() {
        let l = Layout { c: 3, h: 4, w: 5, hwc: true };
        for i in 0..l.len() {
            assert_eq!(l.from_logical(l.to_logical(i)), i);
        }
        assert_eq!(l.index(2, 0, 1), 5);
        assert_eq!(l.to_logical(5), 2 * 20 + 1);
    }

    #[test]
    fn slot_spills_exactly() {
        let mut s = Slot::new(2, 2);
        for _ in 0..5 {
            s.reserve(1 << 30);
            s.acc[0] = s.acc[0].wrapping_add(1 << 30);
        }
        assert_eq!(s.take(0), i32::MAX); // 5 * 2^30 saturates
        let mut s = Slot::new(1, 1);
        for k in 0..6 {
            s.reserve(1 << 30);
            let v = if k % 2 == 0 { 1 << 30 } else { -(1 << 30) };
            s.acc[0] = s.acc[0].wrapping_add(v);
        }
        assert_eq!(s.take(0), 0);
    }
}
