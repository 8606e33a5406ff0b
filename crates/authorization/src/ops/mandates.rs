//! Mandates: CreateMandate (PENDING_VERIFICATION, activation code sent through identity),
//! ActivateMandate (agreement + code -> ACTIVE), GetMandate, ListMandates, RevokeMandate
//! (payment PIN checked by identity -> REVOKED), and the sweeper that stores EXPIRED.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kuajing_platform::error::internal;
use kuajing_platform::page::{Cursor, Page};
use kuajing_platform::{Currency, FieldViolations, idempotency, time};
use kuajing_proto::authorization::v1::{
    ActivateMandateRequest, ActivateMandateResponse, CreateMandateRequest, CreateMandateResponse,
    GetMandateRequest, GetMandateResponse, ListMandatesRequest, ListMandatesResponse, Mandate,
    MandateState, RevokeMandateRequest, RevokeMandateResponse,
};
use kuajing_proto::identity::v1::{LinkStatus, Marketplace, VerificationChannel};
use sqlx::PgConnection;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use uuid::Uuid;

use super::access::{self, Subject};
use super::{Ctx, REASON_MAX, finish, finish_with, member, member_proto, peers, replay};
use crate::domain::mandate::{
    self, ActivateRefusal, RevokeRefusal, effective_state, effective_update_time,
};
pub use crate::store::mandates::MandateRow;
use crate::store::{self, mandates::MandateFilter};

/// Reason: agreement_accepted is false.
pub use kuajing_proto::reasons::authorization::AGREEMENT_NOT_ACCEPTED;
/// Reason: the agreement version shown is not the current one.
pub use kuajing_proto::reasons::authorization::AGREEMENT_VERSION_OUTDATED;
/// Reason: the buyer is registered in mainland China, or outside the eligible regions.
pub use kuajing_proto::reasons::authorization::BUYER_REGION_NOT_ELIGIBLE;
/// Reason: the marketplace member already has an ACTIVE mandate.
pub use kuajing_proto::reasons::authorization::MANDATE_ALREADY_EXISTS;
/// Reason: the mandate's validity end has passed.
pub use kuajing_proto::reasons::authorization::MANDATE_EXPIRED;
/// Reason: no such mandate.
pub use kuajing_proto::reasons::authorization::MANDATE_NOT_FOUND;
/// Reason: the mandate is not PENDING_VERIFICATION.
pub use kuajing_proto::reasons::authorization::MANDATE_NOT_PENDING;
/// Reason: the mandate was revoked.
pub use kuajing_proto::reasons::authorization::MANDATE_REVOKED;
/// Reason: the marketplace member is not bound, or not BOUND_VERIFIED.
pub use kuajing_proto::reasons::authorization::MARKETPLACE_ACCOUNT_NOT_VERIFIED;

/// Longest agreement version.
const AGREEMENT_VERSION_MAX: usize = 32;

impl MandateRow {
    /// The stored state.
    pub fn stored_state(&self) -> MandateState {
        MandateState::try_from(i32::from(self.state)).unwrap_or(MandateState::Unspecified)
    }

    /// The state at `now` (EXPIRED once the end has passed).
    pub fn state_at(&self, now: DateTime<Utc>) -> MandateState {
        effective_state(self.stored_state(), self.expire_at, now)
    }

    /// The wire form as of `now`.
    pub fn to_proto(&self, now: DateTime<Utc>) -> Mandate {
        let stored = self.stored_state();
        Mandate {
            mandate_id: self.mandate_id.to_string(),
            wallet_id: self.wallet_id.to_string(),
            owner_account_id: self.owner_account_id.to_string(),
            marketplace_member: Some(member_proto(self.marketplace, &self.external_member_id)),
            linked_account_id: self.linked_account_id.to_string(),
            payer_account_id: self.payer_account_id.to_string(),
            state: self.state_at(now) as i32,
            funding_currency_code: self.funding_currency.clone(),
            agreement_version: self.agreement_version.clone(),
            agreement_accept_time: time::opt_to_proto(self.agreement_accepted_at),
            activate_time: time::opt_to_proto(self.activated_at),
            expire_time: Some(time::to_proto(self.expire_at)),
            revoke_time: time::opt_to_proto(self.revoked_at),
            revoke_reason: self.revoke_reason.clone(),
            create_time: Some(time::to_proto(self.created_at)),
            update_time: Some(time::to_proto(effective_update_time(
                stored,
                self.updated_at,
                self.expire_at,
                now,
            ))),
        }
    }
}

