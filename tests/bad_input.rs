//! The bad-input sweep: every RPC of every internal service, found in the contracts'
//! descriptors (the same set reflection serves), is sent empty and malformed requests —
//! oversized strings and lists, negative, overflowing and over-scale amounts, unknown
//! currencies and enum values, malformed ids, SQL and control characters. Every answer must
//! be a defined refusal (never INTERNAL or UNKNOWN), no service may die, and no table may
//! change. The same sweep runs through edge's public API with people's access tokens.

use std::collections::BTreeMap;

use bytes::{Buf, BufMut};
use kuajing_testkit::TestPlatform;
use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value,
};
use sqlx::postgres::PgPoolOptions;
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_types::StatusExt;

/// Sends and receives raw protobuf bytes: the sweep builds requests from descriptors.
#[derive(Clone, Copy, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

const MIB: usize = 1024 * 1024;

/// Bad values for one field (the first string field of a method also gets 1 MiB, the
/// first list 10,000 items: enough to prove the limits without moving gigabytes).
fn bad_values(field: &FieldDescriptor, big: bool) -> Vec<Value> {
    let list = |v: Value, n: usize| Value::List(vec![v; n]);
    if field.is_map() {
        return Vec::new();
    }
    let scalars: Vec<Value> = match field.kind() {
        Kind::String => {
            let mut v = vec![
                Value::String("'; DROP TABLE wallets; --".into()),
                Value::String("\u{0}\u{1b}[31m\r\n\u{7f}".into()),
                Value::String("not-a-uuid".into()),
                Value::String("-1".into()),
                Value::String("99999999999999999999999999999999.999".into()),
                Value::String("XXX".into()),
            ];
            if big {
                v.push(Value::String("x".repeat(MIB)));
            }
            v
        }
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            vec![Value::I32(-1), Value::I32(i32::MAX), Value::I32(i32::MIN)]
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            vec![Value::I64(-1), Value::I64(i64::MAX), Value::I64(i64::MIN)]
        }
        Kind::Uint32 | Kind::Fixed32 => vec![Value::U32(u32::MAX)],
        Kind::Uint64 | Kind::Fixed64 => vec![Value::U64(u64::MAX)],
        Kind::Bool => vec![Value::Bool(true)],
        Kind::Enum(_) => vec![Value::EnumNumber(999), Value::EnumNumber(-1)],
        Kind::Bytes => vec![Value::Bytes(vec![0xff; 64].into())],
        Kind::Message(m) => message_values(&m),
        Kind::Double | Kind::Float => Vec::new(),
    };
    if field.is_list() {
        let mut out: Vec<Value> = scalars.into_iter().take(2).map(|v| list(v, 3)).collect();
        if big && let Some(v) = default_of(field) {
            out.push(list(v, 10_000));
        }
        out
    } else {
        scalars
    }
}

fn default_of(field: &FieldDescriptor) -> Option<Value> {
    Some(match field.kind() {
        Kind::String => Value::String("x".into()),
        Kind::Message(m) => Value::Message(DynamicMessage::new(m)),
        Kind::Enum(_) => Value::EnumNumber(1),
        Kind::Int32 => Value::I32(1),
        _ => return None,
    })
}

/// Bad messages for a message-typed field: Money variants, Timestamps out of range, and
/// the empty message.
fn message_values(m: &MessageDescriptor) -> Vec<Value> {
    let mut out = vec![Value::Message(DynamicMessage::new(m.clone()))];
    match m.full_name() {
        "kuajing.type.v1.Money" => {
            for (c, a) in [
                ("USD", "-1.00"),
                ("USD", "1e999"),
                ("USD", "99999999999999999999999999999"),
                ("USD", "1.001"),
                ("JPY", "0.5"),
                ("XXX", "1"),
                ("usd", "1"),
                ("", ""),
            ] {
                let mut msg = DynamicMessage::new(m.clone());
                msg.set_field_by_name("currency_code", Value::String(c.into()));
                msg.set_field_by_name("amount", Value::String(a.into()));
                out.push(Value::Message(msg));
            }
        }
        "google.protobuf.Timestamp" => {
            let mut msg = DynamicMessage::new(m.clone());
            msg.set_field_by_name("seconds", Value::I64(i64::MAX));
            msg.set_field_by_name("nanos", Value::I32(-5));
            out.push(Value::Message(msg));
        }
        "kuajing.type.v1.PageRequest" => {
            let mut msg = DynamicMessage::new(m.clone());
            msg.set_field_by_name("page_size", Value::I32(-1));
            msg.set_field_by_name("page_token", Value::String("garbage".into()));
            out.push(Value::Message(msg));
        }
        _ => {}
    }
    out
}

