//! Sessions: Login, RefreshToken, Logout and ListVerificationKeys.
//!
//! Issued tokens are never stored. A replayed Login or RefreshToken (same request id and
//! body) records its answer with the tokens blanked and the refresh token's id in their
//! place; the replay re-derives both: the refresh token from its id and the server key,
//! the access token by signing the same claims again (Ed25519 is deterministic).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use kuajing_platform::FieldViolations;
use kuajing_platform::error::internal;
use kuajing_platform::page::Cursor;
use kuajing_proto::identity::v1 as pb;
use kuajing_proto::reasons::identity as reasons;
use sqlx::PgConnection;
use tonic::{Code, Status};
use uuid::Uuid;

use super::convert::{self, ts};
use super::{DOMAIN, Started, State, Subject, db};
use crate::domain::account::{self, Role};
use crate::domain::events::EventType;
use crate::domain::lockout::AfterFailure;
use crate::domain::session::{self, RefreshRefusal};
use crate::domain::{contact, member_name, text};
use crate::outcome;
use crate::store::accounts::{self, LoginKey};
use crate::store::events::{self, NewEvent};
use crate::store::keys;
use crate::store::sessions::{self as store, RefreshRow, SessionRow};

/// Marks a recorded token pair whose tokens are to be re-derived from this refresh token id.
const REDERIVE: &str = "rederive:";

/// The contract's token type.
const BEARER: &str = "Bearer";

pub(super) fn check_client(v: &mut FieldViolations, client_ip: &str) {
    if !client_ip.is_empty() && client_ip.parse::<std::net::IpAddr>().is_err() {
        v.add("client_ip", "must be a textual IPv4 or IPv6 address");
    }
}

/// The pair as recorded for replays: no token, only the refresh token's id.
fn redacted(pair: &pb::TokenPair, token_id: Uuid) -> pb::TokenPair {
    pb::TokenPair {
        access_token: String::new(),
        refresh_token: format!("{REDERIVE}{token_id}"),
        ..pair.clone()
    }
}

impl State {
    pub(super) fn invalid_credentials(&self) -> Status {
        self.refuse(
            Code::Unauthenticated,
            reasons::INVALID_CREDENTIALS,
            "the identifier or the password is wrong",
        )
    }

    pub(super) fn login_locked(&self, until: DateTime<Utc>, now: DateTime<Utc>) -> Status {
        self.retry_later(
            reasons::LOGIN_LOCKED,
            "too many failed logins; try again later",
            until - now,
            &[("locked_until", until.to_rfc3339())],
        )
    }

    fn refresh_refused(&self, reason: &str) -> Status {
        let message = match reason {
            reasons::REFRESH_TOKEN_INVALID => "the refresh token is not valid",
            reasons::REFRESH_TOKEN_EXPIRED => "the session has expired; log in again",
            reasons::REFRESH_TOKEN_REVOKED => "the session was ended; log in again",
            _ => "the refresh token was already used; the session is revoked",
        };
        self.refuse(Code::Unauthenticated, reason, message)
    }

    /// Issues a token pair for generation `generation` of `session`.
    async fn issue(
        &self,
        tx: &mut PgConnection,
        session: &SessionRow,
        generation: i32,
        now: DateTime<Utc>,
    ) -> Result<(pb::TokenPair, Uuid), Status> {
        let key = self.keys.signing_key(now).await.map_err(internal)?;
        let refresh = RefreshRow {
            token_id: crate::secrets::random_uuid().map_err(internal)?,
            session_id: session.session_id,
            generation,
            issued_at: now,
            access_jti: Uuid::now_v7(),
            kid: key.kid().to_owned(),
            used_at: None,
        };
        store::insert_refresh(tx, &refresh).await.map_err(db)?;
        let pair = self.pair_for(&refresh, session, &key)?;
        Ok((pair, refresh.token_id))
    }

