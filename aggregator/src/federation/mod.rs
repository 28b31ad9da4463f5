//! Federation in the aggregator (DESIGN.md, data path step 6): a regional replicates to its
//! master; a master takes federation streams, keeps a directory of its regions, answers
//! queries from their rollups and their raw samples, keeps their alert sets, and may itself
//! report upward.

mod catalog;
mod ingest;
mod region_alerts;
mod region_table;
mod regions;
mod replicated;
mod select;
mod source;
mod start;

pub(crate) use ingest::accept as accept_stream;
pub(crate) use regions::{Reachability, RegionDirectory};
pub(crate) use replicated::ReplicationFilter;
pub(crate) use start::{FederationContext, Started, start};
