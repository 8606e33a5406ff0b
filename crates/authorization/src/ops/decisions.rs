//! Payment decisions: DecidePayment and ListDecisions.
//!
//! A decision first answers a replay from its idempotency record. Then, outside any
//! transaction, it judges the mandate (checks 1-4, a plain read) and, if that passes, asks
//! identity (the binding, the supplier's admission) and fx (the USD equivalent) at once and
//! judges checks 5-8. Finally one short transaction takes a share lock on the mandate (a
//! revocation that committed first is seen; one that comes later waits), re-judges checks
//! 1-4, reserves the USD equivalent against the day with a single conditional upsert of
//! the paying wallet's day row (concurrent decisions, of every mandate on the wallet,
//! serialise on that row and never pass the daily limit), and records the decision, its
//! reservation and the idempotency record.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use kuajing_platform::error::internal;
use kuajing_platform::page::{Cursor, Page};
use kuajing_platform::{Currency, FieldViolations, Money, idempotency, time};
use kuajing_proto::authorization::v1::{
    DecidePaymentRequest, DecidePaymentResponse, Decision, DecisionOutcome, ListDecisionsRequest,
    ListDecisionsResponse, MandateState, ReservationState, decide_payment_request,
};
use kuajing_proto::identity::v1::{LinkStatus, Marketplace};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use tonic::Status;
use uuid::Uuid;

use super::access::{self, Subject};
use super::mandates;
use super::peers::{self, UsdEquivalent};
use super::reservations;
use super::{Ctx, finish, member, member_proto};
use crate::domain::category;
use crate::domain::decision::{self, Denial, DenyReason, Standing};
use crate::domain::limits::LimitBreach;
use crate::domain::mandate::{Candidate, pick_for_member};
use crate::store;
use crate::store::decisions::{DecisionFilter, DecisionRow};
use crate::store::mandates::MandateRow;
use crate::store::reservations::{NewReservation, ReservationRow};

/// Most orders one payment covers.
pub const MAX_ORDER_IDS: usize = 50;
/// Most category codes of one payment.
pub const MAX_CATEGORY_CODES: usize = 100;

impl DecisionRow {
    /// The wire form; `recorded` false leaves decision_id empty (validate_only).
    fn to_proto(
        &self,
        reservation: Option<&ReservationRow>,
        recorded: bool,
    ) -> Result<Decision, Status> {
        let currency: Currency = self.currency.parse().map_err(internal)?;
        let details: HashMap<String, String> = match &self.details {
            serde_json::Value::Object(map) => map
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect(),
            _ => HashMap::new(),
        };
        let member = if self.external_member_id.is_empty() {
            None
        } else {
            Some(member_proto(self.marketplace, &self.external_member_id))
        };
        Ok(Decision {
            decision_id: if recorded {
                self.decision_id.to_string()
            } else {
                String::new()
            },
            mandate_id: self.mandate_id.map(|m| m.to_string()).unwrap_or_default(),
            marketplace_member: member,
            payment_id: self.payment_id.to_string(),
            order_ids: self.order_ids.iter().map(Uuid::to_string).collect(),
            amount: Some(
                Money::rounded(currency, self.amount)
                    .map_err(internal)?
                    .to_proto(),
            ),
            usd_amount: match self.usd_amount {
                Some(u) => Some(
                    Money::rounded(Currency::USD, u)
                        .map_err(internal)?
                        .to_proto(),
                ),
                None => None,
            },
            usd_rate: self
                .usd_rate
                .map(|r| r.normalize().to_string())
                .unwrap_or_default(),
            usd_rate_time: time::opt_to_proto(self.usd_rate_set_at),
            supplier_account_id: self.supplier_account_id.to_string(),
            category_codes: self.category_codes.clone(),
            outcome: i32::from(self.outcome),
            reason: self.reason.clone(),
            message: self.message.clone(),
            details,
            reservation: reservation.map(ReservationRow::to_proto).transpose()?,
            caller_service: self.caller_service.clone(),
            subject_account_id: self
                .subject_account_id
                .map(|s| s.to_string())
                .unwrap_or_default(),
            create_time: Some(time::to_proto(self.created_at)),
        })
    }
}

/// How the request names the mandate.
#[derive(Clone, Debug)]
enum Selector {
    Id(Uuid),
    Member(Marketplace, String),
}

