//! The operator audit log, one way for every service: each call an operator's or
//! auditor's token makes (see [`crate::auth`]) is written to the service's own
//! `operator_actions` table before it runs — who, what, when, the request with secrets
//! redacted — and again when it is answered, with the gRPC status code. A call whose
//! record cannot be written is not run. The table is append-only: a trigger refuses
//! UPDATE, DELETE and TRUNCATE, and the runtime role, not owning the table, cannot drop
//! the trigger. `kuajing.audit.v1.AuditService` lists it; every service serves it.

use std::sync::OnceLock;
use std::task::{Context, Poll};

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use http_body_util::BodyExt as _;
use kuajing_proto::audit::v1 as pb;
use prost_reflect::{DescriptorPool, DynamicMessage};
use sqlx::PgPool;
use tonic::Status;
use uuid::Uuid;

use crate::auth::{AUDITOR, Caller, NamedPerson, OPERATOR};
use crate::error::{ErrorDomain, FieldViolations};
use crate::page::{Cursor, Page};

/// The table and its append-only rule, applied with the platform's own tables
/// ([`crate::db::migrate`]) in every service's schema.
pub const TABLE_SQL: &str = include_str!("../sql/audit.sql");

/// The largest request the log reads (tonic's default decoding limit).
const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// JSON names of request fields never written to the log.
const SECRET_FIELDS: &[&str] = &[
    "password",
    "newPassword",
    "currentPassword",
    "pin",
    "paymentPin",
    "newPin",
    "code",
    "verificationCode",
    "totpCode",
    "documentNumber",
    "refreshToken",
    "accessToken",
    "token",
    "secret",
];

/// Every contract's descriptors, decoded once.
pub fn descriptors() -> Option<&'static DescriptorPool> {
    static POOL: OnceLock<Option<DescriptorPool>> = OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(kuajing_proto::FILE_DESCRIPTOR_SET).ok())
        .as_ref()
}

/// The request of `path` (`/package.Service/Method`) in `frame` (one gRPC message frame)
/// as proto3 JSON with [`SECRET_FIELDS`] redacted; what cannot be decoded says so.
pub fn describe(path: &str, frame: &[u8]) -> serde_json::Value {
    let undecoded = |why: &str| serde_json::json!({ "undecoded": why });
    let Some((service, method)) = path.trim_start_matches('/').split_once('/') else {
        return undecoded("not a gRPC path");
    };
    let Some(input) = descriptors()
        .and_then(|p| p.get_service_by_name(service))
        .and_then(|s| s.methods().find(|m| m.name() == method))
        .map(|m| m.input())
    else {
        return undecoded("unknown method");
    };
    // A frame: a compression flag, a big-endian length, the message.
    let message = match frame {
        [0, l0, l1, l2, l3, rest @ ..] => {
            let len = u32::from_be_bytes([*l0, *l1, *l2, *l3]);
            match usize::try_from(len).ok().and_then(|n| rest.get(..n)) {
                Some(m) => m,
                None => return undecoded("a truncated frame"),
            }
        }
        [1, ..] => return undecoded("a compressed message"),
        _ => return undecoded("not one gRPC frame"),
    };
    match DynamicMessage::decode(input, message) {
        Ok(m) => {
            let mut json = serde_json::to_value(&m).unwrap_or(serde_json::Value::Null);
            redact(&mut json);
            json
        }
        Err(_) => undecoded("not the method's request message"),
    }
}