    /// The token pair of an issued refresh token (also to re-derive it).
    fn pair_for(
        &self,
        refresh: &RefreshRow,
        session: &SessionRow,
        key: &kuajing_platform::token::SigningKey,
    ) -> Result<pb::TokenPair, Status> {
        let roles: Vec<Role> = session
            .roles
            .iter()
            .filter_map(|r| Role::parse(r))
            .collect();
        let claims = session::access_claims(
            session.account_id,
            &roles,
            session.session_id,
            refresh.access_jti,
            refresh.issued_at,
            self.settings.sessions.access_ttl,
        );
        let expires = DateTime::from_timestamp(claims.exp, 0)
            .ok_or_else(|| internal("token expiry out of range"))?;
        Ok(pb::TokenPair {
            access_token: key.sign(&claims),
            token_type: BEARER.to_owned(),
            access_token_expire_time: Some(ts(expires)),
            refresh_token: self.secrets.refresh_token(refresh.token_id),
            refresh_token_expire_time: Some(ts(session.expires_at)),
            session_id: session.session_id.to_string(),
        })
    }

    /// Fills in the tokens of a recorded pair.
    async fn rederive(&self, pair: &mut pb::TokenPair) -> Result<(), Status> {
        let token_id = pair
            .refresh_token
            .strip_prefix(REDERIVE)
            .and_then(|id| Uuid::try_parse(id).ok())
            .ok_or_else(|| internal("recorded token pair without its token id"))?;
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let (refresh, session) = store::get_refresh(&mut conn, token_id, false)
            .await
            .map_err(db)?
            .ok_or_else(|| internal("recorded refresh token vanished"))?;
        let key = self
            .keys
            .key_for_kid(&refresh.kid)
            .await
            .map_err(internal)?
            .ok_or_else(|| {
                self.refuse(
                    Code::Unavailable,
                    reasons::SIGNING_KEY_UNAVAILABLE,
                    "the key that signed this answer is gone; retry with a new request_id",
                )
            })?;
        *pair = self.pair_for(&refresh, &session, &key)?;
        Ok(())
    }

    pub async fn login(&self, req: pb::LoginRequest) -> Result<pb::LoginResponse, Status> {
        let mut v = FieldViolations::new();
        v.request_id(&req.request_id);
        if req.identifier.is_empty() {
            v.add("identifier", "is required");
        } else if req.identifier.chars().count() > contact::EMAIL_MAX {
            v.add("identifier", "must be at most 254 characters");
        }
        if req.password.is_empty() {
            v.add("password", "is required");
        } else if req.password.chars().count() > crate::domain::password::MAX_CHARS {
            v.add("password", "must be at most 128 characters");
        }
        check_client(&mut v, &req.client_ip);
        v.finish_in(DOMAIN)?;

        let (mut tx, key) = match self
            .start::<_, pb::LoginResponse>("Login", &req.request_id, &req)
            .await?
        {
            Started::Replay(answer) => {
                let mut response = answer?;
                if let Some(pair) = response.tokens.as_mut() {
                    self.rederive(pair).await?;
                }
                return Ok(response);
            }
            Started::Fresh(tx, key) => (tx, key),
        };
        let result = self.login_in(&mut tx, &req).await;
        let stored = result.as_ref().ok().and_then(|(response, token_id)| {
            let pair = response.tokens.as_ref()?;
            Some(pb::LoginResponse {
                tokens: Some(redacted(pair, *token_id)),
                account: response.account.clone(),
            })
        });
        outcome::finish(tx, key, result.map(|(r, _)| r), stored.as_ref()).await
    }

    /// The account a login identifier (member name, email or E.164 mobile) names, locked.
    pub(super) async fn account_named(
        &self,
        tx: &mut PgConnection,
        identifier: &str,
    ) -> Result<Option<accounts::AccountRow>, Status> {
        // Member names never contain "@" nor start with "+", so the shape tells which.
        let (by, lookup) = if identifier.contains('@') {
            (LoginKey::Email, contact::email_key(identifier))
        } else if identifier.starts_with('+') {
            (LoginKey::Mobile, identifier.to_owned())
        } else {
            (LoginKey::MemberName, member_name::key(identifier))
        };
        accounts::find_for_login(tx, by, &lookup).await.map_err(db)
    }