/// The validated request.
struct Ask {
    selector: Selector,
    payment_id: Uuid,
    order_ids: Vec<Uuid>,
    amount: Money,
    supplier: Uuid,
    category_codes: Vec<String>,
}

fn validate(ctx: &Ctx, req: &DecidePaymentRequest) -> Result<Ask, Status> {
    let mut v = FieldViolations::new();
    if !(req.validate_only && req.request_id.is_empty()) {
        v.uuid("request_id", &req.request_id);
    }
    let selector = match &req.mandate_selector {
        None => {
            v.add(
                "mandate_selector",
                "one of mandate_id and marketplace_member is required",
            );
            None
        }
        Some(decide_payment_request::MandateSelector::MandateId(id)) => {
            v.uuid("mandate_id", id).map(Selector::Id)
        }
        Some(decide_payment_request::MandateSelector::MarketplaceMember(m)) => {
            member(&mut v, "marketplace_member", Some(m)).map(|(mp, id)| Selector::Member(mp, id))
        }
    };
    let payment_id = v.uuid("payment_id", &req.payment_id);
    if req.order_ids.is_empty() || req.order_ids.len() > MAX_ORDER_IDS {
        v.add(
            "order_ids",
            format!("must hold 1 to {MAX_ORDER_IDS} order ids"),
        );
    }
    let order_ids: Vec<Uuid> = req
        .order_ids
        .iter()
        .take(MAX_ORDER_IDS)
        .enumerate()
        .filter_map(|(i, id)| v.uuid(&format!("order_ids[{i}]"), id))
        .collect();
    let amount = v.positive_money("amount", req.amount.as_ref());
    let supplier = v.uuid("supplier_account_id", &req.supplier_account_id);
    if req.category_codes.is_empty() || req.category_codes.len() > MAX_CATEGORY_CODES {
        v.add(
            "category_codes",
            format!("must hold 1 to {MAX_CATEGORY_CODES} category codes"),
        );
    }
    for (i, code) in req
        .category_codes
        .iter()
        .take(MAX_CATEGORY_CODES)
        .enumerate()
    {
        v.check(
            &format!("category_codes[{i}]"),
            category::validate_code(code),
        );
    }
    finish(ctx.errors(), v)?;
    match (selector, payment_id, amount, supplier) {
        (Some(selector), Some(payment_id), Some(amount), Some(supplier)) => Ok(Ask {
            selector,
            payment_id,
            order_ids,
            amount,
            supplier,
            category_codes: req.category_codes.clone(),
        }),
        _ => Err(internal("validated fields missing")),
    }
}

/// The mandate a request names: by id, or the member's ACTIVE one else its latest.
async fn resolve(
    conn: &mut PgConnection,
    selector: &Selector,
    now: DateTime<Utc>,
) -> Result<Option<MandateRow>, Status> {
    match selector {
        Selector::Id(id) => mandates::find(conn, *id, false).await,
        Selector::Member(mp, id) => {
            let all = mandates::of_member(conn, *mp, id).await?;
            let candidates: Vec<Candidate<usize>> = all
                .iter()
                .enumerate()
                .map(|(i, m)| Candidate {
                    id: i,
                    state: m.stored_state(),
                    expire_at: m.expire_at,
                    created_at: m.created_at,
                })
                .collect();
            Ok(pick_for_member(&candidates, now).and_then(|i| all.get(i).cloned()))
        }
    }
}

/// The restricted category codes now.
async fn restricted_codes(ctx: &Ctx) -> Result<Vec<String>, Status> {
    store::categories::restricted_codes(&ctx.svc.pool)
        .await
        .map_err(internal)
}

/// The limit day of `at`, in the configured zone.
async fn limit_date(
    conn: &mut PgConnection,
    ctx: &Ctx,
    at: DateTime<Utc>,
) -> Result<NaiveDate, Status> {
    store::calendar::date_of(conn, at, &ctx.settings.time_zone)
        .await
        .map_err(internal)
}

/// The USD amount a wallet's day already holds (RESERVED plus CONFIRMED), across every
/// mandate that pays from it: the daily limit is the buyer's (seed 003).
pub async fn day_use(
    conn: &mut PgConnection,
    wallet_id: Uuid,
    day: NaiveDate,
) -> Result<(Decimal, Decimal), Status> {
    let used = store::limit_days::use_of(conn, wallet_id, day)
        .await
        .map_err(internal)?;
    Ok(used.unwrap_or((Decimal::ZERO, Decimal::ZERO)))
}

