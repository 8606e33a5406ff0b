//! A TCP forwarder with a stable address whose target can move, as a Kubernetes Service's
//! address stays while the pod behind it changes: one address in front of whichever
//! Postgres is primary (`kuajing chaos --failover`), or a database a test cuts off and
//! brings back.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Where connections go, and which cut they belong to.
#[derive(Clone, Copy, Debug)]
struct Route {
    /// `None`: connections are refused (accepted and closed at once).
    target: Option<SocketAddr>,
    /// Bumped by every cut: connections of an older epoch are dropped.
    epoch: u64,
}

/// A running forwarder; dropping it stops it and drops its connections.
pub struct Forwarder {
    addr: SocketAddr,
    route: Arc<watch::Sender<Route>>,
    last_target: std::sync::Mutex<SocketAddr>,
    accept: JoinHandle<()>,
}

impl Forwarder {
    /// Listens on `listen` (port 0 picks one) and forwards every connection to `target`.
    pub async fn start(listen: SocketAddr, target: SocketAddr) -> anyhow::Result<Forwarder> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let (route, _) = watch::channel(Route {
            target: Some(target),
            epoch: 0,
        });
        let route = Arc::new(route);
        let routes = route.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let now = *routes.borrow();
                let Some(target) = now.target else {
                    continue; // down: the client sees its connection closed
                };
                let mut changes = routes.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let _ = (client.set_nodelay(true), server.set_nodelay(true));
                    let cut = changes.wait_for(|r| r.epoch != now.epoch);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut => {}
                    }
                });
            }
        });
        Ok(Forwarder {
            addr,
            route,
            last_target: std::sync::Mutex::new(target),
            accept,
        })
    }

    /// The stable address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every live connection and refuses new ones until [`Forwarder::mend`] or
    /// [`Forwarder::point_to`].
    pub fn cut(&self) {
        self.route.send_modify(|r| {
            r.target = None;
            r.epoch += 1;
        });
    }

    /// Forwards new connections to the last target again.
    pub fn mend(&self) {
        let target = *self.last_target.lock().unwrap_or_else(|e| e.into_inner());
        self.route.send_modify(|r| r.target = Some(target));
    }

    /// Moves the address to `target`: live connections are dropped (they belonged to the
    /// old one), new ones go to `target`.
    pub fn point_to(&self, target: SocketAddr) {
        *self.last_target.lock().unwrap_or_else(|e| e.into_inner()) = target;
        self.route.send_modify(|r| {
            r.target = Some(target);
            r.epoch += 1;
        });
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