/// Every probe for one method's input type.
fn probes(input: &MessageDescriptor) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![(
        "{}".to_owned(),
        DynamicMessage::new(input.clone()).encode_to_vec(),
    )];
    let mut big_string = true;
    let mut big_list = true;
    for field in input.fields() {
        let big = if field.is_list() {
            std::mem::replace(&mut big_list, false)
        } else if field.kind() == Kind::String {
            std::mem::replace(&mut big_string, false)
        } else {
            false
        };
        for value in bad_values(&field, big) {
            let mut msg = DynamicMessage::new(input.clone());
            // A request_id stays valid, so mutating RPCs reach their validation of the rest.
            if let Some(rid) = input.get_field_by_name("request_id")
                && rid.name() != field.name()
            {
                msg.set_field(&rid, Value::String(uuid::Uuid::now_v7().to_string()));
            }
            msg.set_field(&field, value);
            out.push((field.name().to_owned(), msg.encode_to_vec()));
        }
    }
    out
}

/// Row counts of every table of the six schemas but the idempotency records: identity
/// records the answer to a well-formed request it refuses (a wrong code, an unknown refresh
/// token) so that a retry replays the refusal instead of counting a second attempt; those
/// records are answers, not effects.
/// (The operator audit log records every operator call, refused ones too: not counted.)
async fn snapshot(pool: &sqlx::PgPool) -> BTreeMap<String, i64> {
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_schema::text, table_name::text FROM information_schema.tables
         WHERE table_schema IN ('identity','wallet','authz','orders','fx','edge') AND table_type = 'BASE TABLE'
           AND table_name NOT IN ('idempotency_records', 'operator_actions')",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut out = BTreeMap::new();
    for (schema, table) in tables {
        let sql = format!("SELECT count(*) FROM {schema}.\"{table}\"");
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(pool)
            .await
            .unwrap();
        out.insert(format!("{schema}.{table}"), n);
    }
    out
}

/// What a sweep found.
#[derive(Default)]
struct Sweep {
    sent: usize,
    bad: Vec<String>,
    codes: BTreeMap<String, usize>,
}

impl Sweep {
    /// Records one answer: a defined refusal is a rich status, an `ErrorInfo` with a
    /// stable reason, and for `INVALID_ARGUMENT` the `BadRequest` field violations too.
    fn record(&mut self, path: &str, what: &str, answer: &Answer) {
        let code = answer.code();
        self.sent += 1;
        *self.codes.entry(format!("{code:?}")).or_default() += 1;
        if matches!(
            code,
            Code::Internal
                | Code::Unknown
                | Code::DataLoss
                | Code::Unimplemented
                | Code::Unavailable
        ) {
            self.bad.push(format!("{path} {what}: {code:?}"));
            return;
        }
        let Err(status) = answer else {
            return;
        };
        if status
            .get_details_error_info()
            .is_none_or(|info| info.reason.is_empty())
        {
            self.bad.push(format!(
                "{path} {what}: {code:?} without an ErrorInfo reason ({})",
                status.message()
            ));
        }
        if code == Code::InvalidArgument
            && status
                .get_details_bad_request()
                .is_none_or(|b| b.field_violations.is_empty())
        {
            self.bad.push(format!(
                "{path} {what}: INVALID_ARGUMENT without field violations ({})",
                status.message()
            ));
        }
    }
}

