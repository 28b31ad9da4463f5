//! Alerting (DESIGN.md, data path step 8): rules from `[alerting]` evaluated as PromQL
//! every interval, alerts pending -> firing -> resolved as Prometheus moves them. Notifications
//! are not sent yet; alerts are read over HTTP and replicated to the master.

mod book;
mod evaluator;
mod rules;
mod template;

pub(crate) use book::AlertBook;
pub(crate) use evaluator::{Evaluator, evaluate_rule};
pub(crate) use rules::{Alert, AlertState, Health, RuleState};
