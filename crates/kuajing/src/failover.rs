//! Highly available Postgres, locally: a primary with a synchronous standby (streaming
//! replication between two clusters of the machine's own binaries) behind one stable
//! address, which a failover moves to the promoted standby, as CloudNativePG moves its
//! `-rw` Service. Used by `kuajing chaos --failover`.
//!
//! With `synchronous_standby_names = '*'` a commit is acknowledged only once the standby
//! has flushed it, so promoting the standby loses nothing acknowledged. After a failover
//! the crashed primary's data is discarded and a new standby is copied from the new
//! primary; until it streams, the primary runs alone (commits are not held up).
//!
//! Replication runs through a forwarder of its own, so a fault can cut the standby off
//! the primary's write-ahead log for a while before the primary dies, as a network
//! partition between their nodes would.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

use crate::forwarder::Forwarder;
use crate::pgcluster::Cluster;

/// Two clusters, one primary, and the stable address in front of it.
pub struct ReplicatedPostgres {
    nodes: [Cluster; 2],
    primary: usize,
    forwarder: Forwarder,
    /// The standby's link to the primary.
    replication: Forwarder,
}

/// What one failover took.
#[derive(Clone, Copy, Debug)]
pub struct Failover {
    /// From the primary's crash until the stable address led to the promoted standby.
    pub switch: Duration,
    /// From the switch until a new synchronous standby was streaming again.
    pub resync: Duration,
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

impl ReplicatedPostgres {
    /// Fresh clusters under `dir` on `stable_port + 1` and `+ 2`, the first primary, the
    /// second its synchronous standby, the stable address on `stable_port`, and the
    /// replication link on `stable_port + 3`.
    pub async fn start(dir: &Path, stable_port: u16) -> anyhow::Result<ReplicatedPostgres> {
        let port = |offset: u16| {
            stable_port
                .checked_add(offset)
                .context("--pg-port too high for a primary and a standby above it")
        };
        let nodes = [
            Cluster::new(dir.join("a"), port(1)?)?,
            Cluster::new(dir.join("b"), port(2)?)?,
        ];
        for node in &nodes {
            node.stop()?;
            node.discard()?;
        }
        nodes[0].init()?;
        nodes[0].start()?;
        let forwarder = Forwarder::start(local(stable_port), local(nodes[0].port())).await?;
        let replication = Forwarder::start(local(port(3)?), local(nodes[0].port())).await?;
        let me = ReplicatedPostgres {
            nodes,
            primary: 0,
            forwarder,
            replication,
        };
        me.add_standby().await?;
        Ok(me)
    }

    /// Administrative options on the stable address.
    pub fn admin_options(&self) -> PgConnectOptions {
        self.nodes[self.primary]
            .admin_options()
            .port(self.forwarder.addr().port())
    }

    /// Copies the standby from the primary (through the replication link, which its
    /// settings then name), starts it, and makes it synchronous once it streams.
    async fn add_standby(&self) -> anyhow::Result<()> {
        self.replication
            .point_to(local(self.nodes[self.primary].port()));
        let link = self.replication.addr().port();
        let standby = self.nodes[1 - self.primary].clone();
        tokio::task::spawn_blocking(move || {
            standby.make_standby_of(link)?;
            standby.start().map(|_| ())
        })
        .await??;
        let mut conn = self.nodes[self.primary].admin_options().connect().await?;
        wait_for(
            &mut conn,
            "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
        )
        .await
        .context("the standby never streamed")?;
        sqlx::raw_sql("ALTER SYSTEM SET synchronous_standby_names = '*'")
            .execute(&mut conn)
            .await?;
        sqlx::raw_sql("SELECT pg_reload_conf()")
            .execute(&mut conn)
            .await?;
        wait_for(
            &mut conn,
            "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'",
        )
        .await
        .context("the standby never became synchronous")?;
        conn.close().await?;
        Ok(())
    }

    /// Crashes the primary (SIGKILL to its postmaster), promotes the standby, moves the
    /// stable address to it, then makes a new synchronous standby where the old primary was.
    ///
    /// With `stall`, the standby is first cut off the primary for a second (its
    /// replication link dropped): the primary dies while the standby is behind.
    /// Synchronous replication holds commits back meanwhile, so nothing acknowledged is
    /// missing from the standby; asynchronous, the commits of that second would be
    /// acknowledged and lost.
    pub async fn fail_over(&mut self, stall: bool) -> anyhow::Result<Failover> {
        let (old, new) = (self.primary, 1 - self.primary);
        if stall {
            self.replication.cut();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let started = Instant::now();
        self.nodes[old].kill()?;
        // Nothing reaches the dead primary's orphaned backends from now on.
        self.forwarder.cut();
        self.replication.cut();
        let promoted = self.nodes[new].clone();
        tokio::task::spawn_blocking(move || promoted.promote()).await??;
        self.forwarder.point_to(local(self.nodes[new].port()));
        self.primary = new;
        let switch = started.elapsed();
        let crashed = self.nodes[old].clone();
        tokio::task::spawn_blocking(move || {
            // Orphaned backends of the killed postmaster exit when they notice it is gone.
            std::thread::sleep(Duration::from_millis(500));
            crashed.discard()
        })
        .await??;
        let resynced = Instant::now();
        self.add_standby().await?;
        Ok(Failover {
            switch,
            resync: resynced.elapsed(),
        })
    }

    /// Stops both clusters (fast shutdown).
    pub fn stop(&self) -> anyhow::Result<()> {
        // The primary first: with its synchronous standby gone, a commit would wait for ever;
        // a standby without its primary only waits to reconnect.
        self.nodes[self.primary].stop()?;
        self.nodes[1 - self.primary].stop()
    }
}

/// Polls `count_sql` on `conn` until it counts at least one, for at most 60 s.
async fn wait_for(conn: &mut PgConnection, count_sql: &'static str) -> anyhow::Result<()> {
    for _ in 0..600 {
        let (n,): (i64,) = sqlx::query_as(count_sql).fetch_one(&mut *conn).await?;
        if n > 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("timed out waiting for: {count_sql}")
}
