//! Supplier profiles and admission: GetSupplierProfile, UpdateSupplierProfile (operators),
//! RecordIpComplaint (operators), CheckSupplierAdmission and OpenSupplierProgram (the
//! supplier itself).

use kuajing_proto::reasons::identity as reasons;
use std::collections::BTreeSet;

use kuajing_platform::error::internal;
use kuajing_proto::identity::v1 as pb;
use tonic::{Code, Status};
use uuid::Uuid;

use super::convert::{self, from_ts, membership_from_pb, program_from_pb, program_to_pb, ts};
use super::{DOMAIN, Started, State, Subject, checked, db};
use crate::domain::account::RealNameStatus;
use crate::domain::admission::{self, Membership, Program, SupplierFacts};
use crate::domain::events::EventType;
use crate::domain::supplier as rules;
use crate::outcome;
use crate::store::events::{self, NewEvent};
use crate::store::supplier::{self as store, ComplaintRow, ProfileRow};
use kuajing_platform::FieldViolations;

/// A validated profile change: the new value of each path in the mask.
#[derive(Debug, Default)]
struct Changes {
    company_id: Option<Uuid>,
    company_name: Option<String>,
    membership: Option<Membership>,
    trustpass_active: Option<bool>,
    cross_border_pay_enabled: Option<bool>,
    bad_credit_record: Option<bool>,
    violation_points: Option<i32>,
    risk_flags: Option<Vec<String>>,
}

/// Checks an UpdateSupplierProfile request (every violation at once): the profile named,
/// the mask's paths updatable, each named field valid. Answers the account, the paths and
/// the changes they make.
fn check_update(
    req: &pb::UpdateSupplierProfileRequest,
) -> Result<(Uuid, Vec<String>, Changes), Status> {
    let mut v = FieldViolations::new();
    v.request_id(&req.request_id);
    let default_profile = pb::SupplierProfile::default();
    let profile = req.supplier_profile.as_ref().unwrap_or(&default_profile);
    if req.supplier_profile.is_none() {
        v.add("supplier_profile", "is required");
    }
    let account_id = v.uuid("supplier_profile.account_id", &profile.account_id);
    let paths: Vec<String> = req
        .update_mask
        .as_ref()
        .map(|m| m.paths.clone())
        .unwrap_or_default();
    if paths.is_empty() {
        v.add(
            "update_mask",
            "is required and must name at least one field",
        );
    }
    let mut changes = Changes::default();
    for (i, path) in paths.iter().enumerate() {
        let field = format!("supplier_profile.{path}");
        match path.as_str() {
            "company_id" => changes.company_id = v.uuid(&field, &profile.company_id),
            "company_name" => {
                changes.company_name = v
                    .check(&field, rules::validate_company_name(&profile.company_name))
                    .map(|()| profile.company_name.clone());
            }
            "membership" => {
                changes.membership = v
                    .enum_value::<pb::SupplierMembership>(&field, profile.membership)
                    .and_then(membership_from_pb);
            }
            "trustpass_active" => changes.trustpass_active = Some(profile.trustpass_active),
            "cross_border_pay_enabled" => {
                changes.cross_border_pay_enabled = Some(profile.cross_border_pay_enabled);
            }
            "bad_credit_record" => changes.bad_credit_record = Some(profile.bad_credit_record),
            "violation_points" => {
                changes.violation_points = v
                    .check(
                        &field,
                        rules::validate_violation_points(profile.violation_points),
                    )
                    .map(|()| profile.violation_points);
            }
            "risk_flags" => {
                let flags = &profile.risk_flags;
                let mut ok = true;
                if flags.len() > rules::MAX_RISK_FLAGS {
                    v.add(&field, format!("at most {} flags", rules::MAX_RISK_FLAGS));
                    ok = false;
                }
                for (j, flag) in flags.iter().enumerate() {
                    ok &= v
                        .check(&format!("{field}[{j}]"), rules::validate_risk_flag(flag))
                        .is_some();
                }
                if flags.iter().collect::<BTreeSet<_>>().len() != flags.len() {
                    v.add(&field, "must not repeat a flag");
                    ok = false;
                }
                changes.risk_flags = ok.then(|| flags.clone());
            }
            other if !rules::updatable(other) => {
                v.add(
                    format!("update_mask.paths[{i}]"),
                    format!(
                        "{other:?} cannot be updated; updatable: {}",
                        rules::UPDATABLE_PATHS.join(", ")
                    ),
                );
            }
            _ => {}
        }
    }
    v.check("reason", rules::validate_reason(&req.reason));
    v.finish_in(DOMAIN)?;
    Ok((checked(account_id)?, paths, changes))
}

