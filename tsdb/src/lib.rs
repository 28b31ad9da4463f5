//! sysmon's time-series engine (DESIGN.md, data path steps 4 and 5).
//!
//! One redb file holds everything: an inverted index of label pairs, a write-ahead log
//! written by group commit before any batch is acknowledged, sealed Gorilla-compressed
//! chunks, and 1-minute and 1-hour rollup tiers, each with its own retention.
#![warn(missing_docs, unreachable_pub)]

mod error;
mod labels;
mod matcher;

pub use error::{Error, Result};
pub use labels::{Labels, METRIC_NAME};
pub use matcher::{MatchKind, Matcher};