    /// Counts a wrong login password against the account (locking it at the limit), logs
    /// it, and answers the refusal: INVALID_CREDENTIALS, or LOGIN_LOCKED at the limit.
    pub(super) async fn wrong_password(
        &self,
        tx: &mut PgConnection,
        account: &accounts::AccountRow,
        client_ip: &str,
        user_agent: &str,
    ) -> Status {
        let now = self.now();
        let failed = |count: i32| {
            NewEvent::new(account.account_id, EventType::LoginFailed, now)
                .client(client_ip, user_agent)
                .detail("failure_count", count)
        };
        let counted = async {
            Ok::<_, Status>(
                match self
                    .settings
                    .login_lockout
                    .fail(account.login_failure_count, now)
                {
                    AfterFailure::Counted { failures, .. } => {
                        accounts::set_login_failures(tx, account.account_id, failures, None)
                            .await
                            .map_err(db)?;
                        events::record(tx, failed(failures)).await.map_err(db)?;
                        self.invalid_credentials()
                    }
                    AfterFailure::Locked { until, failures } => {
                        // The count starts again after the lock.
                        accounts::set_login_failures(tx, account.account_id, 0, Some(until))
                            .await
                            .map_err(db)?;
                        events::record(tx, failed(failures)).await.map_err(db)?;
                        events::record(
                            tx,
                            NewEvent::new(account.account_id, EventType::LoginLocked, now)
                                .client(client_ip, user_agent)
                                .detail("lock_end_time", until.to_rfc3339()),
                        )
                        .await
                        .map_err(db)?;
                        self.login_locked(until, now)
                    }
                },
            )
        };
        counted.await.unwrap_or_else(|e| e)
    }

    /// The account `identifier` names, locked, when `password` is its password: INVALID_CREDENTIALS
    /// otherwise (the same answer, and the same time, for an unknown identifier), a wrong
    /// password counted towards the lock; LOGIN_LOCKED while locked (nothing checked).
    pub(super) async fn password_holder(
        &self,
        tx: &mut PgConnection,
        identifier: &str,
        password: &str,
        client_ip: &str,
        user_agent: &str,
    ) -> Result<accounts::AccountRow, Status> {
        let now = self.now();
        let account = self.account_named(tx, identifier).await?;
        let Some(account) = account else {
            // Spend the time a real check takes, so timing does not reveal accounts.
            let (password, dummy) = (password.to_owned(), self.dummy_password_hash.clone());
            self.hasher
                .run(move |h| h.verify_password(&password, &dummy))
                .await
                .map_err(internal)?;
            return Err(self.invalid_credentials());
        };
        if (self.settings.login_lockout)
            .remaining(account.login_locked_until, now)
            .is_some()
        {
            // The password is not even checked while locked.
            let until = account.login_locked_until.unwrap_or(now);
            return Err(self.login_locked(until, now));
        }
        let (password, stored) = (password.to_owned(), account.password_hash.clone());
        let matches = self
            .hasher
            .run(move |h| h.verify_password(&password, &stored))
            .await
            .map_err(internal)?;
        if !matches {
            return Err(self
                .wrong_password(tx, &account, client_ip, user_agent)
                .await);
        }
        Ok(account)
    }

    /// Starts the login failure count again after a successful sign-in.
    pub(super) async fn clear_login_failures(
        &self,
        tx: &mut PgConnection,
        account: &accounts::AccountRow,
    ) -> Result<(), Status> {
        if account.login_failure_count != 0 || account.login_locked_until.is_some() {
            accounts::set_login_failures(tx, account.account_id, 0, None)
                .await
                .map_err(db)?;
        }
        Ok(())
    }

    async fn login_in(
        &self,
        tx: &mut PgConnection,
        req: &pb::LoginRequest,
    ) -> Result<(pb::LoginResponse, Uuid), Status> {
        let now = self.now();
        let user_agent = text::truncate(&req.user_agent, 512);
        let account = self
            .password_holder(
                tx,
                &req.identifier,
                &req.password,
                &req.client_ip,
                &user_agent,
            )
            .await?;
        self.clear_login_failures(tx, &account).await?;
        let role = Role::parse(&account.role).ok_or_else(|| internal("stored role"))?;
        let session = SessionRow {
            session_id: Uuid::now_v7(),
            account_id: account.account_id,
            roles: account::roles(role, account.is_operator)
                .into_iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
            created_at: now,
            expires_at: now + self.settings.sessions.refresh_ttl,
            revoked_at: None,
        };
        store::insert_session(tx, &session).await.map_err(db)?;
        let (tokens, token_id) = self.issue(tx, &session, 0, now).await?;
        events::record(
            tx,
            NewEvent::new(account.account_id, EventType::LoginSucceeded, now)
                .actor(Some(account.account_id))
                .client(&req.client_ip, &user_agent)
                .detail("session_id", session.session_id),
        )
        .await
        .map_err(db)?;
        Ok((
            pb::LoginResponse {
                tokens: Some(tokens),
                account: Some(convert::account(&account)?),
            },
            token_id,
        ))
    }

