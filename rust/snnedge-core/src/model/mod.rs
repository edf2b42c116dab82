//! Model description ([`spec`]) and the `.snnm` model file ([`file`], with `std`).

pub mod spec;

#[cfg(feature = "std")]
pub mod file;