/// What a probe got back: the answer's bytes, or the refusal.
type Answer = Result<(), tonic::Status>;

trait AnswerCode {
    fn code(&self) -> Code;
}

impl AnswerCode for Answer {
    fn code(&self) -> Code {
        self.as_ref()
            .err()
            .map(tonic::Status::code)
            .unwrap_or(Code::Ok)
    }
}

/// Sends one probe; `bearer` is a person's access token (for edge).
async fn probe(
    channel: kuajing_testkit::Channel,
    path: &http::uri::PathAndQuery,
    body: Vec<u8>,
    bearer: Option<&str>,
) -> anyhow::Result<Answer> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await?;
    let mut request = tonic::Request::new(body);
    if let Some(token) = bearer {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
    }
    Ok(grpc.unary(request, path.clone(), Raw).await.map(|_| ()))
}

/// Every service still answers SERVING.
async fn all_serving(tp: &TestPlatform) -> anyhow::Result<()> {
    for running in tp.platform().services() {
        let status = tp
            .health(running.def.name)
            .check(HealthCheckRequest {
                service: running.def.grpc_service.to_owned(),
            })
            .await?
            .into_inner()
            .status;
        assert_eq!(
            status,
            ServingStatus::Serving as i32,
            "{} still serves",
            running.def.name
        );
    }
    Ok(())
}

/// Asserts the sweep's verdict: enough requests, only defined refusals, no table changed.
fn verdict(
    name: &str,
    sweep: &Sweep,
    min: usize,
    before: &BTreeMap<String, i64>,
    after: &BTreeMap<String, i64>,
) {
    let changed: Vec<String> = after
        .iter()
        .filter(|(t, n)| before.get(*t) != Some(n))
        .map(|(t, n)| format!("{t}: {:?} -> {n}", before.get(t)))
        .collect();
    assert!(sweep.sent > min, "the {name} sweep sent {}", sweep.sent);
    assert!(
        sweep.bad.is_empty(),
        "{} of {} answers were not defined refusals:\n{}",
        sweep.bad.len(),
        sweep.sent,
        sweep.bad.join("\n")
    );
    assert!(changed.is_empty(), "tables changed: {changed:?}");
    eprintln!(
        "{name} bad-input sweep: {} requests, answers {:?}",
        sweep.sent, sweep.codes
    );
}

/// The admin pool, the contracts' descriptors and the tables' row counts before a sweep.
async fn baseline(
    tp: &TestPlatform,
) -> anyhow::Result<(sqlx::PgPool, DescriptorPool, BTreeMap<String, i64>)> {
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(tp.db().admin_options())
        .await?;
    let descriptors = DescriptorPool::decode(kuajing_proto::FILE_DESCRIPTOR_SET)?;
    let before = snapshot(&pool).await;
    Ok((pool, descriptors, before))
}

/// After a sweep: every service still serves, and the verdict holds.
async fn conclude(
    tp: TestPlatform,
    pool: sqlx::PgPool,
    name: &str,
    sweep: &Sweep,
    min: usize,
    before: &BTreeMap<String, i64>,
) -> anyhow::Result<()> {
    all_serving(&tp).await?;
    let after = snapshot(&pool).await;
    verdict(name, sweep, min, before, &after);
    pool.close().await;
    tp.stop().await
}

