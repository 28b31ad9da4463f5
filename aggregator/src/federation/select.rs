//! `Federation.Select`: the raw samples an aggregator above reads for drill-down queries.
//! Only aggregator certificates may ask. A regional answers from its store; a master from
//! the regions below it (passing on their warnings). The query limits apply: a read that
//! would hold more series or samples than one query may is refused, naming the limit.

use std::pin::Pin;
use std::sync::Arc;

use futures_util::Stream;
use sysmon_federation::fanout::encode_parts;
use sysmon_federation::wire::decode_matchers;
use sysmon_promql::QueryLimits;
use sysmon_proto::federation_server::Federation;
use sysmon_proto::v1;
use sysmon_tsdb::SeriesData;
use tonic::{Request, Response, Status};
use tracing::debug;

use super::catalog::MasterCatalogs;
use crate::ingest::PeerIdentity;
use crate::store::TsdbCatalog;

/// Samples per answer part (about 1 MiB of protobuf).
const PART_SAMPLES: usize = 64 * 1024;

/// Where this aggregator's raw reads come from.
#[derive(Clone)]
pub(crate) enum SelectSource {
    /// A regional's own store.
    Local(Arc<TsdbCatalog>),
    /// A master's regions.
    Regions(Arc<MasterCatalogs>),
}

/// The service.
#[derive(Clone)]
pub(crate) struct SelectService {
    pub(crate) source: SelectSource,
    pub(crate) limits: QueryLimits,
}

type Parts = Pin<Box<dyn Stream<Item = Result<v1::SelectResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Federation for SelectService {
    type SelectStream = Parts;

    async fn select(&self, request: Request<v1::SelectRequest>) -> Result<Response<Parts>, Status> {
        let peer = request.extensions().get::<PeerIdentity>().cloned();
        if !peer.as_ref().is_some_and(|p| p.aggregator) {
            return Err(Status::permission_denied(
                "only aggregators (certificates from `sysmon certs issue --server`) may read raw samples",
            ));
        }
        let request = request.into_inner();
        let matchers = decode_matchers(&request.matchers).map_err(Status::invalid_argument)?;
        let (start, end) = (request.start_ms, request.end_ms);
        let source = self.source.clone();
        let (series, warnings) =
            tokio::task::spawn_blocking(move || -> Result<(Vec<SeriesData>, Vec<String>), String> {
                match source {
                    SelectSource::Local(catalog) => {
                        let series = sysmon_promql::Storage::select(catalog.as_ref(), &matchers, start, end)?;
                        Ok((
                            series.into_iter().map(|s| SeriesData { labels: s.labels, samples: s.samples }).collect(),
                            Vec::new(),
                        ))
                    }
                    SelectSource::Regions(catalogs) => {
                        let catalog = catalogs.master_catalog();
                        let (series, warnings) = catalog.select_with_warnings(&matchers, start, end)?;
                        Ok((
                            series.into_iter().map(|s| SeriesData { labels: s.labels, samples: s.samples }).collect(),
                            warnings,
                        ))
                    }
                }
            })
            .await
            .map_err(|e| Status::internal(format!("the read failed: {e}")))?
            .map_err(Status::unavailable)?;
        if series.len() > self.limits.max_series_per_selector {
            return Err(Status::resource_exhausted(format!(
                "the read matches {} series; limit query.max_series_per_selector = {}",
                series.len(),
                self.limits.max_series_per_selector
            )));
        }
        let samples: usize = series.iter().map(|s| s.samples.len()).sum();
        if samples > self.limits.max_samples {
            return Err(Status::resource_exhausted(format!(
                "the read holds {samples} samples; limit query.max_samples = {}",
                self.limits.max_samples
            )));
        }
        debug!(peer = ?peer.map(|p| p.name), series = series.len(), samples, "drill-down read answered");
        let mut parts = encode_parts(series, PART_SAMPLES);
        if parts.is_empty() {
            parts.push(v1::SelectResponse::default());
        }
        parts[0].warnings = warnings;
        Ok(Response::new(Box::pin(futures_util::stream::iter(parts.into_iter().map(Ok)))))
    }
}
