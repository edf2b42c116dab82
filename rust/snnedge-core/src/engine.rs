//! The event-driven engine: mutable state of one stream over shared [`NetworkParams`].
//!
//! **Time.** An event with timestamp `t` (µs) belongs to tick `t / tick_us`. Ticks before
//! `open_tick` are complete; events of the newest tick seen are held back (`pending`) until a
//! later event or [`Engine::advance`] shows that the tick is over. That makes the output the
//! same, bit for bit, however the stream is cut into chunks.
//!
//! **Work.** A tick is computed only for layers that have something to do: a delay slot that
//! received input for this tick, or a group that was left *live* (see [`crate::neuron`]) by the
//! previous tick. Inside such a layer only the touched groups are stepped, after an exact
//! catch-up of the ticks they sat idle. Ticks where no layer has work are skipped in O(1), so an
//! idle network costs nothing per tick, and work grows with synaptic events plus active
//! neurons, never with neurons times ticks.
//!
//! **Order inside a tick** (`docs/numerics.md`): input events are delivered; then each layer,
//! in the topological order of its zero-delay connections, takes its slot of this tick, steps,
//! and delivers its spikes (zero-delay targets get them in the same tick, delayed targets in a
//! later slot); output-layer spikes are emitted sorted by neuron.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use crate::buffer::Aligned;
use crate::error::{Error, Result};
use crate::event::{Event, EventSlice, Spike};
use crate::fixed::{decay, decay_24, saturate, DECAY_ONE};
use crate::network::{LayerParams, NetworkParams};
use crate::neuron::{catch_up, step, NeuronState, Reset};
use crate::plasticity::{get, set, weights_len, ConvTopology, SparseTopology, StdpParams, StdpState, Topology};
use crate::synapse::{deliver_batch, ConnKind, DenseWeights, Node, Slot};

/// Counters of the work done (since creation or the last [`Engine::reset`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Ticks completed (the first open tick).
    pub ticks: u64,
    /// Ticks in which at least one layer had work.
    pub ticks_computed: u64,
    /// Input events consumed.
    pub input_events: u64,
    /// Synaptic operations: weights added because of an event or spike.
    pub synops: u64,
    /// Neuron updates (one per neuron per tick it was stepped; idle catch-up not counted).
    pub neuron_updates: u64,
    /// Spikes per layer, in the model's processing order.
    pub layer_spikes: Vec<u64>,
    /// Spikes emitted by the output layer.
    pub output_spikes: u64,
}

/// A copy of one layer's state in C-order, brought up to the end of the last complete tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSnapshot {
    /// Membrane potentials.
    pub v: Vec<i32>,
    /// Synaptic currents (empty for models without one).
    pub i: Vec<i32>,
    /// Adaptive threshold offsets θ (empty without adaptation).
    pub theta: Vec<i32>,
    /// Refractory ticks left (empty without a refractory period).
    pub refractory: Vec<u32>,
}

#[derive(Debug, Clone)]
struct LayerState {
    v: Aligned<i32>,
    i: Vec<i32>,
    theta: Vec<i32>,
    r: Vec<u32>,
    /// Per group: the next tick to apply (state is valid up to the end of tick `next - 1`).
    /// Not maintained while `uniform` is set.
    next: Vec<u64>,
    /// `Some(k)` when every group's next tick is `k` (after a tick that stepped all of them);
    /// dense layers stay in this mode and never touch `next`.
    uniform: Option<u64>,
    slots: Vec<Slot>,
    /// Groups that must be stepped in this layer's next tick.
    live_cur: Vec<u32>,
    /// Groups that must be stepped in the tick after the one being computed.
    live_next: Vec<u32>,
    /// `t + 1` when the group was queued in `live_next` during tick `t`.
    live_mark: Vec<u64>,
    /// Scratch: (group, idle ticks) of the groups stepped in the current tick.
    work: Vec<(u32, u64)>,
    /// Scratch of the whole-layer pass: blocks with a threshold crossing.
    flagged: Vec<u32>,
}

impl LayerState {
    fn new(l: &LayerParams) -> Self {
        let n = l.layout.len();
        let g = l.layout.groups();
        let p = &l.neuron;
        LayerState {
            v: Aligned::zeroed(n),
            i: if p.has_current { vec![0; n] } else { Vec::new() },
            theta: match (p.adaptive(), l.theta_init.is_empty()) {
                (true, false) => l.theta_init.clone(),
                (true, true) => vec![0; n],
                (false, _) => Vec::new(),
            },
            r: if p.refractory > 0 { vec![0; n] } else { Vec::new() },
            next: vec![0; g],
            uniform: Some(0),
            slots: (0..l.ring_len).map(|_| Slot::new(n, g)).collect(),
            // A neuron with a bias (membrane or current) moves on its own from the first tick.
            live_cur: (0..g)
                .filter(|&k| {
                    let gs = l.layout.group_size();
                    let moving = |b: &[i32]| !b.is_empty() && b[k * gs..(k + 1) * gs].iter().any(|&x| x != 0);
                    moving(&l.bias) || moving(&l.bias_syn)
                })
                .map(|k| k as u32)
                .collect(),
            live_next: Vec::new(),
            live_mark: vec![0; g],
            work: Vec::new(),
            flagged: Vec::new(),
        }
    }

    #[inline(always)]
    fn load(&self, n: usize) -> NeuronState {
        NeuronState {
            v: self.v[n],
            i: if self.i.is_empty() { 0 } else { self.i[n] },
            theta: if self.theta.is_empty() { 0 } else { self.theta[n] },
            r: if self.r.is_empty() { 0 } else { self.r[n] },
        }
    }

    #[inline(always)]
    fn store(&mut self, n: usize, s: NeuronState) {
        self.v[n] = s.v;
        if !self.i.is_empty() {
            self.i[n] = s.i;
        }
        if !self.theta.is_empty() {
            self.theta[n] = s.theta;
        }
        if !self.r.is_empty() {
            self.r[n] = s.r;
        }
    }

    /// Whether this layer has work in tick `t` (the first tick not yet computed).
    fn has_work(&self, t: u64) -> bool {
        !self.live_cur.is_empty() || !self.slots[(t % self.slots.len() as u64) as usize].is_empty()
    }

    /// The earliest tick `>= t` with work, if any (`t` is the first tick not yet computed).
    fn next_work(&self, t: u64) -> Option<u64> {
        if !self.live_cur.is_empty() {
            return Some(t);
        }
        let len = self.slots.len() as u64;
        let mut best: Option<u64> = None;
        for (s, slot) in self.slots.iter().enumerate() {
            if !slot.is_empty() {
                let k = t + (s as u64 + len - t % len) % len;
                best = Some(best.map_or(k, |b: u64| b.min(k)));
            }
        }
        best
    }

