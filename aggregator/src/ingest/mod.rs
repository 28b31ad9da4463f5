//! The gRPC ingest server: mutual-TLS listener, the `Ingest` stream service, and batch
//! validation (DESIGN.md, data path step 3).

mod decode;
mod events;
mod remote_write;
mod series_cache;
mod service;
mod tls;

pub(crate) use decode::{check_label, is_label_name, is_metric_name};
pub(crate) use events::AgentEvents;
pub(crate) use remote_write::{MAX_REMOTE_WRITE_BODY_BYTES, decode_remote_write};
pub(crate) use service::IngestService;
pub(crate) use tls::{PeerIdentity, accept_loop};
