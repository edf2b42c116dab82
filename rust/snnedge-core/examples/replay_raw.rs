//! Runs a model over a raw event file with the core alone (no Python), and prints the
//! throughput: `cargo run --release --example replay_raw -- MODEL.snnm EVENTS.bin [REPS]`.
//!
//! `EVENTS.bin` holds little-endian 16-byte records, the bytes of a numpy `EVENT_DTYPE`
//! array (`events.tofile(path)`). Useful to profile the engine without the interpreter
//! (`valgrind --tool=callgrind`, `perf record`).

use std::sync::Arc;
use std::time::Instant;

use snnedge_core::model::file;
use snnedge_core::{Engine, NetworkParams, RawEvents};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: replay_raw MODEL.snnm EVENTS.bin [REPS]");
        std::process::exit(2);
    }
    let model = file::read(&std::fs::read(&args[1])?)?;
    let net = Arc::new(NetworkParams::compile(&model.spec)?);
    let bytes = std::fs::read(&args[2])?;
    let events = RawEvents::new(&bytes).ok_or("event file size is not a multiple of 16 bytes")?;
    let reps: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(1);
    for _ in 0..reps {
        let mut engine = Engine::new(net.clone());
        let mut spikes = Vec::new();
        let t0 = Instant::now();
        engine.run(&events, &mut spikes)?;
        let wall = t0.elapsed().as_secs_f64();
        let st = engine.stats();
        println!(
            "{{\"wall_s\": {wall:.6}, \"events\": {}, \"events_per_s\": {:.0}, \"synops\": {}, \"neuron_updates\": {}, \"output_spikes\": {}}}",
            st.input_events,
            st.input_events as f64 / wall,
            st.synops,
            st.neuron_updates,
            spikes.len()
        );
    }
    Ok(())
}