    pub async fn refresh_token(
        &self,
        req: pb::RefreshTokenRequest,
    ) -> Result<pb::RefreshTokenResponse, Status> {
        let mut v = FieldViolations::new();
        v.request_id(&req.request_id);
        if req.refresh_token.is_empty() {
            v.add("refresh_token", "is required");
        }
        check_client(&mut v, &req.client_ip);
        v.finish_in(DOMAIN)?;

        let (mut tx, key) = match self
            .start::<_, pb::RefreshTokenResponse>("RefreshToken", &req.request_id, &req)
            .await?
        {
            Started::Replay(answer) => {
                let mut response = answer?;
                if let Some(pair) = response.tokens.as_mut() {
                    self.rederive(pair).await?;
                }
                return Ok(response);
            }
            Started::Fresh(tx, key) => (tx, key),
        };
        let result = self.refresh_in(&mut tx, &req).await;
        let stored = result.as_ref().ok().and_then(|(response, token_id)| {
            Some(pb::RefreshTokenResponse {
                tokens: Some(redacted(response.tokens.as_ref()?, *token_id)),
            })
        });
        outcome::finish(tx, key, result.map(|(r, _)| r), stored.as_ref()).await
    }

    async fn refresh_in(
        &self,
        tx: &mut PgConnection,
        req: &pb::RefreshTokenRequest,
    ) -> Result<(pb::RefreshTokenResponse, Uuid), Status> {
        let now = self.now();
        let token_id = self
            .secrets
            .refresh_token_id(&req.refresh_token)
            .ok_or_else(|| self.refresh_refused(reasons::REFRESH_TOKEN_INVALID))?;
        let (refresh, session) = store::get_refresh(tx, token_id, true)
            .await
            .map_err(db)?
            .ok_or_else(|| self.refresh_refused(reasons::REFRESH_TOKEN_INVALID))?;
        if let Err(refusal) = session::check_refresh(
            session.revoked_at.is_some(),
            refresh.used_at.is_some(),
            session.expires_at,
            now,
        ) {
            if refusal == RefreshRefusal::Reused {
                // Two parties hold this family; end it for both.
                store::revoke(
                    tx,
                    &[session.session_id],
                    reasons::REFRESH_TOKEN_REUSED,
                    now,
                )
                .await
                .map_err(db)?;
                events::record(
                    tx,
                    NewEvent::new(session.account_id, EventType::RefreshTokenReused, now)
                        .client(&req.client_ip, &text::truncate(&req.user_agent, 512))
                        .detail("session_id", session.session_id),
                )
                .await
                .map_err(db)?;
            }
            return Err(self.refresh_refused(refusal.reason()));
        }
        store::mark_used(tx, token_id, now).await.map_err(db)?;
        let (tokens, new_id) = self
            .issue(tx, &session, refresh.generation + 1, now)
            .await?;
        Ok((
            pb::RefreshTokenResponse {
                tokens: Some(tokens),
            },
            new_id,
        ))
    }

