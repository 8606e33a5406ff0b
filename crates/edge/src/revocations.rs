//! Signed-out sessions. An access token stays valid until it expires, so signing out (or a
//! password reset, or a reused refresh token) would leave the session's tokens working for
//! up to their lifetime. Every edge process polls identity for the sessions revoked since
//! its last look (`ListRevokedSessions`, every `KJ_EDGE_REVOCATION_POLL_MS`) and refuses
//! their tokens with TOKEN_REVOKED. Each replica keeps its own copy of identity's answer,
//! so every replica refuses within one poll; a new process first reads the last hour, the
//! longest any access token lives. While identity does not answer, the copy stays as it
//! was (tokens of sessions revoked meanwhile keep working until identity answers again or
//! they expire). A new process polls at once, in the background: for that first round
//! (milliseconds when identity answers) it does not yet know the last hour's revocations.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kuajing_platform::time;
use kuajing_proto::identity::v1 as idp;

use crate::Edge;
use crate::domain::token::MAX_LIFETIME_SECS;
use crate::keys::Fetcher;
use crate::upstream::{Outbound, Upstream};

/// Each poll's budget.
const POLL_TIMEOUT: Duration = Duration::from_secs(5);
/// Polls one round may chain while identity says there is more.
const MAX_PAGES: usize = 50;

/// The sessions revoked within the last hour, by id, and how far the copy reaches.
#[derive(Debug, Default)]
pub struct Revocations {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    revoked: HashMap<String, DateTime<Utc>>,
    /// The latest revocation seen: the next poll asks from there.
    seen_until: Option<DateTime<Utc>>,
}

impl Revocations {
    /// Whether the session was revoked.
    pub fn is_revoked(&self, session_id: &str) -> bool {
        self.lock().revoked.contains_key(session_id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where a round starts: [`OVERLAP`] before the latest revocation seen (a revocation
    /// stamped before that may commit after it: a password change hashes between the two),
    /// or an hour back for a new process.
    fn since(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.lock()
            .seen_until
            .map_or(now - chrono::Duration::seconds(MAX_LIFETIME_SECS), |seen| {
                seen - OVERLAP
            })
    }

    /// Adds what identity answered; forgets revocations no token can outlive.
    fn absorb(&self, sessions: &[idp::RevokedSession], now: DateTime<Utc>) {
        let mut state = self.lock();
        for s in sessions {
            let at = s
                .revoke_time
                .as_ref()
                .and_then(time::from_proto)
                .unwrap_or(now);
            state.revoked.insert(s.session_id.clone(), at);
            state.seen_until = Some(state.seen_until.map_or(at, |t| t.max(at)));
        }
        let horizon = now - chrono::Duration::seconds(MAX_LIFETIME_SECS + 60);
        state.revoked.retain(|_, at| *at >= horizon);
        if state.seen_until.is_none() {
            // Nothing revoked yet: next time ask from a little before now.
            state.seen_until = Some(now);
        }
    }
}

/// How far back each round reads again: longer than any revoking transaction takes from
/// its timestamp to its commit (and than the replicas' clocks differ).
const OVERLAP: chrono::Duration = chrono::Duration::seconds(60);

/// One round: every revocation from the overlap on, page by page (a page ends inside a
/// run of sessions revoked at one instant: the next asks after its last session id).
async fn poll(
    up: &Upstream,
    revocations: &Revocations,
    now: DateTime<Utc>,
) -> Result<(), tonic::Status> {
    let out = || Outbound {
        deadline: None,
        budget: POLL_TIMEOUT,
        subject: None,
        trace: &[],
        retries: 1,
    };
    let fetcher = Fetcher { upstream: up };
    let mut cursor = (revocations.since(now), String::new());
    for _ in 0..MAX_PAGES {
        let r = crate::call!(
            fetcher,
            out(),
            identity.list_revoked_sessions(idp::ListRevokedSessionsRequest {
                revoked_since: Some(time::to_proto(cursor.0)),
                after_session_id: cursor.1.clone(),
            })
        )?;
        revocations.absorb(&r.revoked_sessions, now);
        match r.revoked_sessions.last() {
            Some(last) if r.more => {
                let at = last.revoke_time.as_ref().and_then(time::from_proto);
                cursor = (at.unwrap_or(cursor.0), last.session_id.clone());
            }
            _ => break,
        }
    }
    Ok(())
}

/// Polls identity every `every` for as long as edge runs (a weak handle: the task ends
/// with the service).
pub fn follow(edge: &Arc<Edge>, every: Duration) {
    let edge: Weak<Edge> = Arc::downgrade(edge);
    tokio::spawn(async move {
        loop {
            let Some(e) = edge.upgrade() else { return };
            let now = e.clock.now();
            if let Err(status) = poll(&e.upstream, &e.revocations, now).await {
                tracing::warn!(error = %status.message(), "cannot read revoked sessions from identity");
            }
            drop(e);
            tokio::time::sleep(every).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revoked(id: &str, at: DateTime<Utc>) -> idp::RevokedSession {
        idp::RevokedSession {
            session_id: id.to_owned(),
            revoke_time: Some(time::to_proto(at)),
        }
    }

    #[test]
    fn a_new_copy_reads_the_last_hour_then_follows_on() {
        let now = Utc::now();
        let r = Revocations::default();
        assert_eq!(r.since(now), now - chrono::Duration::seconds(3600));
        let at = now - chrono::Duration::seconds(10);
        r.absorb(&[revoked("a", at)], now);
        assert!(r.is_revoked("a") && !r.is_revoked("b"));
        assert_eq!(
            r.since(now),
            at - OVERLAP,
            "a minute back: late commits are read"
        );
        r.absorb(&[], now);
        assert_eq!(r.since(now), at - OVERLAP, "nothing newer: the same place");
    }

    #[test]
    fn revocations_no_token_can_outlive_are_forgotten() {
        let now = Utc::now();
        let r = Revocations::default();
        r.absorb(&[revoked("old", now - chrono::Duration::hours(2))], now);
        assert!(!r.is_revoked("old"));
        r.absorb(&[revoked("new", now)], now);
        assert!(r.is_revoked("new"));
    }
}