/// What was judged before the transaction.
struct Judged {
    mandate: Option<MandateRow>,
    /// The denial of checks 1-8, if any.
    denial: Option<Denial>,
    /// The USD equivalent (set when checks 1-7 passed).
    usd: Option<UsdEquivalent>,
}

async fn judge(ctx: &Ctx, ask: &Ask, now: DateTime<Utc>) -> Result<Judged, Status> {
    let mandate = {
        let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
        resolve(&mut conn, &ask.selector, now).await?
    };
    let Some(m) = mandate.as_ref() else {
        return Ok(Judged {
            mandate,
            denial: decision::check_mandate(None).err(),
            usd: None,
        });
    };
    if let Err(d) = decision::check_mandate(Some(m.state_at(now))) {
        return Ok(Judged {
            mandate,
            denial: Some(d),
            usd: None,
        });
    }
    // The mandate may pay: ask identity and fx at once.
    let (binding, admission, restricted, usd) = tokio::join!(
        peers::binding(ctx, m.linked_account_id),
        peers::cross_border_admission(ctx, ask.supplier),
        restricted_codes(ctx),
        peers::usd_equivalent(ctx, ask.amount),
    );
    let binding = binding?.filter(|b| {
        b.marketplace == i32::from(m.marketplace) && b.external_member_id == m.external_member_id
    });
    let admission = admission?;
    let restricted = restricted?;
    let standing = Standing {
        binding: binding.map(|b| LinkStatus::try_from(b.status).unwrap_or(LinkStatus::Unspecified)),
        supplier: &admission,
        category_codes: &ask.category_codes,
        restricted: &restricted,
    };
    if let Err(d) = decision::check_before_limits(Some(MandateState::Active), &standing) {
        return Ok(Judged {
            mandate,
            denial: Some(d),
            usd: None,
        });
    }
    let usd = usd?;
    let denial = ctx
        .settings
        .limits
        .check_transaction(usd.exact)
        .err()
        .map(|b| decision::limit_denial(b, usd.usd));
    Ok(Judged {
        mandate,
        denial,
        usd: Some(usd),
    })
}

fn details_json(d: &BTreeMap<String, String>) -> serde_json::Value {
    serde_json::Value::Object(
        d.iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    )
}

/// The decision row before it is written.
fn draft(
    ask: &Ask,
    subject: Subject,
    caller_service: &str,
    mandate: Option<&MandateRow>,
    usd: Option<&UsdEquivalent>,
    denial: Option<&Denial>,
    now: DateTime<Utc>,
) -> DecisionRow {
    let (marketplace, external_member_id) = match (&ask.selector, mandate) {
        (Selector::Member(mp, id), _) => (*mp as i16, id.clone()),
        (Selector::Id(_), Some(m)) => (m.marketplace, m.external_member_id.clone()),
        (Selector::Id(_), None) => (0, String::new()),
    };
    DecisionRow {
        decision_id: Uuid::now_v7(),
        mandate_id: mandate.map(|m| m.mandate_id),
        marketplace,
        external_member_id,
        payment_id: ask.payment_id,
        order_ids: ask.order_ids.clone(),
        currency: ask.amount.currency().code().to_owned(),
        amount: ask.amount.amount(),
        usd_amount: usd.map(|u| u.usd),
        usd_rate: usd.map(|u| u.rate),
        usd_rate_set_at: usd.map(|u| u.rate_set_at),
        supplier_account_id: ask.supplier,
        category_codes: ask.category_codes.clone(),
        outcome: if denial.is_some() {
            DecisionOutcome::Denied as i16
        } else {
            DecisionOutcome::Approved as i16
        },
        reason: denial
            .map(|d| d.reason.code().to_owned())
            .unwrap_or_default(),
        message: denial.map(|d| d.message.clone()).unwrap_or_default(),
        details: denial
            .map(|d| details_json(&d.details))
            .unwrap_or_else(|| serde_json::Value::Object(Default::default())),
        caller_service: caller_service.to_owned(),
        subject_account_id: subject.0,
        created_at: now,
    }
}

