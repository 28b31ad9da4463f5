//! Fan-out: a master reads raw samples from the aggregators below it, for queries that need
//! raw resolution or minutes newer than the last replicated one, and merges the answers; a
//! region that cannot answer makes the result partial, with a warning that names it.

mod client;
mod routes;
mod select;

pub use client::{FanoutTls, SelectClient, encode_parts};
pub use routes::{RegionRoutes, Route};
pub use select::{Fanout, FanoutAnswer};
