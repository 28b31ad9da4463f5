//! sysmon's web dashboard: the fleet and host pages every aggregator serves on its HTTP port (9800 by default).
//!
//! The pages are plain HTML, CSS and JavaScript modules from `dashboard/web/`, plus uPlot for the charts.
//! `build.rs` embeds all of them into the binary at build time (running `npm ci` once to fetch uPlot), so a
//! deployed `sysmon` needs no files beside itself. In the browser, the pages read the aggregator's JSON API
//! (`/api/hosts`, `/api/hosts/{host}`, `/api/hosts/{host}/series`) on the same origin; this crate serves
//! only the static side.
//!
//! - [`router`] answers `/` (the fleet page), `/host/{host}` (one host's page) and `/assets/...`; the
//!   aggregator merges it into its own router.
//! - [`asset`] looks up one embedded file, as [`Asset`].
//!
//! The crate has no feature flags.

#![warn(missing_docs, unreachable_pub)]

mod assets;
mod routes;

pub use assets::{Asset, asset};
pub use routes::router;