/// Reserves `usd` on the day of the wallet the mandate pays from unless that passes the
/// daily limit; on refusal answers the denial. One conditional upsert: under concurrency
/// the row lock orders the decisions (of every mandate on the wallet) and each sees the
/// amounts the ones before it reserved.
async fn reserve(
    conn: &mut PgConnection,
    ctx: &Ctx,
    wallet_id: Uuid,
    day: NaiveDate,
    usd: Decimal,
) -> Result<Result<(), Denial>, Status> {
    let limits = &ctx.settings.limits;
    let reserved: Option<Decimal> = if usd > limits.per_day {
        None
    } else {
        store::limit_days::reserve(&mut *conn, wallet_id, day, usd, limits.per_day)
            .await
            .map_err(internal)?
    };
    if reserved.is_some() {
        return Ok(Ok(()));
    }
    let (r, c) = day_use(conn, wallet_id, day).await?;
    let breach = limits
        .check_day(usd, r + c)
        .err()
        .unwrap_or(LimitBreach::PerDay {
            limit: limits.per_day,
            remaining: crate::domain::limits::remaining(limits.per_day, r + c),
        });
    Ok(Err(decision::limit_denial(breach, usd)))
}

/// DecidePayment.
pub async fn decide(
    ctx: &Ctx,
    subject: Subject,
    caller_service: String,
    req: DecidePaymentRequest,
) -> Result<DecidePaymentResponse, Status> {
    let ask = validate(ctx, &req)?;
    let now = ctx.now();
    // A retry of a finished decision answers as the first time without judging again; a
    // concurrent first attempt is not waited for here (the claim below orders the two).
    if !req.validate_only {
        let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
        let recorded = idempotency::recorded(
            &mut conn,
            ctx.errors(),
            "DecidePayment",
            &req.request_id,
            &req,
        )
        .await?;
        if let Some(r) = recorded {
            return Ok(r);
        }
    }
    let judged = judge(ctx, &ask, now).await?;

    if req.validate_only {
        return dry_run(ctx, &ask, subject, &caller_service, judged, now).await;
    }

    let (ask, caller_service) = (&ask, &caller_service);
    let request_id = Uuid::try_parse(&req.request_id).map_err(internal)?;
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        "DecidePayment",
        &req.request_id,
        &req,
        |mut tx| async move {
            let Judged {
                mandate,
                mut denial,
                mut usd,
            } = judged;
            let mut reserve_on: Option<(Uuid, NaiveDate, Decimal)> = None;
            // Unless the mandate itself was the reason, re-judge it under a share lock: a
            // revocation committed since the first look is seen; a later one waits.
            if let Some(m) = mandate.as_ref()
                && denial
                    .as_ref()
                    .is_none_or(|d| d.reason > DenyReason::MandateExpired)
            {
                let locked = store::mandates::state_for_share(
                    &mut *tx,
                    m.mandate_id,
                    now,
                    &ctx.settings.time_zone,
                )
                .await
                .map_err(internal)?;
                let stored = MandateState::try_from(i32::from(locked.0))
                    .unwrap_or(MandateState::Unspecified);
                let state = crate::domain::mandate::effective_state(stored, locked.1, now);
                if let Err(d) = decision::check_mandate(Some(state)) {
                    denial = Some(d);
                    usd = None;
                } else if denial.is_none()
                    && let Some(u) = usd.as_ref()
                {
                    match reserve(&mut tx, ctx, m.wallet_id, locked.2, u.usd).await? {
                        Ok(()) => reserve_on = Some((m.mandate_id, locked.2, u.usd)),
                        Err(d) => denial = Some(d),
                    }
                }
            }
            let row = draft(
                ask,
                subject,
                caller_service,
                mandate.as_ref(),
                usd.as_ref(),
                denial.as_ref(),
                now,
            );
            let row = insert_decision(&mut tx, &row, request_id).await?;
            let reservation = match reserve_on {
                None => None,
                Some(on) => Some(insert_reservation(&mut tx, &row, on, now).await?),
            };
            let decision = row.to_proto(reservation.as_ref(), true)?;
            Ok((
                DecidePaymentResponse {
                    decision: Some(decision),
                },
                tx,
            ))
        },
    )
    .await
}

