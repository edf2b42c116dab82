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

use crate::error::{Error, Result};
use crate::event::{Event, EventSlice, Spike};
use crate::network::{LayerParams, NetworkParams};
use crate::neuron::{catch_up, step, NeuronState};
use crate::synapse::{deliver, Slot};

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
    v: Vec<i32>,
    i: Vec<i32>,
    theta: Vec<i32>,
    r: Vec<u32>,
    /// Per group: the next tick to apply (state is valid up to the end of tick `next - 1`).
    next: Vec<u64>,
    slots: Vec<Slot>,
    /// Groups that must be stepped in this layer's next tick.
    live_cur: Vec<u32>,
    /// Groups that must be stepped in the tick after the one being computed.
    live_next: Vec<u32>,
    /// `t + 1` when the group was queued in `live_next` during tick `t`.
    live_mark: Vec<u64>,
}

impl LayerState {
    fn new(l: &LayerParams) -> Self {
        let n = l.layout.len();
        let g = l.layout.groups();
        let p = &l.neuron;
        LayerState {
            v: vec![0; n],
            i: if p.has_current { vec![0; n] } else { Vec::new() },
            theta: if p.adaptive() { vec![0; n] } else { Vec::new() },
            r: if p.refractory > 0 { vec![0; n] } else { Vec::new() },
            next: vec![0; g],
            slots: (0..l.ring_len).map(|_| Slot::new(n, g)).collect(),
            // A neuron with a bias moves on its own from the very first tick.
            live_cur: (0..g)
                .filter(|&k| {
                    let gs = l.layout.group_size();
                    !l.bias.is_empty() && l.bias[k * gs..(k + 1) * gs].iter().any(|&b| b != 0)
                })
                .map(|k| k as u32)
                .collect(),
            live_next: Vec::new(),
            live_mark: vec![0; g],
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
}

impl Engine {
    /// A fresh engine (all states zero, time at tick 0).
    pub fn new(net: Arc<NetworkParams>) -> Self {
        let layers = net.layers.iter().map(LayerState::new).collect();
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
        for k in 0..events.len() {
            let e = events.get(k);
            if e.t < prev {
                return Err(Error::UnsortedEvents { index: k, t_us: e.t, previous_t_us: prev });
            }
            prev = e.t;
            let tick = e.t / net.tick_us;
            if tick < self.open_tick {
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
        let tick_us = self.net.tick_us;
        for k in 0..events.len() {
            let e = events.get(k);
            let tick = e.t / tick_us;
            let idx = self.input_index(k, &e)?;
            if let Some(pt) = self.pending_tick {
                if tick != pt {
                    self.flush_pending(out);
                }
            }
            self.pending_tick = Some(tick);
            self.pending.push(idx);
            self.last_t_us = e.t;
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
        let mut best = self.pending_tick;
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
        self.layers.iter().all(|l| l.next_work(self.open_tick).is_none())
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
            let next = self.layers.iter().filter_map(|l| l.next_work(t)).min();
            match next {
                Some(k) if k < end => {
                    self.compute_tick(k, &[], out);
                    self.open_tick = k + 1;
                }
                _ => self.open_tick = end,
            }
        }
    }

    /// One tick: input deliveries, then every layer with work, in processing order.
    fn compute_tick(&mut self, t: u64, inputs: &[u32], out: &mut Vec<Spike>) {
        let Engine { net, layers, stats, spikes, out_tick, .. } = self;
        let net: &NetworkParams = net;
        stats.ticks_computed += 1;
        for &k in &net.input_outgoing {
            let c = &net.connections[k];
            let slots = &mut layers[c.target].slots;
            let mut ops = 0;
            for &idx in inputs {
                ops += deliver(c, idx as usize, t, slots);
            }
            stats.synops += ops;
        }
        for li in 0..net.layers.len() {
            let lp = &net.layers[li];
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
                let slots = &mut layers[c.target].slots;
                let mut ops = 0;
                for &s in spikes.iter() {
                    ops += deliver(c, s as usize, t, slots);
                }
                stats.synops += ops;
            }
        }
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
fn step_layer(lp: &LayerParams, st: &mut LayerState, t: u64, spikes: &mut Vec<u32>) -> u64 {
    let p = &lp.neuron;
    let gs = lp.layout.group_size();
    let si = (t % st.slots.len() as u64) as usize;
    let mut slot = core::mem::replace(&mut st.slots[si], Slot::new(0, 0));
    let live_cur = core::mem::take(&mut st.live_cur);
    let mut updates = 0u64;
    let mut step_group = |st: &mut LayerState, slot: &mut Slot, g: usize| {
        if st.next[g] == t + 1 {
            return; // already stepped this tick
        }
        let idle = t - st.next[g];
        st.next[g] = t + 1;
        let mut live = false;
        for n in g * gs..(g + 1) * gs {
            let mut s = st.load(n);
            catch_up(p, &mut s, idle);
            let a = slot.take(n);
            let bias = if lp.bias.is_empty() { 0 } else { lp.bias[n] };
            let r = step(p, &mut s, a, bias);
            st.store(n, s);
            if r.spike {
                spikes.push(n as u32);
            }
            live |= r.live;
        }
        updates += gs as u64;
        if live && st.live_mark[g] != t + 1 {
            st.live_mark[g] = t + 1;
            st.live_next.push(g as u32);
        }
    };
    if slot.all {
        for g in 0..lp.layout.groups() {
            step_group(st, &mut slot, g);
        }
    } else {
        for k in 0..slot.groups.len() {
            let g = slot.groups[k] as usize;
            step_group(st, &mut slot, g);
        }
        for &g in &live_cur {
            step_group(st, &mut slot, g as usize);
        }
    }
    slot.finish();
    st.slots[si] = slot;
    st.live_cur = core::mem::take(&mut st.live_next);
    st.live_next = live_cur;
    st.live_next.clear();
    updates
}
