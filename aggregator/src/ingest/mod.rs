//! The gRPC ingest server: mutual-TLS listener, the `Ingest` stream service, and batch
//! validation (DESIGN.md, data path step 3).

mod decode;
mod service;
mod tls;

pub(crate) use service::IngestService;
pub(crate) use tls::accept_loop;