/// One mandate; with `lock`, locked for update for the rest of the transaction.
pub async fn find(
    conn: &mut PgConnection,
    id: Uuid,
    lock: bool,
) -> Result<Option<MandateRow>, Status> {
    let row = if lock {
        store::mandates::get_for_update(conn, id).await
    } else {
        store::mandates::get(conn, id).await
    };
    row.map_err(internal)
}

/// NOT_FOUND / MANDATE_NOT_FOUND naming the mandate.
pub fn not_found(ctx: &Ctx, id: Uuid) -> Status {
    ctx.errors()
        .not_found_because(MANDATE_NOT_FOUND, "mandate", id.to_string())
}

/// One mandate or NOT_FOUND.
pub async fn load(
    conn: &mut PgConnection,
    ctx: &Ctx,
    id: Uuid,
    lock: bool,
) -> Result<MandateRow, Status> {
    find(conn, id, lock)
        .await?
        .ok_or_else(|| not_found(ctx, id))
}

/// Every mandate a marketplace member ever had, newest first.
pub async fn of_member(
    conn: &mut PgConnection,
    marketplace: Marketplace,
    external_member_id: &str,
) -> Result<Vec<MandateRow>, Status> {
    store::mandates::of_member(conn, marketplace as i16, external_member_id)
        .await
        .map_err(internal)
}