#[tokio::test]
async fn every_internal_rpc_refuses_bad_input_cleanly() -> anyhow::Result<()> {
    // The sandbox's simulated bank and mailbox are swept too.
    let tp = TestPlatform::start_with_sandbox(kuajing::sandbox::Settlement::Manual).await?;
    let (pool, descriptors, before) = baseline(&tp).await?;

    let mut sweep = Sweep::default();
    for service in descriptors.services().filter(|s| {
        s.full_name().starts_with("kuajing.") && !s.full_name().starts_with("kuajing.edge.")
    }) {
        let short = match service.full_name().split('.').nth(1).unwrap_or_default() {
            // Every service behind the credential check serves the audit log; one will do.
            "audit" => "fx".to_owned(),
            s => s.to_owned(),
        };
        for method in service.methods() {
            let path = format!("/{}/{}", service.full_name(), method.name());
            let path: http::uri::PathAndQuery = path.parse()?;
            for (what, body) in probes(&method.input()) {
                let answer = probe(tp.channel(&short), &path, body, None).await?;
                sweep.record(path.as_str(), &what, &answer);
            }
        }
    }
    conclude(tp, pool, "internal", &sweep, 1000, &before).await
}

/// The same sweep through edge's public API, as a signed-in buyer (or, for the RPCs a
/// buyer may not call, a signed-in supplier) and as nobody.
#[tokio::test]
async fn every_edge_rpc_refuses_bad_input_cleanly() -> anyhow::Result<()> {
    // Edge's rate limits raised, so that every probe reaches the RPC's own checks (the
    // limits have tests of their own).
    let tp = TestPlatform::start_with_options(&[("edge", crate::support::EDGE_UNLIMITED)]).await?;
    let ops = crate::support::operator_account(&tp).await;
    let buyer = crate::support::onboard(&tp, &ops).await;
    let supplier = crate::support::supplier(&tp, &ops, false, true).await;
    let (buyer, supplier) = (
        crate::support::sign_in(&tp, &buyer.member_name).await,
        crate::support::sign_in(&tp, &supplier.member_name).await,
    );
    let (pool, descriptors, before) = baseline(&tp).await?;

    let mut sweep = Sweep::default();
    let edge = descriptors
        .get_service_by_name("kuajing.edge.v1.EdgeService")
        .expect("the edge contract");
    for method in edge.methods() {
        let path: http::uri::PathAndQuery =
            format!("/{}/{}", edge.full_name(), method.name()).parse()?;
        let empty = DynamicMessage::new(method.input()).encode_to_vec();
        // Without a token: a defined refusal (or, for the public RPCs, validation).
        let answer = probe(tp.channel("edge"), &path, empty.clone(), None).await?;
        sweep.record(path.as_str(), "{} without a token", &answer);
        let as_buyer = probe(tp.channel("edge"), &path, empty, Some(&buyer)).await?;
        let token = if as_buyer.code() == Code::PermissionDenied {
            &supplier
        } else {
            &buyer
        };
        for (what, body) in probes(&method.input()) {
            let answer = probe(tp.channel("edge"), &path, body, Some(token)).await?;
            sweep.record(path.as_str(), &what, &answer);
        }
    }
    conclude(tp, pool, "edge", &sweep, 500, &before).await
}

/// A message past the 4 MiB a service decodes is refused before any service code runs
/// (tonic answers OUT_OF_RANGE), for a public and an internal service alike; both keep
/// serving and nothing is written.
#[tokio::test]
async fn a_message_over_the_size_limit_is_refused_and_the_service_keeps_serving()
-> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let (pool, _, before) = baseline(&tp).await?;
    // Field 1 (every request's request_id) holding 5 MiB.
    let mut body = Vec::new();
    prost::encoding::encode_key(1, prost::encoding::WireType::LengthDelimited, &mut body);
    prost::encoding::encode_varint(5 << 20, &mut body);
    body.resize(body.len() + (5 << 20), b'a');
    for (service, path) in [
        ("edge", "/kuajing.edge.v1.EdgeService/RegisterAccount"),
        ("wallet", "/kuajing.wallet.v1.WalletService/CreateTransfer"),
    ] {
        let path: http::uri::PathAndQuery = path.parse()?;
        let answer = probe(tp.channel(service), &path, body.clone(), None).await?;
        assert_eq!(answer.code(), Code::OutOfRange, "{service}: {answer:?}");
    }
    all_serving(&tp).await?;
    let after = snapshot(&pool).await;
    assert_eq!(before, after, "nothing written");
    pool.close().await;
    tp.stop().await
}
