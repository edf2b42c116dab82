//! Event files: recognising a format from its header, streaming body decoders, encoders.
//!
//! Every reader produces [`Event`](crate::Event)s in one convention whatever the file stores:
//! `t` in microseconds that never wraps (counters that wrap in the file are unwound here),
//! `x`/`y` with the origin at the top-left (formats that store a bottom-left origin are
//! flipped here), `p` 0 = OFF and 1 = ON. `docs/formats.md` says what each format stores.
//!
//! The pure byte-level parts (header parsing, body decoders, encoders) are `no_std`; reading
//! and writing files ([`reader`], [`writer`]) and the compressed AEDAT 4 packets need `std`.

pub mod aedat;
pub mod dat;
pub mod decode;
pub mod es;
pub mod evt;
pub mod header;
pub mod nmnist;

#[cfg(feature = "std")]
pub mod aedat4;
#[cfg(feature = "std")]
pub mod reader;
#[cfg(feature = "std")]
pub mod writer;

pub use decode::{Decoder, Fault, Progress};
pub use header::{parse_header, Format, Header, HeaderParse};
