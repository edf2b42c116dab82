//! Decodes an event file with the core reader and prints the count, the time span and the
//! throughput: `cargo run --release --example read_file -- FILE [REPEATS]`.

use snnedge_core::io::reader::{EventReader, OnError};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: read_file FILE [REPEATS]");
        std::process::exit(2);
    };
    let repeats: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let mut best = f64::MAX;
    let mut n = 0;
    let mut span = (0, 0);
    for _ in 0..repeats {
        let t = std::time::Instant::now();
        let mut events = Vec::new();
        let result = EventReader::open(path, None, OnError::Stop).and_then(|mut r| r.read_all(&mut events));
        let dt = t.elapsed().as_secs_f64();
        if let Err(e) = result {
            eprintln!("{e}");
        }
        best = best.min(dt);
        n = events.len();
        span = (events.first().map_or(0, |e| e.t), events.last().map_or(0, |e| e.t));
    }
    println!(
        "{path}: {n} events, t {} -> {}, best {:.3} ms, {:.1} M events/s",
        span.0,
        span.1,
        best * 1e3,
        n as f64 / best / 1e6
    );
}