    /// Brings every group up to the end of tick `open - 1` (exact; see `neuron::catch_up`).
    fn catch_up_all(&mut self, l: &LayerParams, open: u64) {
        let gs = l.layout.group_size();
        if let Some(k) = self.uniform {
            let idle = open.saturating_sub(k);
            if idle > 0 {
                for n in 0..l.layout.len() {
                    let mut s = self.load(n);
                    catch_up(&l.neuron, &mut s, idle);
                    self.store(n, s);
                }
                self.uniform = Some(open);
            }
            return;
        }
        for g in 0..self.next.len() {
            let idle = open.saturating_sub(self.next[g]);
            if idle > 0 {
                for n in g * gs..(g + 1) * gs {
                    let mut s = self.load(n);
                    catch_up(&l.neuron, &mut s, idle);
                    self.store(n, s);
                }
                self.next[g] = open;
            }
        }
    }
}

/// One stream through a network: feed events, get output spikes.
#[derive(Debug, Clone)]
pub struct Engine {
    net: Arc<NetworkParams>,
    layers: Vec<LayerState>,
    /// First tick not yet computed.
    open_tick: u64,
    /// Input indices of the events in `pending_tick`.
    pending: Vec<u32>,
    pending_tick: Option<u64>,
    /// Timestamp of the last event consumed (events must not go below it).
    last_t_us: u64,
    stats: Stats,
    spikes: Vec<u32>,
    out_tick: Vec<u32>,
    /// 16-bit partial sums of batched dense delivery (see `synapse::deliver_batch`).
    scratch16: Vec<i16>,
    /// Learning state per connection (`None` for static connections).
    plastic: Vec<Option<StdpState>>,
    /// Spikes of each layer in the tick being computed (kept only when there is learning).
    tick_spikes: Vec<Vec<u32>>,
    /// Rewards waiting for their tick: (tick, value in Q8).
    rewards: Vec<(u64, i64)>,
}

impl Engine {
    /// A fresh engine (all states zero, time at tick 0).
    pub fn new(net: Arc<NetworkParams>) -> Self {
        let layers: Vec<LayerState> = net.layers.iter().map(LayerState::new).collect();
        let plastic = net
            .connections
            .iter()
            .map(|c| match (&c.plastic, &c.kind) {
                (Some(p), ConnKind::Dense { weights, n_out }) => {
                    debug_assert_eq!(*n_out, c.dst.len());
                    Some(StdpState::new(p.clone(), weights.clone(), Topology::Dense, c.src, c.dst))
                }
                (Some(p), ConnKind::Sparse { indptr, targets, weights, order, .. }) => {
                    let topo = SparseTopology::new(indptr.clone(), targets.clone(), order.clone(), c.dst.len());
                    let w = unshifted(weights, c.shift, p);
                    Some(StdpState::new(p.clone(), w, Topology::Sparse(topo), c.src, c.dst))
                }
                (Some(p), ConnKind::Conv { kernel, kh, kw, sh, sw, ph, pw, c_out, rows, cols }) => {
                    let topo = ConvTopology {
                        c_in: c.src.c,
                        kh: *kh,
                        kw: *kw,
                        sh: *sh,
                        sw: *sw,
                        ph: *ph,
                        pw: *pw,
                        c_out: *c_out,
                        rows: rows.clone(),
                        cols: cols.clone(),
                    };
                    let w = unshifted(kernel, c.shift, p);
                    Some(StdpState::new(p.clone(), w, Topology::Conv(topo), c.src, c.dst))
                }
                _ => None,
            })
            .collect();
        let n_layers = net.layers.len();
        let stats = Stats { layer_spikes: vec![0; net.layers.len()], ..Default::default() };
        Engine {
            net,
            layers,
            open_tick: 0,
            pending: Vec::new(),
            pending_tick: None,
            last_t_us: 0,
            stats,
            spikes: Vec::new(),
            out_tick: Vec::new(),
            scratch16: Vec::new(),
            plastic,
            tick_spikes: vec![Vec::new(); n_layers],
            rewards: Vec::new(),
        }
    }

    /// The network this engine runs.
    pub fn network(&self) -> &Arc<NetworkParams> {
        &self.net
    }

    /// Back to the state of a fresh engine (states, time and counters).
    pub fn reset(&mut self) {
        *self = Engine::new(self.net.clone());
    }