/// The member's mandate that is ACTIVE at `now`, if any.
async fn active_of_member(
    conn: &mut PgConnection,
    marketplace: Marketplace,
    external_member_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<MandateRow>, Status> {
    let member = (marketplace as i16, external_member_id);
    store::mandates::active_of_member(conn, member, MandateState::Active as i16, now)
        .await
        .map_err(internal)
}

/// ALREADY_EXISTS / MANDATE_ALREADY_EXISTS; metadata "mandate_id" only when the active
/// mandate is `owner`'s own.
fn already_exists(ctx: &Ctx, active: Option<&MandateRow>, owner: Uuid) -> Status {
    let mut md = HashMap::new();
    if let Some(a) = active.filter(|a| a.owner_account_id == owner) {
        md.insert("mandate_id".to_owned(), a.mandate_id.to_string());
    }
    ctx.errors().refuse_with(
        Code::AlreadyExists,
        MANDATE_ALREADY_EXISTS,
        "the marketplace account already has an active cross-border pay authorisation",
        md,
    )
}

fn not_verified(ctx: &Ctx, subject: String, message: &str) -> Status {
    ctx.errors()
        .precondition(MARKETPLACE_ACCOUNT_NOT_VERIFIED, subject, message)
}

/// FAILED_PRECONDITION with ErrorInfo metadata and a PreconditionFailure.
fn precondition_with(
    ctx: &Ctx,
    reason: &str,
    subject: String,
    message: String,
    metadata: &[(&str, String)],
) -> Status {
    let md: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    let mut details = ErrorDetails::with_error_info(reason, ctx.errors().0, md);
    details.add_precondition_failure_violation(reason, subject, message.clone());
    Status::with_error_details(Code::FailedPrecondition, message, details)
}

fn activate_refusal(ctx: &Ctx, id: Uuid, r: ActivateRefusal) -> Status {
    let subject = format!("mandate/{id}");
    match r {
        ActivateRefusal::Expired => {
            ctx.errors()
                .precondition(MANDATE_EXPIRED, subject, "the mandate's validity has ended")
        }
        ActivateRefusal::NotPending(state) => precondition_with(
            ctx,
            MANDATE_NOT_PENDING,
            subject,
            format!(
                "the mandate is {}, not waiting for verification",
                state.as_str_name()
            ),
            &[("state", state.as_str_name().to_owned())],
        ),
    }
}

fn revoke_refusal(ctx: &Ctx, id: Uuid, r: RevokeRefusal) -> Status {
    let subject = format!("mandate/{id}");
    match r {
        RevokeRefusal::AlreadyRevoked => {
            ctx.errors()
                .precondition(MANDATE_REVOKED, subject, "the mandate is already revoked")
        }
        RevokeRefusal::Expired => {
            ctx.errors()
                .precondition(MANDATE_EXPIRED, subject, "the mandate has expired")
        }
    }
}

/// A CreateMandate request, checked.
struct NewMandate {
    request_id: Uuid,
    wallet_id: Uuid,
    owner: Uuid,
    marketplace: Marketplace,
    member_id: String,
    expire_at: chrono::DateTime<chrono::Utc>,
    funding: Currency,
    channel: VerificationChannel,
}

/// Checks a CreateMandate request's fields (every violation at once), resolving the
/// expiry and the defaults (CNH funding, SMS).
fn check_new(ctx: &Ctx, req: &CreateMandateRequest) -> Result<NewMandate, Status> {
    let mut v = FieldViolations::new();
    let request_id = v.uuid("request_id", &req.request_id);
    let wallet_id = v.uuid("wallet_id", &req.wallet_id);
    let owner = v.uuid("owner_account_id", &req.owner_account_id);
    let mm = member(
        &mut v,
        "marketplace_member",
        req.marketplace_member.as_ref(),
    );
    let now = ctx.now();
    let requested_end = match req.expire_time.as_ref() {
        None => Some(None),
        Some(t) => match time::from_proto(t) {
            Some(t) => Some(Some(t)),
            None => {
                v.add("expire_time", "is not a valid timestamp");
                None
            }
        },
    };
    let expire_at = requested_end.and_then(|requested| {
        v.check(
            "expire_time",
            mandate::resolve_expire_time(
                requested,
                ctx.settings.default_expire_time,
                ctx.settings.max_validity,
                now,
            ),
        )
    });
    let funding = if req.funding_currency_code.is_empty() {
        Some(Currency::CNH)
    } else {
        v.check(
            "funding_currency_code",
            req.funding_currency_code.parse::<Currency>(),
        )
    };
    let channel = if req.verification_channel == 0 {
        Some(VerificationChannel::Sms)
    } else {
        v.enum_value::<VerificationChannel>("verification_channel", req.verification_channel)
    };
    finish(ctx.errors(), v)?;
    let (
        Some(request_id),
        Some(wallet_id),
        Some(owner),
        Some((marketplace, member_id)),
        Some(expire_at),
        Some(funding),
        Some(channel),
    ) = (
        request_id, wallet_id, owner, mm, expire_at, funding, channel,
    )
    else {
        return Err(internal("validated fields missing"));
    };
    Ok(NewMandate {
        request_id,
        wallet_id,
        owner,
        marketplace,
        member_id,
        expire_at,
        funding,
        channel,
    })
}

/// Whether the buyer may authorise the member: the wallet is the owner's, the owner is
/// registered where cross-border pay is offered, and the member is bound and verified.
/// Answers the binding.
async fn eligible(
    ctx: &Ctx,
    m: &NewMandate,
) -> Result<kuajing_proto::identity::v1::LinkedAccount, Status> {
    // The wallet must be the owner's.
    let wallet = peers::wallet(ctx, m.wallet_id).await?;
    if wallet.is_none_or(|w| w.owner_account_id != m.owner.to_string()) {
        return Err(ctx.errors().not_found("wallet", m.wallet_id.to_string()));
    }
    // The buyer must be registered where cross-border pay is offered.
    let region = peers::account(ctx, m.owner)
        .await?
        .ok_or_else(|| ctx.errors().not_found("account", m.owner.to_string()))?
        .region_code;
    if !ctx.settings.buyer_regions.admit(&region) {
        return Err(precondition_with(
            ctx,
            BUYER_REGION_NOT_ELIGIBLE,
            format!("account/{}", m.owner),
            format!(
                "cross-border pay is for buyers registered outside mainland China in an \
                 eligible region; this buyer is registered in {region}"
            ),
            &[("region_code", region.clone())],
        ));
    }
    // The member must be bound and verified.
    let link = peers::binding_of_member(ctx, member_proto(m.marketplace as i16, &m.member_id))
        .await?
        .ok_or_else(|| {
            not_verified(
                ctx,
                format!("marketplace_member/{}", m.member_id),
                "the marketplace account is not bound to a Kuajing account",
            )
        })?;
    if link.status != LinkStatus::BoundVerified as i32 {
        return Err(not_verified(
            ctx,
            format!("linked_account/{}", link.linked_account_id),
            "the marketplace account's binding is not verified (real-name verification pending)",
        ));
    }
    Ok(link)
}

/// CreateMandate.
pub async fn create(
    ctx: &Ctx,
    subject: Subject,
    req: CreateMandateRequest,
) -> Result<CreateMandateResponse, Status> {
    let m = check_new(ctx, &req)?;
    access::check_owner(ctx, subject, m.owner).await?;
    if let Some(r) = replay(ctx, "CreateMandate", &req.request_id, &req).await? {
        return Ok(r);
    }
    let link = eligible(ctx, &m).await?;
    let NewMandate {
        request_id,
        wallet_id,
        owner,
        marketplace,
        member_id,
        expire_at,
        funding,
        channel,
    } = m;
    let now = ctx.now();
    let linked_account_id = Uuid::try_parse(&link.linked_account_id).map_err(internal)?;
    let payer_account_id = Uuid::try_parse(&link.account_id).map_err(internal)?;
    {
        let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
        if let Some(active) = active_of_member(&mut conn, marketplace, &member_id, now).await? {
            return Err(already_exists(ctx, Some(&active), owner));
        }
    }
    // One mandate id per request_id: a retry sends (identity replays) the same code.
    let mandate_id =
        store::mandates::id_for_request(&ctx.svc.pool, request_id, Uuid::now_v7(), now)
            .await
            .map_err(internal)?;
    // The member accepts: the code goes to the person holding its binding (the owner
    // too when one account holds both), so nobody authorises another's member alone.
    let challenge = peers::send_activation_code(
        ctx,
        peers::derived_request_id("CreateMandate", request_id),
        payer_account_id,
        channel,
        mandate_id,
    )
    .await?;

    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        "CreateMandate",
        &req.request_id,
        &req,
        |mut tx| async move {
            let new = store::mandates::NewMandate {
                mandate_id,
                wallet_id,
                owner_account_id: owner,
                marketplace: marketplace as i16,
                external_member_id: &member_id,
                linked_account_id,
                payer_account_id,
                state: MandateState::PendingVerification as i16,
                funding_currency: funding.code(),
                expire_at,
                created_at: now,
            };
            let row = store::mandates::insert(&mut *tx, &new)
                .await
                .map_err(internal)?;
            Ok((
                CreateMandateResponse {
                    mandate: Some(row.to_proto(now)),
                    challenge: Some(challenge),
                },
                tx,
            ))
        },
    )
    .await
}