/// Redacts [`SECRET_FIELDS`], and writes NUL characters (which Postgres's `jsonb` cannot
/// hold, and bad input may carry) as U+FFFD.
fn redact(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) if s.contains('\0') => *s = s.replace('\0', "\u{FFFD}"),
        serde_json::Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut v) in entries {
                if SECRET_FIELDS.contains(&key.as_str()) {
                    v = serde_json::Value::String("[redacted]".to_owned());
                } else {
                    redact(&mut v);
                }
                map.insert(key.replace('\0', "\u{FFFD}"), v);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// The tower layer that records people's calls (inside the credential check, which puts
/// the [`Caller`] on the request).
#[derive(Clone)]
pub struct RecordOperators {
    pool: PgPool,
}

impl RecordOperators {
    /// Records into `pool`'s schema.
    pub fn new(pool: PgPool) -> Self {
        RecordOperators { pool }
    }
}

impl<S> tower::Layer<S> for RecordOperators {
    type Service = RecordOperatorsService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RecordOperatorsService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`RecordOperators`] wraps around.
#[derive(Clone)]
pub struct RecordOperatorsService<S> {
    inner: S,
    layer: RecordOperators,
}

type HttpRequest = http::Request<tonic::body::Body>;
type HttpResponse = http::Response<tonic::body::Body>;

impl<S> tower::Service<HttpRequest> for RecordOperatorsService<S>
where
    S: tower::Service<HttpRequest, Response = HttpResponse> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future =
        futures_util::future::Either<S::Future, BoxFuture<'static, Result<HttpResponse, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: HttpRequest) -> Self::Future {
        let Some(caller) = request
            .extensions()
            .get::<Caller>()
            .filter(|c| c.service == OPERATOR || c.service == AUDITOR)
            .cloned()
        else {
            return futures_util::future::Either::Left(self.inner.call(request));
        };
        // The ready service answers this call; a fresh clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        futures_util::future::Either::Right(Box::pin(async move {
            let (parts, body) = request.into_parts();
            // At most what tonic would decode: an operator cannot make the log buffer more.
            let bytes = match http_body_util::Limited::new(body, MAX_REQUEST_BYTES)
                .collect()
                .await
            {
                Ok(collected) => collected.to_bytes(),
                Err(_) => {
                    return Ok(Status::resource_exhausted(
                        "the request is larger than a service decodes (4 MiB)",
                    )
                    .into_http());
                }
            };
            let path = parts.uri.path().to_owned();
            // Accountable: the person the token names; `kj-subject` is kept beside it.
            let person = parts.extensions.get::<NamedPerson>().map(|p| p.0);
            let action = Action {
                action_id: Uuid::now_v7(),
                caller: caller.service.clone(),
                person,
                subject: caller.subject.filter(|s| Some(*s) != person),
                method: path.clone(),
            };
            if let Err(e) = action
                .requested(&layer.pool, describe(&path, &bytes), Utc::now())
                .await
            {
                // Not run: UNAVAILABLE while the database is unreachable, INTERNAL otherwise.
                tracing::error!(error = %e, method = %path, "operator action not recorded: refused");
                return Ok(crate::error::internal(e).into_http());
            }
            let request = http::Request::from_parts(
                parts,
                tonic::body::Body::new(http_body_util::Full::new(bytes)),
            );
            // The call and its answer's record run to the end even if the client goes away
            // meanwhile: a call that ran is never left looking as if it had not.
            let recorded = tokio::spawn(async move {
                let response = inner.call(request).await?;
                // Refusals travel in the headers ("trailers only"); an answer with a message
                // carries its status in the trailers, and every RPC an operator calls is
                // unary, so no status in the headers is OK.
                let code = response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok()?.parse::<i32>().ok())
                    .unwrap_or(0);
                if let Err(e) = action.answered(&layer.pool, code, Utc::now()).await {
                    tracing::error!(error = %e, method = %path, "operator answer not recorded");
                }
                Ok(response)
            });
            match recorded.await {
                Ok(answer) => answer,
                Err(e) => Ok(crate::error::internal(e).into_http()),
            }
        }))
    }
}

/// One call being recorded.
struct Action {
    action_id: Uuid,
    caller: String,
    person: Option<Uuid>,
    subject: Option<Uuid>,
    method: String,
}

impl Action {
    async fn requested(
        &self,
        pool: &PgPool,
        request: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        self.insert(pool, "REQUESTED", Some(request), None, now)
            .await
    }

    async fn answered(
        &self,
        pool: &PgPool,
        code: i32,
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        self.insert(pool, "ANSWERED", None, Some(code), now).await
    }

    async fn insert(
        &self,
        pool: &PgPool,
        phase: &str,
        request: Option<serde_json::Value>,
        code: Option<i32>,
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO operator_actions
                 (entry_id, action_id, phase, at, caller, person, method, request, code, subject)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(Uuid::now_v7())
        .bind(self.action_id)
        .bind(phase)
        .bind(now)
        .bind(&self.caller)
        .bind(self.person)
        .bind(&self.method)
        .bind(request.map(sqlx::types::Json))
        .bind(code)
        .bind(self.subject)
        .execute(pool)
        .await
        .map(|_| ())
    }
}

/// `kuajing.audit.v1.AuditService` over one service's log.
#[derive(Clone)]
pub struct AuditLog {
    pool: PgPool,
    service: String,
    domain: ErrorDomain,
}

impl AuditLog {
    /// The log of `service` (its short name, e.g. "wallet") in `pool`'s schema.
    pub fn new(pool: PgPool, service: &str, domain: ErrorDomain) -> Self {
        AuditLog {
            pool,
            service: service.to_owned(),
            domain,
        }
    }

