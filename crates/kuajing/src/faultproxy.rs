//! A fault-injecting TCP proxy between services, for `kuajing chaos --net-faults`: what a
//! cluster's network does to calls between pods. Each connection gets, from a seeded
//! generator, one fate: clean; slow (every chunk of the answers held back, sometimes past
//! a call's deadline); cut (both directions closed after a while: a reset); or answers
//! lost (requests still reach the service, which applies them, but its answers stop
//! coming back and the connection is then closed). HTTP/2 keeps connections long, so a
//! cut connection's callers reconnect, and draw a new fate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What happened to connections, by fate.
#[derive(Debug, Default)]
pub struct Tally {
    /// Clean connections.
    pub clean: AtomicU64,
    /// Slow ones.
    pub slow: AtomicU64,
    /// Cut ones.
    pub cut: AtomicU64,
    /// Ones whose answers were lost.
    pub lost: AtomicU64,
}

impl Tally {
    /// "clean=…, slow=…, cut=…, answers lost=…".
    pub fn summary(&self) -> String {
        format!(
            "clean={}, slow={}, cut={}, answers lost={}",
            self.clean.load(Ordering::Relaxed),
            self.slow.load(Ordering::Relaxed),
            self.cut.load(Ordering::Relaxed),
            self.lost.load(Ordering::Relaxed)
        )
    }
}

#[derive(Clone, Copy, Debug)]
enum Fate {
    Clean,
    Slow(Duration),
    Cut(Duration),
    AnswersLost(Duration),
}

/// A seeded generator (xorshift), shared by a proxy's connections.
struct Seeded(AtomicU64);

impl Seeded {
    fn next(&self) -> u64 {
        let mut x = self.0.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) | 1;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }

    fn fate(&self) -> Fate {
        let ms = |lo: u64, hi: u64| Duration::from_millis(lo + self.next() % (hi - lo));
        match self.next() % 100 {
            0..70 => Fate::Clean,
            70..80 => Fate::Slow(ms(50, 2_500)),
            80..92 => Fate::Cut(ms(100, 3_000)),
            _ => Fate::AnswersLost(ms(100, 2_000)),
        }
    }
}

/// Listens on `listen` and forwards every connection to `target`, each with a fate
/// drawn from `seed`. Runs until the process ends.
pub async fn spawn(
    listen: SocketAddr,
    target: SocketAddr,
    seed: u64,
    tally: Arc<Tally>,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    let rng = Arc::new(Seeded(AtomicU64::new(seed)));
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                continue;
            };
            let fate = rng.fate();
            let tally = tally.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(target).await else {
                    return; // the service is down: the caller sees a reset
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                match fate {
                    Fate::Clean => tally.clean.fetch_add(1, Ordering::Relaxed),
                    Fate::Slow(_) => tally.slow.fetch_add(1, Ordering::Relaxed),
                    Fate::Cut(_) => tally.cut.fetch_add(1, Ordering::Relaxed),
                    Fate::AnswersLost(_) => tally.lost.fetch_add(1, Ordering::Relaxed),
                };
                relay(client, server, fate).await;
            });
        }
    });
    Ok(())
}

/// Copies bytes both ways as `fate` says, until either side closes.
async fn relay(client: TcpStream, server: TcpStream, fate: Fate) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if server_write.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    let downstream = async {
        let mut buf = vec![0u8; 16 * 1024];
        let mut answered = false;
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            match fate {
                Fate::Slow(d) => tokio::time::sleep(d).await,
                // The connection's first answer bytes (its settings) pass, then answers
                // vanish: requests are applied, their callers never hear.
                Fate::AnswersLost(_) if answered => continue,
                _ => {}
            }
            answered = true;
            if client_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    let limit = match fate {
        Fate::Cut(d) | Fate::AnswersLost(d) => d,
        _ => Duration::MAX,
    };
    tokio::select! {
        () = upstream => {}
        () = downstream => {}
        () = tokio::time::sleep(limit) => {}
    }
}
