//! The `[web]` listener inside `run`: one-click unsubscribe (RFC 8058) over HTTP/1, meant to
//! sit behind a reverse proxy that terminates TLS.
//!
//! It serves one route and bounds everything a client controls: the request head (hyper's
//! buffer), the time to send it, the body, a connection's whole life and how many are open at
//! once. `handler` answers each request; this module owns the sockets.

mod handler;

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::config::WebConfig;
use crate::stop::{Stop, StopHandle};
use crate::store::SharedStore;

/// The request line and headers must fit this; hyper answers 431 beyond it (and 8 KiB is
/// the least it allows).
const MAX_HEAD: usize = 8 * 1024;
/// How long a client may take to send the request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection's whole life, keep-alive included: nothing here takes longer than a
/// state write.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections open at once; past this, new ones are closed at once. The listener serves
/// the rare click on a link, so this only matters to someone flooding it.
const MAX_CONNECTIONS: usize = 256;
/// How long open connections may finish their request after a stop.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// The settings a request is answered with: those of the config last loaded.
pub type Site = watch::Receiver<Arc<WebConfig>>;

#[derive(Debug, thiserror::Error)]
#[error("web.listen {addr}: cannot listen there")]
pub struct BindError {
    pub addr: SocketAddr,
    #[source]
    pub source: std::io::Error,
}

/// The listener as the daemon runs it: started with it, given each reloaded `[web]`, stopped
/// with it.
pub struct WebServer {
    /// As configured (the port may be 0).
    listen: SocketAddr,
    local: SocketAddr,
    site: watch::Sender<Arc<WebConfig>>,
    stop: StopHandle,
    task: tokio::task::JoinHandle<()>,
}

impl WebServer {
    /// Binds `config.listen` and serves there on the current runtime until [`WebServer::stop`].
    pub fn start(config: &WebConfig, store: SharedStore) -> Result<WebServer, BindError> {
        let bind_error = |source| BindError {
            addr: config.listen,
            source,
        };
        // Bound synchronously so that a reload, which is not async, can bind too.
        let std_listener = std::net::TcpListener::bind(config.listen).map_err(bind_error)?;
        std_listener.set_nonblocking(true).map_err(bind_error)?;
        let listener = TcpListener::from_std(std_listener).map_err(bind_error)?;
        let local = listener.local_addr().map_err(bind_error)?;
        let (site, site_receiver) = watch::channel(Arc::new(config.clone()));
        let (stop, stop_receiver) = Stop::new();
        let task = tokio::spawn(serve(listener, site_receiver, store, stop_receiver));
        tracing::info!(listen = %local, base_url = %config.base_url, "unsubscribe listener started");
        Ok(WebServer {
            listen: config.listen,
            local,
            site,
            stop,
            task,
        })
    }

    /// The address as configured.
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// The address bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Answers from now on with a reloaded `[web]` (its secret and base URL; the address is
    /// the one bound).
    pub fn update(&self, config: &WebConfig) {
        self.site.send_replace(Arc::new(config.clone()));
    }

    /// Stops accepting, lets open requests finish for a moment, and closes the rest.
    pub async fn stop(self) {
        self.stop.request();
        if let Err(e) = self.task.await {
            tracing::error!("the unsubscribe listener ended badly: {e}");
        }
        tracing::info!(listen = %self.local, "unsubscribe listener stopped");
    }
}

/// Serves one-click unsubscribes on `listener` until `stop`, answering each request with the
/// current `site` and recording unsubscribes in `store`.
pub async fn serve(listener: TcpListener, site: Site, store: SharedStore, stop: Stop) {
    let open = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            biased;
            () = stop.wait() => break,
            // Reaps finished connections, so the set holds only open ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, most likely: give the open connections time to end.
                tracing::warn!("unsubscribe listener: cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            tracing::warn!(
                "unsubscribe listener: {MAX_CONNECTIONS} connections open; closing a new one"
            );
            continue;
        };
        let (site, store, stop) = (site.clone(), store.clone(), stop.clone());
        connections.spawn(async move {
            connection(stream, site, store, stop).await;
            drop(permit);
        });
    }
    drop(listener);
    let finished = tokio::time::timeout(STOP_GRACE, async {
        while connections.join_next().await.is_some() {}
    });
    if finished.await.is_err() {
        connections.shutdown().await;
    }
}

/// One connection, from the first byte to its close, within [`CONNECTION_TIMEOUT`].
async fn connection(stream: TcpStream, site: Site, store: SharedStore, stop: Stop) {
    let service = service_fn(move |request| {
        let site = Arc::clone(&site.borrow());
        let store = store.clone();
        async move { Ok::<_, std::convert::Infallible>(handler::handle(request, &site, &store).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD);
    let mut served = pin!(builder.serve_connection(TokioIo::new(stream), service));
    let whole = async {
        tokio::select! {
            result = served.as_mut() => result,
            () = stop.wait() => {
                // Finishes the request under way, if any, then closes.
                served.as_mut().graceful_shutdown();
                served.as_mut().await
            }
        }
    };
    match tokio::time::timeout(CONNECTION_TIMEOUT, whole).await {
        Ok(Ok(())) => {}
        // Garbage, a head too large or too slow, a client gone: hyper has answered what could
        // be answered (400, 431, 408); nothing to do but close.
        Ok(Err(e)) => tracing::debug!("unsubscribe listener: connection closed: {e}"),
        Err(_) => {
            tracing::debug!("unsubscribe listener: connection open {CONNECTION_TIMEOUT:?}; closed")
        }
    }
}
