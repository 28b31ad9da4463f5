//! The gRPC ingest server: mutual-TLS listener, the `Ingest` stream service, and batch
//! validation (DESIGN.md, data path step 3).

mod decode;
#[allow(dead_code)] // served with the tsdb engine (#3)
mod remote_write;
mod service;
mod tls;

pub(crate) use decode::is_label_name;
pub(crate) use service::IngestService;
pub(crate) use tls::accept_loop;