impl Changes {
    /// Writes the changed fields into the profile.
    fn apply(self, row: &mut ProfileRow) {
        if let Some(x) = self.company_id {
            row.company_id = x;
        }
        if let Some(x) = self.company_name {
            row.company_name = x;
        }
        if let Some(x) = self.membership {
            row.membership = x.as_str().to_owned();
        }
        if let Some(x) = self.trustpass_active {
            row.trustpass_active = x;
        }
        if let Some(x) = self.cross_border_pay_enabled {
            row.cross_border_pay_enabled = x;
        }
        if let Some(x) = self.bad_credit_record {
            row.bad_credit_record = x;
        }
        if let Some(x) = self.violation_points {
            row.violation_points = x;
        }
        if let Some(x) = self.risk_flags {
            row.risk_flags = x;
        }
    }
}

impl State {
    fn profile_not_found(&self, account_id: impl ToString) -> Status {
        self.not_found_as(
            reasons::SUPPLIER_PROFILE_NOT_FOUND,
            "supplier profile",
            account_id,
        )
    }

    async fn load_profile(
        &self,
        conn: &mut sqlx::PgConnection,
        account_id: Uuid,
        lock: bool,
    ) -> Result<ProfileRow, Status> {
        store::get(conn, account_id, lock)
            .await
            .map_err(db)?
            .ok_or_else(|| self.profile_not_found(account_id))
    }

    pub async fn get_supplier_profile(
        &self,
        subject: Subject,
        req: pb::GetSupplierProfileRequest,
    ) -> Result<pb::GetSupplierProfileResponse, Status> {
        let mut v = FieldViolations::new();
        let account_id = v.uuid("account_id", &req.account_id);
        v.finish_in(DOMAIN)?;
        let account_id = checked(account_id)?;
        let mut conn = self.pool.acquire().await.map_err(db)?;
        self.authorize(&mut conn, subject, account_id).await?;
        let row = self.load_profile(&mut conn, account_id, false).await?;
        Ok(pb::GetSupplierProfileResponse {
            supplier_profile: Some(convert::profile(&row)?),
        })
    }

    pub async fn update_supplier_profile(
        &self,
        subject: Subject,
        req: pb::UpdateSupplierProfileRequest,
    ) -> Result<pb::UpdateSupplierProfileResponse, Status> {
        let (account_id, paths, changes) = check_update(&req)?;
        let operator = {
            let mut conn = self.pool.acquire().await.map_err(db)?;
            self.operator(&mut conn, subject).await?
        };

        let (mut tx, key) = match self
            .start("UpdateSupplierProfile", &req.request_id, &req)
            .await?
        {
            Started::Replay(answer) => return answer,
            Started::Fresh(tx, key) => (tx, key),
        };
        let result = async {
            let now = self.now();
            let mut row = self.load_profile(&mut tx, account_id, true).await?;
            let was_paid_trustpass = paid_trustpass(&row);
            if let Some(company) = changes.company_id
                && company != row.company_id
                && !store::company_exists(&mut tx, company).await.map_err(db)?
            {
                return Err(self.not_found("company", company));
            }
            let cross_border_set = changes.cross_border_pay_enabled.is_some();
            changes.apply(&mut row);
            if admission::cross_border_pay_by_default(
                was_paid_trustpass,
                paid_trustpass(&row),
                cross_border_set,
            ) {
                row.cross_border_pay_enabled = true;
            }
            store::update(&mut tx, &row, now).await.map_err(db)?;
            events::record(
                &mut tx,
                NewEvent::new(account_id, EventType::SupplierProfileUpdated, now)
                    .actor(Some(operator))
                    .detail("paths", paths.join(","))
                    .detail("reason", &req.reason),
            )
            .await
            .map_err(db)?;
            let row = self.load_profile(&mut tx, account_id, false).await?;
            Ok(pb::UpdateSupplierProfileResponse {
                supplier_profile: Some(convert::profile(&row)?),
            })
        }
        .await;
        outcome::finish(tx, key, result, None).await
    }