/// ActivateMandate's input checked: the request, mandate and challenge ids. Refused with
/// AGREEMENT_NOT_ACCEPTED when the agreement was not accepted, else VALIDATION_FAILED.
fn activation_ids(ctx: &Ctx, req: &ActivateMandateRequest) -> Result<(Uuid, Uuid, Uuid), Status> {
    let mut v = FieldViolations::new();
    let request_id = v.uuid("request_id", &req.request_id);
    let mandate_id = v.uuid("mandate_id", &req.mandate_id);
    if !req.agreement_accepted {
        v.add(
            "agreement_accepted",
            "the cross-border pay agreement must be accepted",
        );
    }
    if req.agreement_version.is_empty() {
        v.add("agreement_version", "is required");
    } else {
        v.text(
            "agreement_version",
            &req.agreement_version,
            AGREEMENT_VERSION_MAX,
        );
    }
    let challenge_id = v.uuid("challenge_id", &req.challenge_id);
    if !mandate::is_six_digits(&req.code) {
        v.add("code", "must be exactly 6 digits");
    }
    let reason = if req.agreement_accepted {
        super::VALIDATION_FAILED
    } else {
        AGREEMENT_NOT_ACCEPTED
    };
    finish_with(ctx.errors(), v, reason)?;
    let (Some(request_id), Some(mandate_id), Some(challenge_id)) =
        (request_id, mandate_id, challenge_id)
    else {
        return Err(internal("validated fields missing"));
    };
    Ok((request_id, mandate_id, challenge_id))
}

