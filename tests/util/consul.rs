//! The fake Consul agent (shared with federation's crate tests) for the end-to-end tests:
//! served on 127.0.0.1:0 by a tokio runtime of its own, read from plain `#[test]`s.

#[path = "../../federation/tests/support/consul_fake.rs"]
pub mod fake;

use std::net::SocketAddr;

use fake::Fake;
use tokio_util::sync::CancellationToken;

/// A running fake Consul agent; stops when dropped.
pub struct ConsulFake {
    pub addr: SocketAddr,
    state: fake::Shared,
    cancel: CancellationToken,
    runtime: Option<tokio::runtime::Runtime>,
}

impl ConsulFake {
    pub fn start() -> ConsulFake {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("consul-fake")
            .enable_all()
            .build()
            .expect("a runtime for the Consul fake");
        let cancel = CancellationToken::new();
        let (addr, state) = runtime.block_on(fake::start_fake(cancel.clone()));
        ConsulFake { addr, state, cancel, runtime: Some(runtime) }
    }

    /// `http://127.0.0.1:PORT`, for `discovery.consul.address`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Reads what the fake holds and has seen.
    pub fn read<T>(&self, f: impl FnOnce(&Fake) -> T) -> T {
        f(&self.state.borrow())
    }
}

impl Drop for ConsulFake {
    fn drop(&mut self) {
        self.cancel.cancel();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
