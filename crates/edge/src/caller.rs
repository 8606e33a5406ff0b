//! Admission of a request: its client address, the per-IP bucket, the access token (as
//! the RPC requires), the onboarding and per-caller buckets, and the client's deadline,
//! giving the [`Call`] every handler works with.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use tonic::Status;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use uuid::Uuid;

use crate::Edge;
use crate::domain::access;
use crate::domain::client_ip;
use crate::domain::deadline;
use crate::domain::request_id;
use crate::domain::rpc::{Budget, Rpc, TokenUse};
use crate::domain::token::{self, Person, Role};
use crate::errors;
use crate::upstream::{Outbound, TRACE_HEADERS};

/// One admitted request.
#[derive(Clone, Debug)]
pub struct Call {
    /// The RPC.
    pub rpc: &'static Rpc,
    /// The authenticated caller, when a token was required or (optionally) sent.
    pub person: Option<Person>,
    /// The client's address.
    pub client_ip: Option<IpAddr>,
    /// The client's user agent (for the security log).
    pub user_agent: String,
    deadline: Option<Instant>,
    trace: Vec<(AsciiMetadataKey, AsciiMetadataValue)>,
    budget: Duration,
    retries: u32,
}

impl Call {
    /// The authenticated caller (an RPC that requires a token always has one).
    pub fn me(&self) -> Result<&Person, Status> {
        self.person
            .as_ref()
            .ok_or_else(|| errors::internal(format!("{} ran without a caller", self.rpc.name)))
    }

    /// The caller's account id.
    pub fn my_id(&self) -> Result<Uuid, Status> {
        self.me().map(|p| p.account_id)
    }

    /// Refuses unless the caller holds `role`.
    pub fn require(&self, role: Role) -> Result<(), Status> {
        access::require(self.me()?.roles, role).map_err(errors::refused)
    }

    /// The downstream request id of `step` for the client's `request_id`.
    pub fn request_id(&self, request_id: Uuid, step: &str) -> String {
        request_id::derive(
            self.person.as_ref().map(|p| p.account_id),
            self.rpc.name,
            request_id,
            step,
        )
        .to_string()
    }

    /// When the client stops waiting, if it said.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// A downstream call acting for the caller (no subject before a session).
    pub fn out(&self) -> Outbound<'_> {
        Outbound {
            deadline: self.deadline,
            budget: self.budget,
            subject: self.person.as_ref().map(|p| p.account_id),
            trace: &self.trace,
            retries: self.retries,
        }
    }

    /// A downstream call edge makes on its own account (no `kj-subject`).
    pub fn anonymous(&self) -> Outbound<'_> {
        Outbound {
            subject: None,
            ..self.out()
        }
    }
}

fn header<'a>(metadata: &'a MetadataMap, name: &str) -> Option<&'a str> {
    metadata.get(name).and_then(|v| v.to_str().ok())
}

impl Edge {
    /// Admits `request` for `rpc`, or answers the refusal.
    pub async fn begin<T>(
        &self,
        request: &tonic::Request<T>,
        rpc: &'static Rpc,
    ) -> Result<Call, Status> {
        let metadata = request.metadata();
        // Several header lines are one list, in order (a proxy may add a line of its own).
        let forwarded: Vec<&str> = metadata
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let forwarded = (!forwarded.is_empty()).then(|| forwarded.join(","));
        let client_ip = client_ip::client_ip(
            request.remote_addr().map(|a| a.ip()),
            forwarded.as_deref(),
            &self.settings.trusted_proxies,
        );
        self.limiter.ip(client_ip).await?;

        let authorization = header(metadata, "authorization");
        let person = match (rpc.token, authorization) {
            (TokenUse::Ignored, _) | (TokenUse::Optional, None) => None,
            (TokenUse::Optional, Some(value)) | (TokenUse::Required, Some(value)) => {
                Some(self.authenticate(value).await?)
            }
            (TokenUse::Required, None) => {
                return Err(errors::unauthenticated(&token::TokenRefusal::Missing));
            }
        };
        match &person {
            Some(p) => self.limiter.caller(p.account_id, rpc.money).await?,
            None if rpc.onboarding => self.limiter.onboarding(client_ip).await?,
            None => {}
        }

        let deadline = match header(metadata, "grpc-timeout").and_then(deadline::parse_grpc_timeout)
        {
            Some(left) if left <= deadline::MARGIN => return Err(errors::client_deadline()),
            Some(left) => Some(Instant::now() + left),
            None => None,
        };
        let trace = TRACE_HEADERS
            .iter()
            .filter_map(|name| {
                let value = metadata.get(*name)?.clone();
                Some((AsciiMetadataKey::from_static(name), value))
            })
            .collect();
        Ok(Call {
            rpc,
            person,
            client_ip,
            user_agent: header(metadata, "user-agent")
                .unwrap_or_default()
                .to_owned(),
            deadline,
            trace,
            budget: match rpc.budget {
                Budget::Call => self.settings.call_budget,
                Budget::Checkout => self.settings.checkout_budget,
            },
            retries: self.settings.call_retries,
        })
    }

    async fn authenticate(&self, authorization: &str) -> Result<Person, Status> {
        let token = token::bearer(Some(authorization)).map_err(|r| errors::unauthenticated(&r))?;
        let person = self
            .keys
            .person(
                &self.upstream,
                token,
                self.clock.now(),
                self.settings.token_leeway,
            )
            .await?;
        if self.revocations.is_revoked(&person.session_id) {
            return Err(errors::unauthenticated(&token::TokenRefusal::Revoked));
        }
        Ok(person)
    }
}