/// What must still hold when a pending mandate is activated, beyond its own state: the
/// agreement shown is the current version, no other mandate of the member is active, and
/// the marketplace account's binding is the one the mandate was made for, verified.
async fn activatable(
    ctx: &Ctx,
    m: &MandateRow,
    agreement_version: &str,
    now: DateTime<Utc>,
) -> Result<(), Status> {
    if agreement_version != ctx.settings.agreement_version {
        return Err(precondition_with(
            ctx,
            AGREEMENT_VERSION_OUTDATED,
            format!("agreement/{}", agreement_version),
            format!(
                "the agreement shown is not the current version {}",
                ctx.settings.agreement_version
            ),
            &[("current_version", ctx.settings.agreement_version.clone())],
        ));
    }
    let marketplace = Marketplace::try_from(i32::from(m.marketplace)).map_err(internal)?;
    {
        let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
        if let Some(active) =
            active_of_member(&mut conn, marketplace, &m.external_member_id, now).await?
        {
            return Err(already_exists(ctx, Some(&active), m.owner_account_id));
        }
    }
    // The binding must still be the one the mandate was made for, and verified.
    let link = peers::binding(ctx, m.linked_account_id).await?;
    if link.is_none_or(|l| l.status != LinkStatus::BoundVerified as i32) {
        return Err(not_verified(
            ctx,
            format!("linked_account/{}", m.linked_account_id),
            "the marketplace account's binding changed since the mandate was created",
        ));
    }
    Ok(())
}

