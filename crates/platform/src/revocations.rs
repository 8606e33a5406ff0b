//! Signed-out sessions. A person's token stays valid until it expires, so signing out (or
//! a password reset, a reused refresh token, an operator's grant removed) would leave the
//! session's tokens working for up to their lifetime. Every process that verifies
//! people's tokens (edge for access tokens, every internal service for operators' and
//! auditors' tokens) polls identity for the sessions revoked since its last look
//! (`ListRevokedSessions`, at most every minute) and refuses their tokens from then on.
//! Each replica keeps its own copy of identity's answer, so every replica refuses within
//! one poll; a new process first reads the last hour, the longest any such token lives.
//! While identity does not answer, the copy stays as it was (tokens of sessions revoked
//! meanwhile keep working until identity answers again or they expire). A new process
//! polls at once, in the background: for that first round (milliseconds when identity
//! answers) it does not yet know the last hour's revocations.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use kuajing_proto::identity::v1 as idp;

use crate::clock::Clock;
use crate::time;

/// The longest any token a session carries lives: how far back a new copy reads.
pub const HORIZON: chrono::Duration = chrono::Duration::hours(1);
/// How far back each round reads again: longer than any revoking transaction takes from
/// its timestamp to its commit (and than the replicas' clocks differ).
const OVERLAP: chrono::Duration = chrono::Duration::seconds(60);
/// Each poll's budget.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(5);
/// Polls one round may chain while identity says there is more.
const MAX_PAGES: usize = 50;
/// The longest a poll interval may be: a signed-out session's tokens end within it.
pub const MAX_POLL: Duration = Duration::from_secs(60);

/// One `ListRevokedSessions` call: sessions revoked from `since`, after session id
/// `after` within that instant.
pub type Fetch = Arc<
    dyn Fn(
            idp::ListRevokedSessionsRequest,
        ) -> BoxFuture<'static, Result<idp::ListRevokedSessionsResponse, tonic::Status>>
        + Send
        + Sync,
>;

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
            .map_or(now - HORIZON, |seen| seen - OVERLAP)
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
        let horizon = now - HORIZON - chrono::Duration::seconds(60);
        state.revoked.retain(|_, at| *at >= horizon);
        if state.seen_until.is_none() {
            // Nothing revoked yet: next time ask from a little before now.
            state.seen_until = Some(now);
        }
    }

    /// One round: every revocation from the overlap on, page by page (a page ends inside a
    /// run of sessions revoked at one instant: the next asks after its last session id).
    pub async fn poll(&self, fetch: &Fetch, now: DateTime<Utc>) -> Result<(), tonic::Status> {
        let mut cursor = (self.since(now), String::new());
        for _ in 0..MAX_PAGES {
            let r = fetch(idp::ListRevokedSessionsRequest {
                revoked_since: Some(time::to_proto(cursor.0)),
                after_session_id: cursor.1.clone(),
            })
            .await?;
            self.absorb(&r.revoked_sessions, now);
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

    /// A copy kept up to date: polled with `fetch` every `every` for as long as the
    /// returned handle (or a clone) lives.
    pub fn follow(fetch: Fetch, clock: Clock, every: Duration) -> Arc<Revocations> {
        let revocations = Arc::new(Revocations::default());
        let weak: Weak<Revocations> = Arc::downgrade(&revocations);
        tokio::spawn(async move {
            loop {
                let Some(r) = weak.upgrade() else { return };
                if let Err(status) = r.poll(&fetch, clock.now()).await {
                    tracing::warn!(error = %status.message(), "cannot read revoked sessions from identity");
                }
                drop(r);
                tokio::time::sleep(every).await;
            }
        });
        revocations
    }
}

/// [`Fetch`] through a service's channel to identity, within [`POLL_TIMEOUT`].
pub fn from_identity(identity: crate::service::PeerChannel) -> Fetch {
    use kuajing_proto::identity::v1::identity_service_client::IdentityServiceClient;
    Arc::new(move |message| {
        let client = IdentityServiceClient::new(identity.clone());
        Box::pin(async move {
            let mut request = tonic::Request::new(message);
            request.set_timeout(POLL_TIMEOUT);
            let mut client = client;
            client
                .list_revoked_sessions(request)
                .await
                .map(tonic::Response::into_inner)
        })
    })
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

    #[tokio::test]
    async fn a_round_follows_pages_within_one_instant() {
        let now = Utc::now();
        let at = now - chrono::Duration::seconds(5);
        let asked = Arc::new(Mutex::new(Vec::new()));
        let fetch: Fetch = {
            let asked = asked.clone();
            Arc::new(move |req: idp::ListRevokedSessionsRequest| {
                asked.lock().unwrap().push(req.after_session_id.clone());
                let page = match req.after_session_id.as_str() {
                    "" => (vec![revoked("a", at), revoked("b", at)], true),
                    "b" => (vec![revoked("c", at)], false),
                    other => panic!("asked after {other}"),
                };
                Box::pin(async move {
                    Ok(idp::ListRevokedSessionsResponse {
                        revoked_sessions: page.0,
                        more: page.1,
                    })
                })
            })
        };
        let r = Revocations::default();
        r.poll(&fetch, now).await.unwrap();
        assert!(["a", "b", "c"].iter().all(|s| r.is_revoked(s)));
        assert_eq!(*asked.lock().unwrap(), vec!["".to_owned(), "b".to_owned()]);
    }
}