    pub async fn record_ip_complaint(
        &self,
        subject: Subject,
        req: pb::RecordIpComplaintRequest,
    ) -> Result<pb::RecordIpComplaintResponse, Status> {
        let now = self.now();
        let mut v = FieldViolations::new();
        v.request_id(&req.request_id);
        let account_id = v.uuid("account_id", &req.account_id);
        v.check(
            "complaint_reference",
            rules::validate_complaint_reference(&req.complaint_reference),
        );
        v.check(
            "description",
            rules::validate_complaint_description(&req.description),
        );
        let complaint_time = match &req.complaint_time {
            None => Some(now),
            Some(t) => match from_ts(t) {
                None => {
                    v.add("complaint_time", "is out of range");
                    None
                }
                Some(t) if t > now => {
                    v.add("complaint_time", "must not be in the future");
                    None
                }
                Some(t) => Some(t),
            },
        };
        v.finish_in(DOMAIN)?;
        let (account_id, complaint_time) = (checked(account_id)?, checked(complaint_time)?);
        let operator = {
            let mut conn = self.pool.acquire().await.map_err(db)?;
            self.operator(&mut conn, subject).await?
        };

        let (mut tx, key) = match self
            .start("RecordIpComplaint", &req.request_id, &req)
            .await?
        {
            Started::Replay(answer) => return answer,
            Started::Fresh(tx, key) => (tx, key),
        };
        let result = async {
            let profile = self.load_profile(&mut tx, account_id, true).await?;
            let row = ComplaintRow {
                ip_complaint_id: Uuid::now_v7(),
                account_id,
                company_id: profile.company_id,
                complaint_reference: req.complaint_reference.clone(),
                serious: req.serious,
                description: req.description.clone(),
                complaint_time,
                created_at: now,
            };
            if !store::insert_complaint(&mut tx, &row).await.map_err(db)? {
                return Err(self.refuse_with(
                    Code::AlreadyExists,
                    reasons::IP_COMPLAINT_ALREADY_RECORDED,
                    "this complaint reference is already recorded for the account",
                    &[("complaint_reference", req.complaint_reference.clone())],
                ));
            }
            events::record(
                &mut tx,
                NewEvent::new(account_id, EventType::IpComplaintRecorded, now)
                    .actor(Some(operator))
                    .detail("ip_complaint_id", row.ip_complaint_id)
                    .detail("serious", row.serious),
            )
            .await
            .map_err(db)?;
            let profile = self.load_profile(&mut tx, account_id, false).await?;
            Ok(pb::RecordIpComplaintResponse {
                ip_complaint: Some(convert::complaint(&row)),
                supplier_profile: Some(convert::profile(&profile)?),
            })
        }
        .await;
        outcome::finish(tx, key, result, None).await
    }

    pub async fn check_supplier_admission(
        &self,
        subject: Subject,
        req: pb::CheckSupplierAdmissionRequest,
    ) -> Result<pb::CheckSupplierAdmissionResponse, Status> {
        let mut v = FieldViolations::new();
        let account_id = v.uuid("account_id", &req.account_id);
        let program = v
            .enum_value::<pb::AdmissionProgram>("program", req.program)
            .and_then(program_from_pb);
        v.finish_in(DOMAIN)?;
        let (account_id, program) = (checked(account_id)?, checked(program)?);
        let mut conn = self.pool.acquire().await.map_err(db)?;
        self.authorize(&mut conn, subject, account_id).await?;
        let row = self.load_profile(&mut conn, account_id, false).await?;
        Ok(pb::CheckSupplierAdmissionResponse {
            admission: Some(self.admission(&row, program)?),
        })
    }