/// ActivateMandate.
pub async fn activate(
    ctx: &Ctx,
    subject: Subject,
    req: ActivateMandateRequest,
) -> Result<ActivateMandateResponse, Status> {
    let (request_id, mandate_id, challenge_id) = activation_ids(ctx, &req)?;
    // The code is not part of what makes two requests the same: a plain hash of a
    // request holding six digits would give the code away to anyone reading the table.
    let mut keyed = req.clone();
    keyed.code.clear();
    let now = ctx.now();

    let m = {
        let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
        load(&mut conn, ctx, mandate_id, false).await?
    };
    access::check_owner(ctx, subject, m.owner_account_id).await?;
    if let Some(r) = replay(ctx, "ActivateMandate", &req.request_id, &keyed).await? {
        return Ok(r);
    }
    mandate::check_activate(m.stored_state(), m.expire_at, now)
        .map_err(|r| activate_refusal(ctx, mandate_id, r))?;
    activatable(ctx, &m, &req.agreement_version, now).await?;
    peers::verify_activation_code(
        ctx,
        peers::derived_request_id("ActivateMandate", request_id),
        m.payer_account_id,
        challenge_id,
        &req.code,
        mandate_id,
    )
    .await?;

    let version = req.agreement_version.clone();
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        "ActivateMandate",
        &req.request_id,
        &keyed,
        |mut tx| async move {
            let m = load(&mut tx, ctx, mandate_id, true).await?;
            mandate::check_activate(m.stored_state(), m.expire_at, now)
                .map_err(|r| activate_refusal(ctx, mandate_id, r))?;
            // Active mandates of the member whose end has passed are stored EXPIRED, so
            // the one-active index only counts live ones.
            let member = (m.marketplace, m.external_member_id.as_str());
            let states = (MandateState::Active as i16, MandateState::Expired as i16);
            store::mandates::expire_passed_of_member(&mut *tx, member, states, now)
                .await
                .map_err(internal)?;
            let active = MandateState::Active as i16;
            let row = match store::mandates::activate(&mut *tx, mandate_id, active, &version, now)
                .await
            {
                Ok(row) => row,
                Err(e) if super::is_unique_violation(&e) => {
                    return Err(already_exists(ctx, None, m.owner_account_id));
                }
                Err(e) => return Err(internal(e)),
            };
            Ok((
                ActivateMandateResponse {
                    mandate: Some(row.to_proto(now)),
                },
                tx,
            ))
        },
    )
    .await
}

/// GetMandate.
pub async fn get(
    ctx: &Ctx,
    subject: Subject,
    req: GetMandateRequest,
) -> Result<GetMandateResponse, Status> {
    let mut v = FieldViolations::new();
    let id = v.uuid("mandate_id", &req.mandate_id);
    finish(ctx.errors(), v)?;
    let id = id.ok_or_else(|| internal("validated fields missing"))?;
    let now = ctx.now();
    let m = {
        let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
        load(&mut conn, ctx, id, false).await?
    };
    access::check_owner(ctx, subject, m.owner_account_id).await?;
    Ok(GetMandateResponse {
        mandate: Some(m.to_proto(now)),
    })
}

/// ListMandates: newest first.
pub async fn list(
    ctx: &Ctx,
    subject: Subject,
    req: ListMandatesRequest,
) -> Result<ListMandatesResponse, Status> {
    let mut v = FieldViolations::new();
    let owner = v
        .optional_uuid("owner_account_id", &req.owner_account_id)
        .flatten();
    let wallet = v.optional_uuid("wallet_id", &req.wallet_id).flatten();
    let mm = match req.marketplace_member.as_ref() {
        None => None,
        Some(m) => member(&mut v, "marketplace_member", Some(m)),
    };
    let state = if req.state == 0 {
        None
    } else {
        v.enum_value::<MandateState>("state", req.state)
    };
    let page = Page::from_proto("page", req.page.as_ref(), &mut v);
    finish(ctx.errors(), v)?;
    let no_filter = req.owner_account_id.is_empty()
        && req.wallet_id.is_empty()
        && req.marketplace_member.is_none();
    // Only a subject listing someone else's (or everyone's) mandates needs to be an operator.
    let operator = match subject.0 {
        Some(s) if owner != Some(s) => access::is_operator_account(ctx, s).await?,
        _ => false,
    };
    if no_filter && !operator {
        let mut v = FieldViolations::new();
        v.add(
            "owner_account_id",
            "at least one of owner_account_id, wallet_id and marketplace_member is required",
        );
        finish(ctx.errors(), v)?;
    }
    // A person sees only their own mandates.
    let owner = match (subject.0, operator) {
        (Some(s), false) => match owner {
            Some(o) if o != s => return Err(access::not_owner(ctx)),
            _ => Some(s),
        },
        _ => owner,
    };
    let now = ctx.now();
    let filter = MandateFilter {
        owner,
        wallet,
        member: mm.as_ref().map(|(mp, id)| (*mp as i16, id.as_str())),
        state: state.map(|s| s as i16),
        now,
        // Pending and active mandates past their end read as expired.
        live: [MandateState::PendingVerification, MandateState::Active].map(|s| s as i16),
        expired: MandateState::Expired as i16,
    };
    let after = page.after.map(|c| (c.time, c.id));
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    let mut rows = store::mandates::list(&mut *conn, &filter, after, page.fetch_limit())
        .await
        .map_err(internal)?;
    let page = page.finish(&mut rows, |r| Cursor {
        time: r.created_at,
        id: r.mandate_id,
    });
    Ok(ListMandatesResponse {
        mandates: rows.iter().map(|r| r.to_proto(now)).collect(),
        page: Some(page),
    })
}