    pub async fn logout(
        &self,
        subject: Subject,
        req: pb::LogoutRequest,
    ) -> Result<pb::LogoutResponse, Status> {
        let mut v = FieldViolations::new();
        v.request_id(&req.request_id);
        if req.refresh_token.is_empty() {
            v.add("refresh_token", "is required");
        }
        v.finish_in(DOMAIN)?;

        let (mut tx, key) = match self.start("Logout", &req.request_id, &req).await? {
            Started::Replay(answer) => return answer,
            Started::Fresh(tx, key) => (tx, key),
        };
        let result = async {
            let now = self.now();
            let token_id = self
                .secrets
                .refresh_token_id(&req.refresh_token)
                .ok_or_else(|| self.refresh_refused(reasons::REFRESH_TOKEN_INVALID))?;
            // No row lock: revocation is a conditional update, and locking the presented
            // session before revoking all of them could deadlock two "log out everywhere"s.
            let (_, session) = store::get_refresh(&mut tx, token_id, false)
                .await
                .map_err(db)?
                .ok_or_else(|| self.refresh_refused(reasons::REFRESH_TOKEN_INVALID))?;
            self.authorize(&mut tx, subject, session.account_id).await?;
            let revoked = if req.all_sessions {
                store::revoke_all(&mut tx, session.account_id, "LOGOUT", now).await
            } else {
                store::revoke(&mut tx, &[session.session_id], "LOGOUT", now).await
            }
            .map_err(db)?;
            for session_id in &revoked {
                events::record(
                    &mut tx,
                    NewEvent::new(session.account_id, EventType::Logout, now)
                        .actor(subject.0.or(Some(session.account_id)))
                        .detail("session_id", session_id),
                )
                .await
                .map_err(db)?;
            }
            Ok(pb::LogoutResponse {
                revoked_session_count: i32::try_from(revoked.len()).unwrap_or(i32::MAX),
            })
        }
        .await;
        outcome::finish(tx, key, result, None).await
    }

    /// ListRevokedSessions: what edge polls to refuse a revoked session's access tokens.
    pub async fn list_revoked_sessions(
        &self,
        req: pb::ListRevokedSessionsRequest,
    ) -> Result<pb::ListRevokedSessionsResponse, Status> {
        const LIMIT: usize = 1000;
        let mut v = FieldViolations::new();
        let since = req
            .revoked_since
            .as_ref()
            .and_then(kuajing_platform::time::from_proto);
        if since.is_none() {
            v.add("revoked_since", "a valid timestamp is required");
        }
        let after = if req.after_session_id.is_empty() {
            None
        } else {
            v.uuid("after_session_id", &req.after_session_id)
        };
        v.finish_in(DOMAIN)?;
        let since = since.ok_or_else(|| internal("a checked field is missing"))?;
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let mut rows = store::revoked_since(&mut conn, since, after, LIMIT as i64 + 1)
            .await
            .map_err(db)?;
        let more = rows.len() > LIMIT;
        rows.truncate(LIMIT);
        Ok(pb::ListRevokedSessionsResponse {
            revoked_sessions: rows
                .into_iter()
                .map(|(id, at)| pb::RevokedSession {
                    session_id: id.to_string(),
                    revoke_time: Some(ts(at)),
                })
                .collect(),
            more,
        })
    }

    pub async fn list_verification_keys(
        &self,
        req: pb::ListVerificationKeysRequest,
    ) -> Result<pb::ListVerificationKeysResponse, Status> {
        let mut v = FieldViolations::new();
        let page = v.page(req.page.as_ref());
        v.finish_in(DOMAIN)?;
        let now = self.now();
        // A due rotation happens before the set is published, not only at the next login.
        self.keys.signing_key(now).await.map_err(internal)?;
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let mut rows = keys::published(
            &mut conn,
            now,
            page.after.map(|c| (c.time, c.id)),
            page.fetch_limit(),
        )
        .await
        .map_err(db)?;
        let page_response = page.finish(&mut rows, |r| Cursor {
            time: r.created_at,
            id: r.key_id,
        });
        let keys = rows
            .iter()
            .map(|r| pb::VerificationKey {
                kid: r.kid.clone(),
                kty: "OKP".to_owned(),
                crv: "Ed25519".to_owned(),
                alg: kuajing_platform::token::ALGORITHM.to_owned(),
                r#use: "sig".to_owned(),
                x: URL_SAFE_NO_PAD.encode(&r.public_key),
                signing: r.state == "SIGNING",
                create_time: Some(ts(r.created_at)),
                not_after: convert::opt_ts(r.not_after.filter(|_| r.state == "RETIRED")),
            })
            .collect();
        Ok(pb::ListVerificationKeysResponse {
            keys,
            page: Some(page_response),
            max_cache_age: Some(prost_types::Duration {
                seconds: self.settings.keys_max_cache_age.num_seconds(),
                nanos: 0,
            }),
        })
    }
}
