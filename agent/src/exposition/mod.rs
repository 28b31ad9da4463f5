//! Printing collections in the Prometheus text exposition format (`sysmon agent --once`).

mod metadata;
mod text;

pub use text::prometheus_text;
