//! # snnedge-core
//!
//! A fixed-point, event-driven spiking neural network engine. Pure Rust, no Python; builds as
//! `no_std + alloc` with `--no-default-features`.
//!
//! The numerics are a written contract (`docs/numerics.md` in the repository): deterministic,
//! bit-exact, and the same whatever way the input stream is cut into chunks. The modules:
//!
//! - [`fixed`]: formats and the arithmetic primitives (decay, saturation);
//! - [`event`]: event and spike records (the numpy dtypes' byte layout);
//! - [`model`]: the model description (and the `.snnm` file, with `std`);
//! - [`network`]: compiling and validating a description into [`network::NetworkParams`];
//! - [`neuron`], [`synapse`]: one tick of a neuron; connections and their accumulation slots;
//! - [`engine`]: the event-driven engine;
//! - [`io`]: event files (format detection, streaming decoders and encoders; files with `std`).
//! - [`encode`]: spike encoders that turn signals, images, audio and video into events.
//!
//! ```
//! use std::sync::Arc;
//! use snnedge_core::{Engine, Event, NetworkParams, ModelSpec};
//! let spec: ModelSpec = serde_json::from_str(r#"{
//!     "tick_us": 1000, "input_shape": [2],
//!     "layers": [{"name": "out", "neuron": "IF", "shape": [1], "threshold": 3}],
//!     "connections": [{"kind": "Dense", "name": "fc", "source": "input", "target": "out",
//!                      "weight": {"dtype": "int8", "shape": [1, 2], "data": [2, 1]}}]
//! }"#).unwrap();
//! let net = Arc::new(NetworkParams::compile(&spec).unwrap());
//! let mut engine = Engine::new(net);
//! let mut spikes = Vec::new();
//! engine.run(&[Event::new(0, 0, 0, 1), Event::new(500, 1, 0, 1)][..], &mut spikes).unwrap();
//! assert_eq!(spikes.len(), 1); // 2 + 1 >= 3 in tick 0
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod buffer;
#[cfg(feature = "std")]
pub mod checkpoint;
pub mod encode;
pub mod engine;
pub mod error;
pub mod event;
pub mod fixed;
pub mod io;
pub mod model;
pub mod network;
pub mod neuron;
pub mod plasticity;
pub mod synapse;

pub use engine::{Engine, LayerSnapshot, Stats};
pub use error::{Error, Result};
pub use event::{Event, EventSlice, RawEvents, Spike};
pub use model::spec::ModelSpec;
pub use network::NetworkParams;
