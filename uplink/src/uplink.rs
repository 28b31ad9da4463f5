//! [`Uplink`]: the outbox and the shipper behind one handle.

use std::sync::Arc;

use sysmon_proto::v1;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::endpoints::EndpointSource;
use crate::error::Result;
use crate::metrics::UplinkMetrics;
use crate::outbox::Outbox;
use crate::settings::UplinkSettings;
use crate::shipper::{HelloInfo, Shipper};

/// A sender's stream to its upstream aggregator: batches are spooled by [`Uplink::push`] and
/// sent by the task [`Uplink::ship`] starts. Cheap to clone.
#[derive(Clone)]
pub struct Uplink {
    settings: Arc<UplinkSettings>,
    outbox: Arc<Outbox>,
    metrics: Arc<UplinkMetrics>,
}

impl Uplink {
    /// Opens the spool, recovering it after a crash. Blocking: it may scan and repair files.
    ///
    /// # Errors
    /// [`crate::Error::OpenSpool`] naming the directory.
    pub fn open(settings: UplinkSettings, metrics: Arc<UplinkMetrics>) -> Result<Uplink> {
        let outbox = Outbox::open(&settings.spool, metrics.clone())?;
        Ok(Uplink { settings: Arc::new(settings), outbox: Arc::new(outbox), metrics })
    }

    /// Spools a batch under the next seq and returns once it is on disk (its `seq` is set
    /// when it is sent). When the spool is full and set to block, waits until acks free
    /// room; returns false if cancelled meanwhile. A batch the spool cannot write is lost,
    /// logged, counted, and reported upstream on the next batch that reaches the spool.
    pub async fn push(&self, batch: v1::Batch, collected_at_ms: i64, cancel: &CancellationToken) -> bool {
        self.outbox.push(batch, collected_at_ms, cancel).await
    }

    /// Starts the stream: connects to the first reachable endpoint of `endpoints`, says
    /// Hello as `hello`, and sends the spool until `cancel`, failing over and back as the
    /// endpoints come and go.
    pub fn ship(
        &self,
        hello: HelloInfo,
        endpoints: Arc<dyn EndpointSource>,
        cancel: CancellationToken,
    ) -> JoinHandle<()> {
        let shipper = Shipper {
            settings: self.settings.clone(),
            hello,
            outbox: self.outbox.clone(),
            metrics: self.metrics.clone(),
            endpoints,
        };
        tokio::spawn(shipper.run(cancel))
    }

    /// The figures.
    pub fn metrics(&self) -> &Arc<UplinkMetrics> {
        &self.metrics
    }

    /// Writes the spool's state now (at shutdown), so acked batches are not sent again.
    pub async fn flush(&self) {
        self.outbox.flush().await;
    }
}
