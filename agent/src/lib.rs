//! The sysmon agent: collectors, batching and the shipper (DESIGN.md, data path steps 1-3).
#![warn(missing_docs, unreachable_pub)]

pub mod collectors;
mod error;
mod sample;

pub use error::{Error, Result};
pub use sample::Sample;