    /// Counters of the work done.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        s.ticks = self.open_tick;
        s
    }

    /// First tick not yet complete: every tick before it is final.
    pub fn open_tick(&self) -> u64 {
        self.open_tick
    }

    /// Checks a chunk against the input layout and the time already consumed, without
    /// changing anything. [`Engine::feed`] calls it first, so a bad chunk is rejected whole.
    pub fn validate<S: EventSlice + ?Sized>(&self, events: &S) -> Result<()> {
        let net = &*self.net;
        let mut prev = self.last_t_us;
        // Timestamps are sorted, so once one event is past the late limit all later ones are.
        let open_t_us = self.open_tick.saturating_mul(net.tick_us);
        for k in 0..events.len() {
            let e = events.get(k);
            if e.t < prev {
                return Err(Error::UnsortedEvents { index: k, t_us: e.t, previous_t_us: prev });
            }
            prev = e.t;
            if e.t < open_t_us {
                return Err(Error::LateEvent {
                    index: k,
                    t_us: e.t,
                    open_tick: self.open_tick,
                    open_t_us: self.open_tick.saturating_mul(net.tick_us),
                });
            }
            self.input_index(k, &e)?;
        }
        Ok(())
    }

    #[inline(always)]
    fn input_index(&self, k: usize, e: &Event) -> Result<u32> {
        let l = &self.net.input;
        let out = |field: &'static str, value: u64, limit: usize| Error::EventOutOfRange {
            index: k,
            field,
            value,
            limit: limit as u64,
        };
        if e.x as usize >= l.w {
            return Err(out("x", e.x as u64, l.w));
        }
        if e.y as usize >= l.h {
            return Err(out("y", e.y as u64, l.h));
        }
        let c = if self.net.input_uses_p {
            if e.p as usize >= l.c {
                return Err(out("p", e.p as u64, l.c));
            }
            e.p as usize
        } else {
            0
        };
        Ok(l.index(c, e.y as usize, e.x as usize) as u32)
    }

    /// Consumes a chunk of events (sorted by `t`) and appends the output spikes that became
    /// final to `out`. Events of the newest tick are held until the tick is known complete.
    pub fn feed<S: EventSlice + ?Sized>(&mut self, events: &S, out: &mut Vec<Spike>) -> Result<()> {
        self.validate(events)?;
        self.feed_validated(events, out)
    }

    /// [`Engine::feed`] without the ordering checks, for events that already passed
    /// [`Engine::validate`] as part of a larger array whose earlier pieces were fed first
    /// (time only moves forward, so the pieces of a validated array stay valid in order).
    /// Out-of-layout events are still rejected; out-of-order events would be misplaced in
    /// time, never read out of bounds.
    pub fn feed_validated<S: EventSlice + ?Sized>(&mut self, events: &S, out: &mut Vec<Spike>) -> Result<()> {
        let tick_us = self.net.tick_us;
        // End (exclusive, µs) of the pending tick: events before it join the pending tick
        // without a division.
        let mut tick_end = match self.pending_tick {
            Some(pt) => (pt + 1).saturating_mul(tick_us),
            None => 0,
        };
        for k in 0..events.len() {
            let e = events.get(k);
            let idx = self.input_index(k, &e)?;
            if e.t >= tick_end || self.pending_tick.is_none() {
                let tick = e.t / tick_us;
                if self.pending_tick.is_some() {
                    self.flush_pending(out);
                }
                self.pending_tick = Some(tick);
                tick_end = (tick + 1).saturating_mul(tick_us);
            }
            self.pending.push(idx);
        }
        if events.len() > 0 {
            self.last_t_us = events.get(events.len() - 1).t;
        }
        self.stats.input_events += events.len() as u64;
        Ok(())
    }

    /// Declares that no more events will arrive up to and including the tick that contains
    /// `t_us`: computes every tick up to that one and appends their output spikes to `out`.
    /// Moving to a time already passed does nothing.
    pub fn advance(&mut self, t_us: u64, out: &mut Vec<Spike>) {
        let end = t_us / self.net.tick_us;
        self.advance_ticks(end.saturating_add(1), out);
    }

    /// Computes every tick before `end_tick` (pending events included when their tick is
    /// before it); afterwards events must belong to tick `end_tick` or later.
    pub fn advance_ticks(&mut self, end_tick: u64, out: &mut Vec<Spike>) {
        if let Some(pt) = self.pending_tick {
            if pt < end_tick {
                self.flush_pending(out);
            }
        }
        self.run_until(end_tick, out);
    }

    /// `feed` and then `advance` to the last event's tick.
    pub fn run<S: EventSlice + ?Sized>(&mut self, events: &S, out: &mut Vec<Spike>) -> Result<()> {
        self.feed(events, out)?;
        if let Some(pt) = self.pending_tick {
            self.advance_ticks(pt + 1, out);
        }
        Ok(())
    }

    /// The earliest tick with pending work (held events, delayed input or live neurons).
    pub fn next_work_tick(&self) -> Option<u64> {
        let t = self.open_tick;
        if self.learning_moves() {
            return Some(t);
        }
        let mut best = match (self.pending_tick, self.next_reward()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        for l in &self.layers {
            if let Some(k) = l.next_work(t) {
                best = Some(best.map_or(k, |b| b.min(k)));
                if k == t {
                    break;
                }
            }
        }
        best
    }

    /// Whether some neuron is still moving on its own (live) or input is waiting in a delay.
    pub fn is_idle(&self) -> bool {
        !self.learning_moves()
            && self.rewards.is_empty()
            && self.layers.iter().all(|l| l.next_work(self.open_tick).is_none())
    }

    fn flush_pending(&mut self, out: &mut Vec<Spike>) {
        if let Some(pt) = self.pending_tick.take() {
            self.run_until(pt, out);
            let inputs = core::mem::take(&mut self.pending);
            self.compute_tick(pt, &inputs, out);
            self.pending = inputs;
            self.pending.clear();
            self.open_tick = pt + 1;
        }
    }

    /// Computes every tick in `[open_tick, end)` that has work; ticks without work are skipped.
    fn run_until(&mut self, end: u64, out: &mut Vec<Spike>) {
        while self.open_tick < end {
            let t = self.open_tick;
            let next =
                if self.learning_moves() { Some(t) } else { self.layers.iter().filter_map(|l| l.next_work(t)).min() };
            match next {
                Some(k) if k < end => {
                    self.compute_tick(k, &[], out);
                    self.open_tick = k + 1;
                }
                _ => self.open_tick = end,
            }
        }
    }

    /// One tick: input deliveries, then every layer with work, in processing order, then
    /// learning on the plastic connections.
    fn compute_tick(&mut self, t: u64, inputs: &[u32], out: &mut Vec<Spike>) {
        // rewards due in this tick (reward-modulated learning), summed
        let mut reward = 0i64;
        self.rewards.retain(|&(k, r)| {
            if k == t {
                reward += r;
            }
            k != t
        });
        let Engine { net, layers, stats, spikes, out_tick, scratch16, plastic, tick_spikes, .. } = self;
        let net: &NetworkParams = net;
        stats.ticks_computed += 1;
        for &k in &net.input_outgoing {
            let c = &net.connections[k];
            let w = plastic[k].as_ref().map(|p| &p.weights);
            stats.synops += deliver_batch(c, w, inputs, t, &mut layers[c.target].slots, scratch16);
        }
        let learning = !net.plastic.is_empty();
        for li in 0..net.layers.len() {
            let lp = &net.layers[li];
            if learning {
                tick_spikes[li].clear();
            }
            if !layers[li].has_work(t) {
                continue;
            }
            spikes.clear();
            stats.neuron_updates += step_layer(lp, &mut layers[li], t, spikes);
            if spikes.is_empty() {
                continue;
            }
            stats.layer_spikes[li] += spikes.len() as u64;
            if li == net.output {
                out_tick.clear();
                out_tick.extend(spikes.iter().map(|&n| lp.layout.to_logical(n as usize) as u32));
                out_tick.sort_unstable();
                let t_us = t * net.tick_us;
                out.extend(out_tick.iter().map(|&n| Spike::new(t_us, n)));
                stats.output_spikes += out_tick.len() as u64;
            }
            for &k in &lp.outgoing {
                let c = &net.connections[k];
                let w = plastic[k].as_ref().map(|p| &p.weights);
                stats.synops += deliver_batch(c, w, spikes, t, &mut layers[c.target].slots, scratch16);
            }
            if learning {
                tick_spikes[li].extend_from_slice(spikes);
            }
        }
        for &k in &net.plastic {
            let c = &net.connections[k];
            let pre: &[u32] = match c.source {
                Node::Input => inputs,
                Node::Layer(s) => &tick_spikes[s],
            };
            if let Some(st) = plastic[k].as_mut() {
                st.step(t, pre, &tick_spikes[c.target], reward);
            }
        }
    }

    /// The whole mutable state (see [`crate::checkpoint`]).
    #[cfg(feature = "std")]
    pub fn snapshot(&self) -> Result<crate::checkpoint::EngineSnapshot> {
        use crate::checkpoint::{EngineSnapshot, LayerSnapshotFull, PlasticSnapshot, SlotSnapshot};
        let spec = crate::model::file::spec_to_msgpack(&self.net.spec)?;
        let layers = self
            .layers
            .iter()
            .map(|l| LayerSnapshotFull {
                v: l.v.to_vec(),
                i: l.i.clone(),
                theta: l.theta.clone(),
                r: l.r.clone(),
                next: l.next.clone(),
                uniform: l.uniform,
                slots: l
                    .slots
                    .iter()
                    .map(|s| SlotSnapshot {
                        acc: s.acc.to_vec(),
                        wide: s.wide.clone(),
                        bound: s.bound,
                        all: s.all,
                        groups: s.groups.clone(),
                    })
                    .collect(),
                live: l.live_cur.clone(),
            })
            .collect();
        let plastic = self
            .plastic
            .iter()
            .enumerate()
            .filter_map(|(k, p)| p.as_ref().map(|p| (k, p)))
            .map(|(k, p)| PlasticSnapshot {
                connection: k as u32,
                weights: match &p.weights {
                    crate::synapse::DenseWeights::I8(v) => v.iter().map(|&x| x as i16).collect(),
                    crate::synapse::DenseWeights::I16(v) => v.to_vec(),
                },
                x: p.x.clone(),
                y: p.y.clone(),
                moving: p.moving,
                elig: p.elig.clone(),
                a_plus: p.params.a_plus,
                a_minus: p.params.a_minus,
                enabled: p.params.enabled,
            })
            .collect();
        let s = &self.stats;
        Ok(EngineSnapshot {
            model_crc: crate::model::file::crc32(&spec),
            model_name: self.net.name.clone(),
            open_tick: self.open_tick,
            pending: self.pending.clone(),
            pending_tick: self.pending_tick,
            last_t_us: self.last_t_us,
            counters: [s.ticks_computed, s.input_events, s.synops, s.neuron_updates, s.output_spikes],
            layer_spikes: s.layer_spikes.clone(),
            layers,
            plastic,
            rewards: self.rewards.clone(),
        })
    }

    /// An engine in the state a snapshot recorded, for the same model (checked).
    #[cfg(feature = "std")]
    pub fn from_snapshot(net: Arc<NetworkParams>, s: &crate::checkpoint::EngineSnapshot) -> Result<Engine> {
        let bad = |what: &str| Error::Checkpoint { message: alloc::format!("{what} does not match the model") };
        let spec = crate::model::file::spec_to_msgpack(&net.spec)?;
        if crate::model::file::crc32(&spec) != s.model_crc {
            return Err(Error::Checkpoint {
                message: alloc::format!(
                    "it was written for model {:?} with another description; it cannot be restored into {:?}",
                    s.model_name,
                    net.name
                ),
            });
        }
        let mut e = Engine::new(net.clone());
        if s.layers.len() != e.layers.len() || s.layer_spikes.len() != e.layers.len() {
            return Err(bad("the number of layers"));
        }
        for (k, (st, ls)) in e.layers.iter_mut().zip(&s.layers).enumerate() {
            let lp = &net.layers[k];
            let (n, g) = (lp.layout.len(), lp.layout.groups());
            let ok = ls.v.len() == n
                && ls.i.len() == st.i.len()
                && ls.theta.len() == st.theta.len()
                && ls.r.len() == st.r.len()
                && ls.next.len() == g
                && ls.slots.len() == st.slots.len()
                && ls.live.iter().all(|&x| (x as usize) < g)
                && ls.slots.iter().all(|sl| {
                    sl.acc.len() == n
                        && (sl.wide.is_empty() || sl.wide.len() == n)
                        && sl.groups.iter().all(|&x| (x as usize) < g)
                });
            if !ok {
                return Err(bad(&alloc::format!("the state of layer {:?}", lp.name)));
            }
            st.v.copy_from_slice(&ls.v);
            st.i.clone_from(&ls.i);
            st.theta.clone_from(&ls.theta);
            st.r.clone_from(&ls.r);
            st.next.clone_from(&ls.next);
            st.uniform = ls.uniform;
            st.live_cur.clone_from(&ls.live);
            for (slot, ss) in st.slots.iter_mut().zip(&ls.slots) {
                slot.acc.copy_from_slice(&ss.acc);
                slot.wide.clone_from(&ss.wide);
                slot.bound = ss.bound;
                slot.all = ss.all;
                for &grp in &ss.groups {
                    slot.mark(grp as usize);
                }
            }
        }
        for ps in &s.plastic {
            let k = ps.connection as usize;
            let Some(Some(p)) = e.plastic.get_mut(k) else {
                return Err(bad("a plastic connection"));
            };
            if ps.x.len() != p.x.len() || ps.y.len() != p.y.len() {
                return Err(bad("the traces of a plastic connection"));
            }
            let (lo, hi) = (p.params.w_min as i64, p.params.w_max as i64);
            if ps.weights.iter().any(|&w| (w as i64) < lo || (w as i64) > hi) {
                return Err(bad("the weights (outside their bounds)"));
            }
            match &mut p.weights {
                crate::synapse::DenseWeights::I8(v) if v.len() == ps.weights.len() => {
                    v.iter_mut().zip(&ps.weights).for_each(|(a, &b)| *a = b as i8)
                }
                crate::synapse::DenseWeights::I16(v) if v.len() == ps.weights.len() => v.copy_from_slice(&ps.weights),
                _ => return Err(bad("the number of weights")),
            }
            if ps.elig.len() != p.elig.len() {
                return Err(bad("the eligibility traces of a plastic connection"));
            }
            p.x.clone_from(&ps.x);
            p.y.clone_from(&ps.y);
            p.elig.clone_from(&ps.elig);
            p.moving = ps.moving;
            p.params.a_plus = ps.a_plus;
            p.params.a_minus = ps.a_minus;
            p.params.enabled = ps.enabled;
        }
        e.open_tick = s.open_tick;
        e.rewards = s.rewards.clone();
        e.pending = s.pending.clone();
        e.pending_tick = s.pending_tick;
        e.last_t_us = s.last_t_us;
        let n_in = net.input.len() as u32;
        if e.pending.iter().any(|&x| x >= n_in) || (e.pending_tick.is_none() && !e.pending.is_empty()) {
            return Err(bad("the held-back input"));
        }
        let [tc, ie, so, nu, os] = s.counters;
        e.stats = Stats {
            ticks: 0,
            ticks_computed: tc,
            input_events: ie,
            synops: so,
            neuron_updates: nu,
            layer_spikes: s.layer_spikes.clone(),
            output_spikes: os,
        };
        Ok(e)
    }

    /// Writes one state of a layer (`"v"`, `"i"`, `"theta"` or `"refractory"`), C-order values,
    /// as the state at the end of the last complete tick. Values are checked against the
    /// state range; the layer's neurons are stepped in the next tick.
    pub fn set_state(&mut self, layer: &str, field: &str, values: &[i64]) -> Result<()> {
        let li = self.net.layer_index(layer)?;
        let lp = &self.net.layers[li];
        let n = lp.layout.len();
        let st = &mut self.layers[li];
        st.catch_up_all(lp, self.open_tick);
        if values.len() != n {
            return Err(Error::Shape {
                what: alloc::format!("{field} of layer {layer:?}"),
                expected: alloc::format!("{n} values"),
                found: alloc::format!("{}", values.len()),
            });
        }
        let p = &lp.neuron;
        let (lo, hi) = match field {
            "v" | "i" => (p.lo, p.hi),
            "theta" => (0, p.hi),
            "refractory" => (0, u32::MAX as i64),
            _ => {
                return Err(crate::error::invalid(
                    layer,
                    alloc::format!("unknown state {field:?} (v, i, theta, refractory)"),
                ))
            }
        };
        let present = match field {
            "v" => true,
            "i" => !st.i.is_empty(),
            "theta" => !st.theta.is_empty(),
            _ => !st.r.is_empty(),
        };
        if !present {
            return Err(crate::error::invalid(layer, alloc::format!("this layer has no {field} state")));
        }
        if let Some((k, &x)) = values.iter().enumerate().find(|(_, &x)| x < lo || x > hi) {
            return Err(Error::ParameterOverflow {
                layer: layer.into(),
                parameter: alloc::format!("{field} element {k}"),
                value: alloc::format!("{x}"),
                range: alloc::format!("{lo}..={hi}"),
            });
        }
        for (logical, &x) in values.iter().enumerate() {
            let k = lp.layout.from_logical(logical);
            match field {
                "v" => st.v[k] = x as i32,
                "i" => st.i[k] = x as i32,
                "theta" => st.theta[k] = x as i32,
                _ => st.r[k] = x as u32,
            }
        }
        // stepping a neuron that does not need it is harmless; not stepping one that does is not
        st.live_cur = (0..lp.layout.groups() as u32).collect();
        if st.uniform.is_none() {
            let open = self.open_tick;
            st.next.iter_mut().for_each(|x| *x = open);
        } else {
            st.uniform = Some(self.open_tick);
        }
        Ok(())
    }

    /// Whether some plastic connection still has moving traces.
    fn learning_moves(&self) -> bool {
        self.plastic.iter().flatten().any(|p| p.moving && p.params.enabled)
    }

    /// The earliest tick with a pending reward.
    fn next_reward(&self) -> Option<u64> {
        self.rewards.iter().map(|&(k, _)| k).min()
    }

    /// Delivers a reward (Q8: 256 = 1.0) to the reward-modulated connections in the tick that
    /// contains `t_us`: each weight then moves by `SR(R * eligibility, 2^24)` (docs/numerics.md).
    pub fn reward(&mut self, value: i64, t_us: u64) -> Result<()> {
        crate::error::check_range("reward", "value", value, -(1 << 24), 1 << 24)?;
        let tick = t_us / self.net.tick_us;
        if tick < self.open_tick {
            return Err(Error::LateEvent {
                index: 0,
                t_us,
                open_tick: self.open_tick,
                open_t_us: self.open_tick.saturating_mul(self.net.tick_us),
            });
        }
        self.rewards.push((tick, value));
        Ok(())
    }

    fn plastic_index(&self, connection: &str) -> Result<usize> {
        self.net.connections.iter().position(|c| c.name == connection && c.plastic.is_some()).ok_or_else(|| {
            Error::UnknownName {
                kind: "plastic connection",
                name: connection.into(),
                known: self
                    .net
                    .connections
                    .iter()
                    .filter(|c| c.plastic.is_some())
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        })
    }

    /// Turns learning on or off on a plastic connection (traces freeze while off).
    pub fn set_learning(&mut self, connection: &str, enabled: bool) -> Result<()> {
        let k = self.plastic_index(connection)?;
        if let Some(p) = self.plastic[k].as_mut() {
            p.params.enabled = enabled;
        }
        Ok(())
    }

    /// Changes the learning rates of a plastic connection (`None` keeps a rate).
    pub fn set_learning_rates(&mut self, connection: &str, a_plus: Option<i64>, a_minus: Option<i64>) -> Result<()> {
        let k = self.plastic_index(connection)?;
        for (v, what) in [(a_plus, "a_plus"), (a_minus, "a_minus")] {
            if let Some(v) = v {
                crate::error::check_range(connection, what, v, 0, 1 << 24)?;
            }
        }
        if let Some(p) = self.plastic[k].as_mut() {
            if let Some(v) = a_plus {
                p.params.a_plus = v;
            }
            if let Some(v) = a_minus {
                p.params.a_minus = v;
            }
        }
        Ok(())
    }

    /// The current weights of a plastic connection and their shape: `[out, in]` in C-order
    /// indices (dense), `[nnz]` in the model's synapse order (sparse), the kernel
    /// `[C_out, C_in, kh, kw]` (convolution).
    pub fn plastic_weights(&self, connection: &str) -> Result<(Vec<usize>, Vec<i32>)> {
        let k = self.plastic_index(connection)?;
        let c = &self.net.connections[k];
        let p = self.plastic[k].as_ref().ok_or_else(|| crate::error::invalid(connection, "not plastic"))?;
        let (n_in, n_out) = (c.src.len(), c.dst.len());
        let mut out = vec![0i32; weights_len(&p.weights)];
        let shape = match &p.topology {
            Topology::Dense => {
                for s_int in 0..n_in {
                    let s_log = c.src.to_logical(s_int);
                    for t_int in 0..n_out {
                        out[c.dst.to_logical(t_int) * n_in + s_log] = get(&p.weights, s_int * n_out + t_int);
                    }
                }
                vec![n_out, n_in]
            }
            Topology::Sparse(sp) => {
                for (kk, &pos) in sp.spec_index.iter().enumerate() {
                    out[pos as usize] = get(&p.weights, kk);
                }
                vec![out.len()]
            }
            Topology::Conv(cv) => {
                for q in 0..out.len() {
                    out[cv.spec_index(q)] = get(&p.weights, q);
                }
                vec![cv.c_out, cv.c_in, cv.kh, cv.kw]
            }
        };
        Ok((shape, out))
    }

    /// Replaces the weights of a plastic connection (the layout of [`Engine::plastic_weights`],
    /// flat), within its bounds.
    pub fn set_plastic_weights(&mut self, connection: &str, weights: &[i64]) -> Result<()> {
        let (shape, _) = self.plastic_weights(connection)?;
        let k = self.plastic_index(connection)?;
        let c = &self.net.connections[k];
        let (n_in, n_out) = (c.src.len(), c.dst.len());
        if weights.len() != shape.iter().product::<usize>() {
            return Err(Error::Shape {
                what: alloc::format!("weights of {connection:?}"),
                expected: shape.iter().map(|d| alloc::format!("{d}")).collect::<Vec<_>>().join(" x "),
                found: alloc::format!("{} values", weights.len()),
            });
        }
        let (src, dst) = (c.src, c.dst);
        if let Some(p) = self.plastic[k].as_mut() {
            let (lo, hi) = (p.params.w_min as i64, p.params.w_max as i64);
            if let Some((i, &w)) = weights.iter().enumerate().find(|(_, &w)| w < lo || w > hi) {
                return Err(Error::ParameterOverflow {
                    layer: connection.into(),
                    parameter: alloc::format!("weight element {i}"),
                    value: alloc::format!("{w}"),
                    range: alloc::format!("{lo}..={hi}"),
                });
            }
            match &p.topology {
                Topology::Dense => {
                    for s_int in 0..n_in {
                        let s_log = src.to_logical(s_int);
                        for t_int in 0..n_out {
                            set(&mut p.weights, s_int * n_out + t_int, weights[dst.to_logical(t_int) * n_in + s_log]);
                        }
                    }
                }
                Topology::Sparse(sp) => {
                    for (kk, &pos) in sp.spec_index.iter().enumerate() {
                        set(&mut p.weights, kk, weights[pos as usize]);
                    }
                }
                Topology::Conv(cv) => {
                    for q in 0..weights.len() {
                        set(&mut p.weights, q, weights[cv.spec_index(q)]);
                    }
                }
            }
        }
        Ok(())
    }

    /// The traces of a plastic connection (pre, post), C-order, at the end of the last computed
    /// tick that had learning activity.
    pub fn plastic_traces(&self, connection: &str) -> Result<(Vec<i32>, Vec<i32>)> {
        let k = self.plastic_index(connection)?;
        let c = &self.net.connections[k];
        let p = self.plastic[k].as_ref().ok_or_else(|| crate::error::invalid(connection, "not plastic"))?;
        let pre = (0..c.src.len()).map(|l| p.x[c.src.from_logical(l)]).collect();
        let post = (0..c.dst.len()).map(|l| p.y[c.dst.from_logical(l)]).collect();
        Ok((pre, post))
    }

    /// Scales each target neuron's incoming weights of a plastic connection to sum to
    /// `target` (docs/numerics.md, "Learning").
    pub fn normalize_weights(&mut self, connection: &str, target: i64) -> Result<()> {
        let k = self.plastic_index(connection)?;
        if let Some(p) = self.plastic[k].as_mut() {
            p.normalize(target);
        }
        Ok(())
    }

    /// A copy of a layer's state (C-order), brought up to the end of the last complete tick.
    pub fn state(&mut self, layer: &str) -> Result<LayerSnapshot> {
        let li = self.net.layer_index(layer)?;
        let lp = &self.net.layers[li];
        let st = &mut self.layers[li];
        st.catch_up_all(lp, self.open_tick);
        let n = lp.layout.len();
        let to_c = |v: &[i32]| -> Vec<i32> {
            if v.is_empty() {
                return Vec::new();
            }
            (0..n).map(|logical| v[lp.layout.from_logical(logical)]).collect()
        };
        Ok(LayerSnapshot {
            v: to_c(&st.v),
            i: to_c(&st.i),
            theta: to_c(&st.theta),
            refractory: if st.r.is_empty() {
                Vec::new()
            } else {
                (0..n).map(|logical| st.r[lp.layout.from_logical(logical)]).collect()
            },
        })
    }
}

/// Steps every group of layer `lp` that has work in tick `t`; appends spiking neurons'
/// internal indices to `spikes`; returns the number of neuron updates.
///
/// Three paths compute the same contract: a branch-light loop over the whole layer for
/// simple neurons (no current, refractory period or adaptation) when every neuron has input
/// and none needs catching up; a per-group loop for simple neurons; and the general
/// per-neuron path ([`step`] after [`catch_up`]) for everything else.
fn step_layer(lp: &LayerParams, st: &mut LayerState, t: u64, spikes: &mut Vec<u32>) -> u64 {
    let p = &lp.neuron;
    let gs = lp.layout.group_size();
    let si = (t % st.slots.len() as u64) as usize;
    let mut slot = core::mem::replace(&mut st.slots[si], Slot::new(0, 0));
    let live_cur = core::mem::take(&mut st.live_cur);
    let simple = !p.has_current && p.refractory == 0 && !p.adaptive();
    let mut updates = 0u64;
    let groups = lp.layout.groups();
    let touched = slot.groups.len() + live_cur.len();
    // Whole-layer pass or per-group steps: both compute the same contract. Per group, each
    // touched group first catches up its idle ticks, a chain of dependent multiplies; a
    // whole-layer pass steps every neuron once, a stream of independent vector operations
    // roughly DENSE_PASS_RATIO times cheaper per neuron. So the pass wins once that share of
    // the groups has work.
    let dense = slot.all
        || (simple && slot.wide.is_empty() && touched * DENSE_PASS_RATIO >= groups)
        || (!simple && touched * 2 >= groups);
    if dense {
        let idle = st.uniform.map(|k| t - k);
        if simple && slot.wide.is_empty() {
            match idle {
                Some(k) => decay_lanes(&mut st.v, p.decay_mem, k),
                None => {
                    for g in 0..groups {
                        decay_lanes(&mut st.v[g * gs..(g + 1) * gs], p.decay_mem, t - st.next[g]);
                    }
                }
            }
            step_all_simple(lp, st, &mut slot, t, spikes);
        } else if idle == Some(0) && !p.has_current && slot.wide.is_empty() {
            step_all_membrane(lp, st, &mut slot, t, spikes);
        } else {
            for g in 0..groups {
                let idle = idle.unwrap_or_else(|| t - st.next[g]);
                step_group_general(lp, st, &mut slot, g, idle, t, spikes);
            }
        }
        st.uniform = Some(t + 1);
        updates += lp.layout.len() as u64;
    } else {
        if let Some(k) = st.uniform.take() {
            st.next.fill(k);
        }
        // The groups with work this tick, each once, with the ticks it sat idle.
        let mut work = core::mem::take(&mut st.work);
        work.clear();
        for &g in slot.groups.iter().chain(live_cur.iter()) {
            let g = g as usize;
            if st.next[g] != t + 1 {
                work.push((g as u32, t - st.next[g]));
                st.next[g] = t + 1;
            }
        }
        updates += (work.len() * gs) as u64;
        if simple && slot.wide.is_empty() {
            catch_up_groups(&mut st.v, gs, &work, p.decay_mem);
            for &(g, _) in &work {
                step_group_simple(lp, st, &mut slot, g as usize, 0, t, spikes);
            }
        } else {
            for &(g, idle) in &work {
                step_group_general(lp, st, &mut slot, g as usize, idle, t, spikes);
            }
        }
        st.work = work;
    }
    slot.finish();
    st.slots[si] = slot;
    st.live_cur = core::mem::take(&mut st.live_next);
    st.live_next = live_cur;
    st.live_next.clear();
    updates
}

#[inline(always)]
fn queue_live(mark: &mut [u64], next: &mut Vec<u32>, g: usize, t: u64) {
    if mark[g] != t + 1 {
        mark[g] = t + 1;
        next.push(g as u32);
    }
}

/// The general path for one group: catch up `idle` ticks, then one [`step`] per neuron.
fn step_group_general(
    lp: &LayerParams,
    st: &mut LayerState,
    slot: &mut Slot,
    g: usize,
    idle: u64,
    t: u64,
    spikes: &mut Vec<u32>,
) {
    let gs = lp.layout.group_size();
    let mut live = false;
    for n in g * gs..(g + 1) * gs {
        let mut s = st.load(n);
        catch_up(&lp.neuron, &mut s, idle);
        let a = slot.take(n);
        let bias = if lp.bias.is_empty() { 0 } else { lp.bias[n] };
        let bias_syn = if lp.bias_syn.is_empty() { 0 } else { lp.bias_syn[n] };
        let r = step(&lp.neuron, &mut s, a, bias, bias_syn);
        st.store(n, s);
        if r.spike {
            spikes.push(n as u32);
        }
        live |= r.live;
    }
    if live {
        queue_live(&mut st.live_mark, &mut st.live_next, g, t);
    }
}

/// The whole layer for membrane-only neurons with a refractory period and/or an adaptive
/// threshold, when every neuron was stepped last tick (no catch-up): the same arithmetic as
/// [`step`], on the layer's arrays directly.
fn step_all_membrane(lp: &LayerParams, st: &mut LayerState, slot: &mut Slot, t: u64, spikes: &mut Vec<u32>) {
    let p = &lp.neuron;
    let n = lp.layout.len();
    let gs = lp.layout.group_size();
    let (lo, hi) = (p.lo, p.hi);
    let LayerState { v, theta, r, live_mark, live_next, .. } = st;
    let has_theta = !theta.is_empty();
    let has_r = !r.is_empty();
    let decay_theta = has_theta && p.adapt_decay != crate::fixed::DECAY_ONE;
    for k in 0..n {
        let a = core::mem::take(&mut slot.acc[k]);
        let b = if lp.bias.is_empty() { 0 } else { lp.bias[k] };
        let mut th = if has_theta { theta[k] } else { 0 };
        if decay_theta {
            th = decay(th, p.adapt_decay);
        }
        let mut x = v[k];
        let mut spike = false;
        if has_r && r[k] > 0 {
            r[k] -= 1;
        } else {
            x = saturate(decay(x, p.decay_mem) as i64 + a as i64 + b as i64, lo, hi);
            if p.spiking {
                let thr = p.threshold as i64 + th as i64;
                if x as i64 >= thr {
                    spike = true;
                    x = match p.reset {
                        Reset::Subtract => saturate(x as i64 - thr, lo, hi),
                        Reset::ToValue(rv) => rv,
                    };
                    if has_r {
                        r[k] = p.refractory;
                    }
                    if p.adapt_increment != 0 {
                        th = saturate(th as i64 + p.adapt_increment as i64, 0, hi);
                    }
                }
            }
        }
        v[k] = x;
        if has_theta {
            theta[k] = th;
        }
        if spike {
            spikes.push(k as u32);
        }
        if b != 0 || (p.spiking && x >= p.threshold) {
            queue_live(live_mark, live_next, k / gs, t);
        }
    }
}

/// [`step`] specialised to simple neurons (membrane only), for one group, exact input
/// without spill. Same arithmetic, fewer branches.
#[inline]
fn step_group_simple(
    lp: &LayerParams,
    st: &mut LayerState,
    slot: &mut Slot,
    g: usize,
    idle: u64,
    t: u64,
    spikes: &mut Vec<u32>,
) {
    let p = &lp.neuron;
    let gs = lp.layout.group_size();
    let thr = p.threshold;
    let mut live = false;
    decay_lanes(&mut st.v[g * gs..(g + 1) * gs], p.decay_mem, idle);
    for n in g * gs..(g + 1) * gs {
        let bias = if lp.bias.is_empty() { 0 } else { lp.bias[n] };
        let a = core::mem::take(&mut slot.acc[n]);
        // Q(state) decayed (i32) + i32 input + i32 bias, exact in i64, saturated once.
        let mut v = saturate(decay(st.v[n], p.decay_mem) as i64 + a as i64 + bias as i64, p.lo, p.hi);
        if p.spiking && v >= thr {
            spikes.push(n as u32);
            v = match p.reset {
                Reset::Subtract => saturate(v as i64 - thr as i64, p.lo, p.hi),
                Reset::ToValue(x) => x,
            };
        }
        st.v[n] = v;
        live |= bias != 0 || (p.spiking && v >= thr);
    }
    if live {
        queue_live(&mut st.live_mark, &mut st.live_next, g, t);
    }
}

/// See `step_layer`: a whole-layer pass costs about this many times less per neuron than a
/// per-group step with catch-up (measured on W2, x86-64 with AVX-512, and on W1).
const DENSE_PASS_RATIO: usize = 16;

/// Catches up the membranes of many groups at once: group `g` gets `idle` ticks of [`decay`].
///
/// Each group's catch-up is a chain of dependent multiplies (one per idle tick); done one
/// group after the other, the chains' latency adds up. Here a batch of groups advances one
/// tick at a time, so the independent chains of different groups overlap in the pipeline.
/// A batch stops as soon as every membrane in it is zero (further decays change nothing).
fn catch_up_groups(v: &mut [i32], gs: usize, work: &[(u32, u64)], alpha: u32) {
    const BATCH: usize = 16;
    if alpha >= DECAY_ONE {
        return;
    }
    for batch in work.chunks(BATCH) {
        let longest = batch.iter().map(|&(_, idle)| idle).max().unwrap_or(0);
        for k in 0..longest {
            let mut any = 0i32;
            for &(g, idle) in batch {
                if k < idle {
                    let g = g as usize;
                    for x in &mut v[g * gs..(g + 1) * gs] {
                        *x = decay(*x, alpha);
                        any |= *x;
                    }
                }
            }
            if any == 0 {
                break;
            }
        }
    }
}

/// `idle` ticks of [`decay`] on every value of `v`: exactly [`crate::fixed::decay_n`] per
/// element, but in lock-step so that the independent lanes run in parallel (a group's
/// channels, a dense layer); stops as soon as every value is zero.
fn decay_lanes(v: &mut [i32], alpha: u32, idle: u64) {
    if alpha >= crate::fixed::DECAY_ONE {
        return;
    }
    for _ in 0..idle {
        let mut any = 0i32;
        for x in v.iter_mut() {
            *x = decay(*x, alpha);
            any |= *x;
        }
        if any == 0 {
            break;
        }
    }
}

/// A vector's worth of i32 lanes (AVX-512); smaller vector units only split it.
const LANES: usize = 16;

/// The membrane update of [`step_all_simple`] over whole blocks of [`LANES`] neurons:
/// `v[k] = upd(v[k], acc[k], bias[k])`. Writes the index of every block with a lane at or
/// over `thr` into `flagged` (branch-free: always written, counted only when set) and
/// returns how many. No spike handling here: a loop this simple stays vectorised with its
/// constants in registers.
#[inline(always)]
fn update_blocks<const BIAS: bool>(
    v: &mut [[i32; LANES]],
    acc: &[[i32; LANES]],
    bias: &[[i32; LANES]],
    thr: i32,
    flagged: &mut [u32],
    upd: impl Fn(i32, i32, i32) -> i32,
) -> usize {
    let mut nf = 0;
    for (bi, (vb, ab)) in v.iter_mut().zip(acc).enumerate() {
        let mut over = false;
        for k in 0..LANES {
            let b = if BIAS { bias[bi][k] } else { 0 };
            let x = upd(vb[k], ab[k], b);
            vb[k] = x;
            over |= x >= thr;
        }
        flagged[nf] = bi as u32;
        nf += over as usize;
    }
    nf
}

/// The whole layer at once, for simple neurons, after the caller caught every neuron up to
/// the end of tick `t - 1`. Two passes: an auto-vectorised membrane update over blocks of
/// [`LANES`] neurons that notes the blocks with a threshold crossing, then spikes and resets
/// in the noted blocks only.
fn step_all_simple(lp: &LayerParams, st: &mut LayerState, slot: &mut Slot, t: u64, spikes: &mut Vec<u32>) {
    let p = &lp.neuron;
    let (lo, hi, alpha, thr) = (p.lo, p.hi, p.decay_mem, p.threshold);
    let (lo32, hi32) = (lo as i32, hi as i32);
    // States of at most 24 bits decay in 32-bit lanes (see `fixed::decay_24`). Then |decay|
    // and |bias| are at most 2^23, so with the input clamped to ±2^25 the sum cannot overflow
    // i32, and clamping it to the (at most 24-bit) state range gives the same value as the
    // exact sum saturated once: when the input was clamped, the exact sum lies beyond ±2^24,
    // outside the state range on the same side as the clamped sum.
    let narrow = hi < (1 << 23) && alpha < DECAY_ONE;
    let upd_narrow = |x: i32, a: i32, b: i32| (decay_24(x, alpha) + b + a.clamp(-(1 << 25), 1 << 25)).clamp(lo32, hi32);
    let upd_wide = |x: i32, a: i32, b: i32| saturate(decay(x, alpha) as i64 + a as i64 + b as i64, lo, hi);
    let n = lp.layout.len();
    let gs = lp.layout.group_size();
    let LayerState { v, live_mark, live_next, flagged, .. } = st;
    let v = &mut v[..n];
    let acc = &slot.acc[..n];
    let (vb, vt) = v.as_chunks_mut::<LANES>();
    let (ab, at) = acc.as_chunks::<LANES>();
    let blocks = vb.len();
    flagged.clear();
    flagged.resize(blocks + 1, 0);
    // A threshold no state reaches when the layer does not spike (readouts).
    let thr_flag = if p.spiking { thr } else { i32::MAX };
    let mut nf = match (narrow, lp.bias.is_empty()) {
        (true, true) => update_blocks::<false>(vb, ab, &[], thr_flag, flagged, upd_narrow),
        (false, true) => update_blocks::<false>(vb, ab, &[], thr_flag, flagged, upd_wide),
        (true, false) => update_blocks::<true>(vb, ab, lp.bias[..n].as_chunks().0, thr_flag, flagged, upd_narrow),
        (false, false) => update_blocks::<true>(vb, ab, lp.bias[..n].as_chunks().0, thr_flag, flagged, upd_wide),
    };
    // The last, partial block.
    let mut over = false;
    for (k, (x, &a)) in vt.iter_mut().zip(at).enumerate() {
        let b = if lp.bias.is_empty() { 0 } else { lp.bias[blocks * LANES + k] };
        *x = if narrow { upd_narrow(*x, a, b) } else { upd_wide(*x, a, b) };
        over |= *x >= thr_flag;
    }
    if over {
        flagged[nf] = blocks as u32;
        nf += 1;
    }
    if !p.spiking {
        nf = 0;
    }
    for &bi in &flagged[..nf] {
        let b0 = bi as usize * LANES;
        let end = (b0 + LANES).min(n);
        let blk = &mut v[b0..end];
        // The crossing lanes as a bit mask (one vector compare), then visit only those.
        let mut mask = 0u32;
        for (k, &x) in blk.iter().enumerate() {
            mask |= ((x >= thr) as u32) << k;
        }
        while mask != 0 {
            let k = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            let x = &mut blk[k];
            spikes.push((b0 + k) as u32);
            *x = match p.reset {
                Reset::Subtract => saturate(*x as i64 - thr as i64, lo, hi),
                Reset::ToValue(r) => r,
            };
            if *x >= thr {
                queue_live(live_mark, live_next, (b0 + k) / gs, t);
            }
        }
    }
    // Take the input: zero the partial sums (all of them after a dense delivery, otherwise
    // only the touched groups; the others are zero). A separate pass: zeroing inside the
    // update loop stopped it from vectorising.
    if slot.all {
        slot.acc.fill(0);
    } else {
        for &g in &slot.groups {
            let g = g as usize;
            slot.acc[g * gs..(g + 1) * gs].fill(0);
        }
    }
    if !lp.bias.is_empty() {
        for g in 0..lp.layout.groups() {
            if lp.bias[g * gs..(g + 1) * gs].iter().any(|&b| b != 0) {
                queue_live(live_mark, live_next, g, t);
            }
        }
    }
}

/// A plastic connection's compiled (shifted) weights, unshifted, in the narrowest width that
/// holds its bounds: the engine's own learning copy.
fn unshifted(weights: &[i32], shift: u32, p: &StdpParams) -> DenseWeights {
    let w: Vec<i32> = weights.iter().map(|&x| x >> shift).collect();
    if i8::try_from(p.w_min).is_ok() && i8::try_from(p.w_max).is_ok() {
        DenseWeights::I8(Aligned::from_slice(&w.iter().map(|&x| x as i8).collect::<Vec<_>>()))
    } else {
        DenseWeights::I16(Aligned::from_slice(&w.iter().map(|&x| x as i16).collect::<Vec<_>>()))
    }
}
