//! sysmon's fleet certificate authority and mutual-TLS plumbing.
//!
//! Nothing in a fleet connects without a certificate from the fleet CA (DESIGN.md,
//! "Contracts that tests hold"). This crate owns that CA:
//!
//! - [`FleetCa`] creates or loads the CA and issues agent and server certificates
//!   (`sysmon certs init / issue`, and the dev CA of `sysmon up`);
//! - [`server_config`] builds the rustls server configuration that requires a client
//!   certificate signed by the fleet CA;
//! - [`client_config`] builds the matching client configuration, which presents a fleet
//!   certificate and trusts only the fleet CA;
//! - [`peer_identity`] reads the identity (the subject common name) out of a verified
//!   peer certificate: for an agent, that is its agent id.
#![warn(missing_docs, unreachable_pub)]

mod ca;
mod client;
mod error;
mod identity;
mod server;

pub use ca::{CertFiles, FleetCa, IssuedCert};
pub use client::client_config;
pub use error::{Error, Result};
pub use identity::{certificate_identity, is_aggregator_certificate, peer_identity};
pub use server::server_config;
