//! Golden cases (`firmware_models/golden/*.json`): model + events + expected output, produced by
//! the numpy reference (`tests/make_golden.py`). The Python tests run the same files.

#![allow(clippy::panic, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use snnedge_core::{Engine, Event, ModelSpec, NetworkParams, Spike};

#[derive(Deserialize)]
struct Case {
    model: ModelSpec,
    events: Vec<[u64; 4]>,
    end_t_us: u64,
    expected_spikes: Vec<[u64; 2]>,
    expected_state: BTreeMap<String, BTreeMap<String, Vec<i64>>>,
    expected_layer_spikes: BTreeMap<String, u64>,
}

fn cases() -> Vec<(String, Case)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../firmware_models/golden");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("golden directory") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) == Some("json") {
            let text = std::fs::read_to_string(&path).expect("read case");
            let case: Case = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            out.push((path.file_name().expect("name").to_string_lossy().into_owned(), case));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn check(name: &str, case: &Case, chunk: usize) {
    let net = Arc::new(NetworkParams::compile(&case.model).unwrap_or_else(|e| panic!("{name}: {e}")));
    let mut engine = Engine::new(net.clone());
    let events: Vec<Event> =
        case.events.iter().map(|e| Event::new(e[0], e[1] as u16, e[2] as u16, e[3] as u8)).collect();
    let mut spikes: Vec<Spike> = Vec::new();
    for piece in events.chunks(chunk.max(1)) {
        engine.feed(piece, &mut spikes).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    engine.advance(case.end_t_us, &mut spikes);
    let got: Vec<[u64; 2]> = spikes.iter().map(|s| [s.t, s.neuron as u64]).collect();
    assert_eq!(got, case.expected_spikes, "{name} (chunk {chunk}): spikes");
    for (layer, expected) in &case.expected_state {
        let st = engine.state(layer).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut have: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        have.insert("v".into(), st.v.iter().map(|&x| x as i64).collect());
        if !st.i.is_empty() {
            have.insert("i".into(), st.i.iter().map(|&x| x as i64).collect());
        }
        if !st.theta.is_empty() {
            have.insert("theta".into(), st.theta.iter().map(|&x| x as i64).collect());
        }
        if !st.refractory.is_empty() {
            have.insert("refractory".into(), st.refractory.iter().map(|&x| x as i64).collect());
        }
        assert_eq!(&have, expected, "{name} (chunk {chunk}): state of {layer}");
    }
    let stats = engine.stats();
    for (k, layer) in net.layers.iter().enumerate() {
        assert_eq!(
            Some(&stats.layer_spikes[k]),
            case.expected_layer_spikes.get(&layer.name),
            "{name} (chunk {chunk}): spike count of {}",
            layer.name
        );
    }
}

#[test]
fn golden_cases_match_whole_and_chunked() {
    let all = cases();
    assert!(all.len() >= 10, "expected the golden cases, found {}", all.len());
    for (name, case) in &all {
        for chunk in [usize::MAX, 1, 7] {
            check(name, case, chunk);
        }
    }
}