/// A validate-only decision: judged (the day's limits read, nothing reserved) and
/// answered, nothing written.
async fn dry_run(
    ctx: &Ctx,
    ask: &Ask,
    subject: Subject,
    caller_service: &str,
    judged: Judged,
    now: DateTime<Utc>,
) -> Result<DecidePaymentResponse, Status> {
    let mut denial = judged.denial;
    if denial.is_none()
        && let (Some(m), Some(usd)) = (judged.mandate.as_ref(), judged.usd.as_ref())
    {
        let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
        let day = limit_date(&mut conn, ctx, now).await?;
        let (r, c) = day_use(&mut conn, m.wallet_id, day).await?;
        denial = decision::check_limits(&ctx.settings.limits, usd.usd, r + c).err();
    }
    let row = draft(
        ask,
        subject,
        caller_service,
        judged.mandate.as_ref(),
        judged.usd.as_ref(),
        denial.as_ref(),
        now,
    );
    Ok(DecidePaymentResponse {
        decision: Some(row.to_proto(None, false)?),
    })
}

/// Writes a decision as drafted.
async fn insert_decision(
    tx: &mut sqlx::PgConnection,
    row: &DecisionRow,
    request_id: Uuid,
) -> Result<DecisionRow, Status> {
    store::decisions::insert(tx, row, request_id)
        .await
        .map_err(internal)
}

/// Writes the reservation an approved decision makes against the wallet's day.
async fn insert_reservation(
    tx: &mut sqlx::PgConnection,
    row: &DecisionRow,
    (mandate_id, day, usd_amount): (Uuid, NaiveDate, Decimal),
    now: DateTime<Utc>,
) -> Result<ReservationRow, Status> {
    let new = NewReservation {
        reservation_id: Uuid::now_v7(),
        decision_id: row.decision_id,
        mandate_id,
        payment_id: row.payment_id,
        currency: &row.currency,
        amount: row.amount,
        usd_amount,
        limit_date: day,
        state: ReservationState::Reserved as i16,
        created_at: now,
    };
    store::reservations::insert(tx, &new)
        .await
        .map_err(internal)
}

/// ListDecisions: newest first.
pub async fn list(
    ctx: &Ctx,
    subject: Subject,
    req: ListDecisionsRequest,
) -> Result<ListDecisionsResponse, Status> {
    let mut v = FieldViolations::new();
    let mandate_id = v.optional_uuid("mandate_id", &req.mandate_id).flatten();
    let payment_id = v.optional_uuid("payment_id", &req.payment_id).flatten();
    let outcome = if req.outcome == 0 {
        None
    } else {
        v.enum_value::<DecisionOutcome>("outcome", req.outcome)
    };
    let (from, to) = v.time_range("time_range", req.time_range.as_ref());
    let page = Page::from_proto("page", req.page.as_ref(), &mut v);
    finish(ctx.errors(), v)?;

    match mandate_id {
        Some(id) => {
            let m = {
                let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
                mandates::load(&mut conn, ctx, id, false).await?
            };
            access::check_owner(ctx, subject, m.owner_account_id).await?;
        }
        // By payment: the order service's view of its own saga.
        None if payment_id.is_some() => {}
        // Everything: operators only.
        None => {
            if !access::is_operator(ctx, subject).await? {
                let mut v = FieldViolations::new();
                v.add("mandate_id", "mandate_id or payment_id is required");
                finish(ctx.errors(), v)?;
            }
        }
    }
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    let filter = DecisionFilter {
        mandate_id,
        payment_id,
        outcome: outcome.map(|o| o as i16),
        from,
        to,
    };
    let after = page.after.map(|c| (c.time, c.id));
    let mut rows = store::decisions::list(&mut *conn, &filter, after, page.fetch_limit())
        .await
        .map_err(internal)?;
    let page = page.finish(&mut rows, |r| Cursor {
        time: r.created_at,
        id: r.decision_id,
    });
    let ids: Vec<Uuid> = rows.iter().map(|r| r.decision_id).collect();
    let reservations = reservations::of_decisions(&mut conn, &ids).await?;
    let decisions = rows
        .iter()
        .map(|r| {
            let res = reservations.iter().find(|x| x.decision_id == r.decision_id);
            r.to_proto(res, true)
        })
        .collect::<Result<_, _>>()?;
    Ok(ListDecisionsResponse {
        decisions,
        page: Some(page),
    })
}