    /// The gRPC service.
    pub fn server(self) -> pb::audit_service_server::AuditServiceServer<AuditLog> {
        pb::audit_service_server::AuditServiceServer::new(self)
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    action_id: Uuid,
    at: DateTime<Utc>,
    caller: String,
    person: Option<Uuid>,
    subject: Option<Uuid>,
    method: String,
    request: Option<sqlx::types::Json<serde_json::Value>>,
    code: Option<i32>,
    answered_at: Option<DateTime<Utc>>,
}

#[tonic::async_trait]
impl pb::audit_service_server::AuditService for AuditLog {
    async fn list_operator_actions(
        &self,
        request: tonic::Request<pb::ListOperatorActionsRequest>,
    ) -> Result<tonic::Response<pb::ListOperatorActionsResponse>, Status> {
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let person = v
            .optional_uuid("operator_account_id", &req.operator_account_id)
            .flatten();
        let (from, until) = v.time_range("time_range", req.time_range.as_ref());
        let page = Page::from_proto("page", req.page.as_ref(), &mut v);
        v.finish()?;
        let (after_time, after_id) = page
            .after
            .map(|c| (Some(c.time), Some(c.id)))
            .unwrap_or_default();
        let mut rows: Vec<Row> = sqlx::query_as(
            "SELECT r.action_id, r.at, r.caller, r.person, r.subject, r.method, r.request,
                    a.code, a.at AS answered_at
               FROM operator_actions r
               LEFT JOIN operator_actions a
                 ON a.action_id = r.action_id AND a.phase = 'ANSWERED'
              WHERE r.phase = 'REQUESTED'
                AND ($1::uuid IS NULL OR r.person = $1)
                AND ($2::timestamptz IS NULL OR r.at >= $2)
                AND ($3::timestamptz IS NULL OR r.at < $3)
                AND ($4::timestamptz IS NULL OR (r.at, r.action_id) > ($4, $5))
              ORDER BY r.at, r.action_id
              LIMIT $6",
        )
        .bind(person)
        .bind(from)
        .bind(until)
        .bind(after_time)
        .bind(after_id)
        .bind(page.fetch_limit())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.domain.database(e))?;
        let page = page.finish(&mut rows, |r| Cursor {
            time: r.at,
            id: r.action_id,
        });
        let actions = rows
            .into_iter()
            .map(|r| pb::OperatorAction {
                action_id: r.action_id.to_string(),
                request_time: Some(crate::time::to_proto(r.at)),
                caller: r.caller,
                operator_account_id: r.person.map(|p| p.to_string()).unwrap_or_default(),
                subject_account_id: r.subject.map(|p| p.to_string()).unwrap_or_default(),
                service: self.service.clone(),
                method: r.method,
                request: r.request.and_then(|j| to_struct(j.0)),
                answer_code: r.code,
                answer_time: crate::time::opt_to_proto(r.answered_at),
            })
            .collect();
        Ok(tonic::Response::new(pb::ListOperatorActionsResponse {
            actions,
            page: Some(page),
        }))
    }
}

/// A JSON object as a `google.protobuf.Struct` (`None` for anything else).
fn to_struct(json: serde_json::Value) -> Option<prost_types::Struct> {
    match to_value(json).kind {
        Some(prost_types::value::Kind::StructValue(s)) => Some(s),
        _ => None,
    }
}

fn to_value(json: serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match json {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(b),
        // JSON numbers here are small counts and enum numbers; proto3 JSON writes 64-bit
        // integers and money as strings, which stay strings.
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Kind::StringValue(i.to_string()),
            None => Kind::StringValue(n.to_string()),
        },
        serde_json::Value::String(s) => Kind::StringValue(s),
        serde_json::Value::Array(items) => Kind::ListValue(prost_types::ListValue {
            values: items.into_iter().map(to_value).collect(),
        }),
        serde_json::Value::Object(map) => Kind::StructValue(prost_types::Struct {
            fields: map.into_iter().map(|(k, v)| (k, to_value(v))).collect(),
        }),
    };
    prost_types::Value { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(message: &impl prost::Message) -> Vec<u8> {
        let body = message.encode_to_vec();
        let mut out = vec![0];
        out.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn requests_are_described_without_their_secrets() {
        let login = kuajing_proto::identity::v1::LoginRequest {
            request_id: "r-1".to_owned(),
            identifier: "ops_anna".to_owned(),
            password: "hunter2-hunter2".to_owned(),
            ..Default::default()
        };
        let json = describe("/kuajing.identity.v1.IdentityService/Login", &frame(&login));
        assert_eq!(json["identifier"], "ops_anna");
        assert_eq!(json["password"], "[redacted]");
        let nul = kuajing_proto::identity::v1::LoginRequest {
            identifier: "a\0b".to_owned(),
            ..Default::default()
        };
        let json = describe("/kuajing.identity.v1.IdentityService/Login", &frame(&nul));
        assert_eq!(json["identifier"], "a\u{FFFD}b");
        assert!(!json.to_string().contains("hunter2"));
        assert_eq!(
            describe("/kuajing.identity.v1.IdentityService/Nope", &frame(&login))["undecoded"],
            "unknown method"
        );
        let mut cut = frame(&login);
        cut.truncate(8);
        assert_eq!(
            describe("/kuajing.identity.v1.IdentityService/Login", &cut)["undecoded"],
            "a truncated frame"
        );
    }

    #[test]
    fn json_becomes_a_struct() {
        let s = to_struct(serde_json::json!({"a": [1, "b", null], "c": {"d": true}})).unwrap();
        assert_eq!(s.fields.len(), 2);
        assert!(to_struct(serde_json::json!([1])).is_none());
    }
}