    /// Every rule of `program` judged on the profile `row`.
    fn admission(
        &self,
        row: &ProfileRow,
        program: Program,
    ) -> Result<pb::SupplierAdmission, Status> {
        let facts = SupplierFacts {
            membership: Membership::parse(&row.membership)
                .ok_or_else(|| internal("stored membership"))?,
            region_code: row.region_code.clone(),
            trustpass_active: row.trustpass_active,
            cross_border_pay_enabled: row.cross_border_pay_enabled,
            bad_credit_record: row.bad_credit_record,
            violation_points: row.violation_points,
            company_ip_complaint_count: row.company_ip_complaint_count,
            real_name_verified: row.real_name_status == RealNameStatus::Verified.as_str(),
            risk_flags: row.risk_flags.clone(),
        };
        let failed = admission::check(program, &facts, &self.settings.admission);
        Ok(pb::SupplierAdmission {
            account_id: row.account_id.to_string(),
            program: program_to_pb(program) as i32,
            admitted: failed.is_empty(),
            failed_rules: failed
                .into_iter()
                .map(|f| pb::AdmissionRuleFailure {
                    reason: f.reason.to_owned(),
                    message: f.message,
                    metadata: f.metadata.into_iter().collect(),
                })
                .collect(),
            check_time: Some(ts(self.now())),
        })
    }

    pub async fn open_supplier_program(
        &self,
        subject: Subject,
        req: pb::OpenSupplierProgramRequest,
    ) -> Result<pb::OpenSupplierProgramResponse, Status> {
        let mut v = FieldViolations::new();
        v.request_id(&req.request_id);
        let account_id = v.uuid("account_id", &req.account_id);
        let program = v
            .enum_value::<pb::AdmissionProgram>("program", req.program)
            .and_then(program_from_pb);
        if program == Some(Program::CrossBorderPay) && !req.agreement_accepted {
            v.add(
                "agreement_accepted",
                "must be true: opening cross-border pay signs its agreement",
            );
        }
        v.finish_in(DOMAIN)?;
        let (account_id, program) = (checked(account_id)?, checked(program)?);
        {
            let mut conn = self.pool.acquire().await.map_err(db)?;
            self.authorize(&mut conn, subject, account_id).await?;
        }
        let (mut tx, key) = match self
            .start("OpenSupplierProgram", &req.request_id, &req)
            .await?
        {
            Started::Replay(answer) => return answer,
            Started::Fresh(tx, key) => (tx, key),
        };
        let result = async {
            let now = self.now();
            let mut row = self.load_profile(&mut tx, account_id, true).await?;
            let subject_name = format!("supplier/{account_id}");
            if program == Program::CrossBorderPay {
                // Signing needs TrustPass; the other rule (enabled) is what signing sets.
                if !row.trustpass_active {
                    return Err(self.precondition(
                        reasons::NOT_TRUSTPASS,
                        subject_name,
                        admission::NOT_TRUSTPASS_MESSAGE,
                    ));
                }
                if !row.cross_border_pay_enabled {
                    row.cross_border_pay_enabled = true;
                    store::update(&mut tx, &row, now).await.map_err(db)?;
                }
            }
            let decided = self.admission(&row, program)?;
            if !decided.admitted {
                let mut details = tonic_types::ErrorDetails::with_error_info(
                    reasons::SUPPLIER_NOT_ADMITTED,
                    self.errors.0,
                    std::collections::HashMap::new(),
                );
                for rule in &decided.failed_rules {
                    details.add_precondition_failure_violation(
                        rule.reason.clone(),
                        subject_name.clone(),
                        rule.message.clone(),
                    );
                }
                let reasons: Vec<&str> = decided
                    .failed_rules
                    .iter()
                    .map(|r| r.reason.as_str())
                    .collect();
                return Err(<Status as tonic_types::StatusExt>::with_error_details(
                    Code::FailedPrecondition,
                    format!("not admitted: {}", reasons.join(", ")),
                    details,
                ));
            }
            store::open_program(&mut tx, account_id, program.as_str(), now)
                .await
                .map_err(db)?;
            events::record(
                &mut tx,
                NewEvent::new(account_id, EventType::SupplierProfileUpdated, now)
                    .actor(Some(account_id))
                    .detail("opened_program", program.as_str()),
            )
            .await
            .map_err(db)?;
            let row = self.load_profile(&mut tx, account_id, false).await?;
            Ok(pb::OpenSupplierProgramResponse {
                supplier_profile: Some(convert::profile(&row)?),
                admission: Some(decided),
            })
        }
        .await;
        outcome::finish(tx, key, result, None).await
    }
}

/// A paid member with TrustPass (the one enabled for cross-border pay by default).
fn paid_trustpass(row: &ProfileRow) -> bool {
    row.trustpass_active && Membership::parse(&row.membership) == Some(Membership::Paid)
}
