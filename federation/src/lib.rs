//! sysmon federation: how aggregators find each other and how a fleet becomes one view
//! (DESIGN.md, data path step 6).
//!
//! This crate will own three jobs, each in its own module:
//!
//! - **discovery**: one interface over a static list, mDNS (`_sysmon._tcp.local.`, only on
//!   interfaces the config names), the Consul catalog and DNS SRV (a Kubernetes headless
//!   service), used by agents to find a regional and by regionals to find their master;
//! - **replication**: a regional streams its 1-minute rollups, host registry and alert
//!   states to its master over the agent's protocol (own disk spool, seqs, durable acks);
//! - **fan-out**: a master forwards raw-resolution queries to the regionals that own the
//!   hosts and merges the answers, marking a result partial when a region cannot answer.
//!
//! It is empty until the federation issue (#5); the workspace carries it so that the
//! layout of DESIGN.md holds from the start.
#![warn(missing_docs, unreachable_pub)]