/// RevokeMandate.
pub async fn revoke(
    ctx: &Ctx,
    subject: Subject,
    req: RevokeMandateRequest,
) -> Result<RevokeMandateResponse, Status> {
    let mut v = FieldViolations::new();
    let request_id = v.uuid("request_id", &req.request_id);
    let mandate_id = v.uuid("mandate_id", &req.mandate_id);
    if !mandate::is_six_digits(&req.payment_pin) {
        v.add("payment_pin", "must be exactly 6 digits");
    }
    let reason = v.text("reason", &req.reason, REASON_MAX).to_owned();
    finish(ctx.errors(), v)?;
    let (Some(request_id), Some(mandate_id)) = (request_id, mandate_id) else {
        return Err(internal("validated fields missing"));
    };
    // The PIN is not part of what makes two requests the same (it is never stored).
    let mut keyed = req.clone();
    keyed.payment_pin.clear();
    let now = ctx.now();

    let m = {
        let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
        load(&mut conn, ctx, mandate_id, false).await?
    };
    access::check_owner(ctx, subject, m.owner_account_id).await?;
    // A replay must not count a PIN attempt again: answer it before asking identity.
    if let Some(r) = replay(ctx, "RevokeMandate", &req.request_id, &keyed).await? {
        return Ok(r);
    }
    mandate::check_revoke(m.stored_state(), m.expire_at, now)
        .map_err(|r| revoke_refusal(ctx, mandate_id, r))?;
    peers::verify_pin(
        ctx,
        peers::derived_request_id("RevokeMandate", request_id),
        m.owner_account_id,
        &req.payment_pin,
        mandate_id,
    )
    .await?;

    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        "RevokeMandate",
        &req.request_id,
        &keyed,
        |mut tx| async move {
            // Decisions read the mandate under a share lock: once this commits, every
            // later decision sees REVOKED.
            let m = load(&mut tx, ctx, mandate_id, true).await?;
            mandate::check_revoke(m.stored_state(), m.expire_at, now)
                .map_err(|r| revoke_refusal(ctx, mandate_id, r))?;
            let revoked = MandateState::Revoked as i16;
            let row = store::mandates::revoke(&mut *tx, mandate_id, revoked, now, &reason)
                .await
                .map_err(internal)?;
            Ok((
                RevokeMandateResponse {
                    mandate: Some(row.to_proto(now)),
                },
                tx,
            ))
        },
    )
    .await
}

/// Stores EXPIRED on live mandates whose end has passed; returns how many. Reads already
/// show them EXPIRED; this keeps the stored state (and the one-active index) in step.
pub async fn expire_due(ctx: &Ctx) -> Result<u64, Status> {
    let live = (
        MandateState::PendingVerification as i16,
        MandateState::Active as i16,
    );
    store::mandates::expire_due(&ctx.svc.pool, MandateState::Expired as i16, live, ctx.now())
        .await
        .map_err(internal)
}

/// Runs [`expire_due`] every `every` until the pool closes.
pub fn spawn_sweeper(ctx: Ctx, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if ctx.svc.pool.is_closed() {
                return;
            }
            match expire_due(&ctx).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "stored expired mandates"),
                Err(e) => {
                    tracing::warn!(error = %e.message(), "mandate sweeper failed; will retry")
                }
            }
        }
    });
}
