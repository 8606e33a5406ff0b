//! Real-name verification: Submit, Get, List (operators) and Review (operators).

use kuajing_platform::error::internal;
use kuajing_platform::page::Cursor;
use kuajing_proto::identity::v1 as pb;
use kuajing_proto::reasons::identity as reasons;
use tonic::Status;
use uuid::Uuid;

use super::convert::{self, document_type_from_pb, subject_type_from_pb};
use super::{DOMAIN, Started, State, Subject, checked, db};
use crate::domain::account::{AccountType, RealNameStatus};
use crate::domain::events::EventType;
use crate::domain::real_name::{self, SubjectType};
use crate::outcome;
use crate::store::accounts;
use crate::store::events::{self, NewEvent};
use crate::store::linked;
use crate::store::real_name::{self as store, Filter, VerificationRow};
use kuajing_platform::FieldViolations;

/// A real-name submission's checked fields.
struct Submission {
    account_id: Uuid,
    subject_type: SubjectType,
    document_type: crate::domain::real_name::DocumentType,
    birth_date: Option<chrono::NaiveDate>,
    expire_date: Option<chrono::NaiveDate>,
}

/// Checks a submission's fields against the document rules (every violation at once):
/// a person's birth date and nationality, an enterprise's absence of both, the document
/// allowed for the subject, the photos.
fn check_submission(
    req: &pb::SubmitRealNameVerificationRequest,
    today: chrono::NaiveDate,
) -> Result<Submission, Status> {
    let mut v = FieldViolations::new();
    v.request_id(&req.request_id);
    let account_id = v.uuid("account_id", &req.account_id);
    let subject_type = v
        .enum_value::<pb::RealNameSubjectType>("subject_type", req.subject_type)
        .and_then(subject_type_from_pb);
    v.check(
        "legal_name",
        real_name::validate_legal_name(&req.legal_name),
    );
    let document_type = v
        .enum_value::<pb::IdentityDocumentType>("document_type", req.document_type)
        .and_then(document_type_from_pb);
    if let (Some(s), Some(d)) = (subject_type, document_type) {
        v.check("document_type", real_name::document_allowed(s, d));
    }
    v.check(
        "document_number",
        real_name::validate_document_number(&req.document_number),
    );
    v.check(
        "document_region_code",
        real_name::validate_region(&req.document_region_code),
    );
    let mut birth_date = None;
    match subject_type {
        Some(s) if s.is_person() => {
            birth_date = v.check(
                "birth_date",
                real_name::validate_birth_date(&req.birth_date, today),
            );
            v.check(
                "nationality_region_code",
                real_name::validate_region(&req.nationality_region_code),
            );
        }
        Some(_) => {
            if !req.birth_date.is_empty() {
                v.add("birth_date", "must be empty for an ENTERPRISE");
            }
            if !req.nationality_region_code.is_empty() {
                v.add("nationality_region_code", "must be empty for an ENTERPRISE");
            }
        }
        None => {}
    }
    let expire_date = if req.document_expire_date.is_empty() {
        None
    } else {
        v.check(
            "document_expire_date",
            real_name::validate_expire_date(&req.document_expire_date, today),
        )
    };
    for (index, problem) in real_name::validate_photo_refs(&req.document_photo_refs) {
        match index {
            Some(i) => v.add(format!("document_photo_refs[{i}]"), problem),
            None => v.add("document_photo_refs", problem),
        }
    }
    v.finish_in(DOMAIN)?;
    Ok(Submission {
        account_id: checked(account_id)?,
        subject_type: checked(subject_type)?,
        document_type: checked(document_type)?,
        birth_date,
        expire_date,
    })
}

impl State {
    pub async fn submit_real_name_verification(
        &self,
        subject: Subject,
        req: pb::SubmitRealNameVerificationRequest,
    ) -> Result<pb::SubmitRealNameVerificationResponse, Status> {
        let Submission {
            account_id,
            subject_type,
            document_type,
            birth_date,
            expire_date,
        } = check_submission(&req, self.now().date_naive())?;
        if subject.0.is_some_and(|s| s != account_id) {
            return Err(self.not_owner());
        }

        let (mut tx, key) = match self
            .start("SubmitRealNameVerification", &req.request_id, &req)
            .await?
        {
            Started::Replay(answer) => return answer,
            Started::Fresh(tx, key) => (tx, key),
        };
        let result = async {
            let now = self.now();
            let account = accounts::get_for_update(&mut tx, account_id)
                .await
                .map_err(db)?
                .ok_or_else(|| self.not_found("account", account_id))?;
            let account_type = AccountType::parse(&account.account_type)
                .ok_or_else(|| internal("stored account type"))?;
            if let Err(e) = real_name::subject_allowed(account_type, subject_type) {
                let mut v = FieldViolations::new();
                v.add("subject_type", e);
                v.finish_in(DOMAIN)?;
            }
            let latest = store::latest(&mut tx, account_id).await.map_err(db)?;
            let latest_status = latest
                .as_ref()
                .and_then(|l| RealNameStatus::parse(&l.status));
            if let Err(reason) = real_name::may_submit(latest_status) {
                let message = if latest_status == Some(RealNameStatus::Pending) {
                    "a verification is already awaiting review"
                } else {
                    "the account is already verified"
                };
                return Err(self.precondition(reason, format!("account/{account_id}"), message));
            }
            let id = Uuid::now_v7();
            let row = VerificationRow {
                real_name_verification_id: id,
                account_id,
                subject_type: subject_type.as_str().to_owned(),
                legal_name: req.legal_name.clone(),
                document_type: document_type.as_str().to_owned(),
                document_number_masked: real_name::mask_document_number(&req.document_number),
                document_number_sealed: self
                    .secrets
                    .seal_document_number(id, &req.document_number)
                    .map_err(internal)?,
                document_region_code: req.document_region_code.clone(),
                birth_date,
                nationality_region_code: if subject_type == SubjectType::Enterprise {
                    String::new()
                } else {
                    req.nationality_region_code.clone()
                },
                document_expire_date: expire_date,
                document_photo_refs: req.document_photo_refs.clone(),
                status: RealNameStatus::Pending.as_str().to_owned(),
                rejection_reason: String::new(),
                reviewer_account_id: None,
                created_at: now,
                review_time: None,
            };
            store::insert(&mut tx, &row).await.map_err(db)?;
            accounts::set_real_name_status(
                &mut tx,
                account_id,
                RealNameStatus::Pending.as_str(),
                now,
            )
            .await
            .map_err(db)?;
            events::record(
                &mut tx,
                NewEvent::new(account_id, EventType::RealNameSubmitted, now)
                    .actor(Some(account_id))
                    .detail("real_name_verification_id", id),
            )
            .await
            .map_err(db)?;
            Ok(pb::SubmitRealNameVerificationResponse {
                real_name_verification: Some(convert::verification(&row)?),
            })
        }
        .await;
        outcome::finish(tx, key, result, None).await
    }

    pub async fn get_real_name_verification(
        &self,
        subject: Subject,
        req: pb::GetRealNameVerificationRequest,
    ) -> Result<pb::GetRealNameVerificationResponse, Status> {
        use pb::get_real_name_verification_request::Key;
        let mut v = FieldViolations::new();
        enum By {
            Id(Uuid),
            Account(Uuid),
        }
        let key = match &req.key {
            Some(Key::RealNameVerificationId(id)) => {
                v.uuid("real_name_verification_id", id).map(By::Id)
            }
            Some(Key::AccountId(id)) => v.uuid("account_id", id).map(By::Account),
            None => {
                v.add(
                    "key",
                    "one of real_name_verification_id or account_id is required",
                );
                None
            }
        };
        v.finish_in(DOMAIN)?;
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let row = match checked(key)? {
            By::Id(id) => {
                let row = store::get(&mut conn, id, false)
                    .await
                    .map_err(db)?
                    .ok_or_else(|| self.not_found("real-name verification", id))?;
                self.authorize(&mut conn, subject, row.account_id).await?;
                row
            }
            By::Account(account_id) => {
                self.authorize(&mut conn, subject, account_id).await?;
                store::latest(&mut conn, account_id)
                    .await
                    .map_err(db)?
                    .ok_or_else(|| {
                        self.not_found("real-name verification", format!("account/{account_id}"))
                    })?
            }
        };
        Ok(pb::GetRealNameVerificationResponse {
            real_name_verification: Some(convert::verification(&row)?),
        })
    }

    pub async fn list_real_name_verifications(
        &self,
        subject: Subject,
        req: pb::ListRealNameVerificationsRequest,
    ) -> Result<pb::ListRealNameVerificationsResponse, Status> {
        let mut v = FieldViolations::new();
        let account_id = if req.account_id.is_empty() {
            None
        } else {
            v.uuid("account_id", &req.account_id)
        };
        let status = match pb::RealNameStatus::try_from(req.status) {
            Ok(pb::RealNameStatus::Unspecified) => None,
            Ok(pb::RealNameStatus::Pending) => Some(RealNameStatus::Pending),
            Ok(pb::RealNameStatus::Verified) => Some(RealNameStatus::Verified),
            Ok(pb::RealNameStatus::Rejected) => Some(RealNameStatus::Rejected),
            _ => {
                v.add(
                    "status",
                    "must be PENDING, VERIFIED or REJECTED (or unset for all)",
                );
                None
            }
        };
        let (from, until) = v.time_range("create_time_range", req.create_time_range.as_ref());
        let page = v.page(req.page.as_ref());
        v.finish_in(DOMAIN)?;
        let mut conn = self.pool.acquire().await.map_err(db)?;
        self.operator(&mut conn, subject).await?;
        let filter = Filter {
            account_id,
            status: status.map(|s| s.as_str().to_owned()),
            from,
            until,
            // The review queue is worked oldest first.
            oldest_first: status == Some(RealNameStatus::Pending),
        };
        let mut rows = store::list(&mut conn, &filter, page.after, page.fetch_limit())
            .await
            .map_err(db)?;
        let page_response = page.finish(&mut rows, |r| Cursor {
            time: r.created_at,
            id: r.real_name_verification_id,
        });
        Ok(pb::ListRealNameVerificationsResponse {
            real_name_verifications: rows
                .iter()
                .map(convert::verification)
                .collect::<Result<_, _>>()?,
            page: Some(page_response),
        })
    }

    pub async fn review_real_name_verification(
        &self,
        subject: Subject,
        req: pb::ReviewRealNameVerificationRequest,
    ) -> Result<pb::ReviewRealNameVerificationResponse, Status> {
        let mut v = FieldViolations::new();
        v.request_id(&req.request_id);
        let id = v.uuid("real_name_verification_id", &req.real_name_verification_id);
        let decision = v.enum_value::<pb::ReviewDecision>("decision", req.decision);
        match decision {
            Some(pb::ReviewDecision::Reject) => {
                v.check(
                    "rejection_reason",
                    real_name::validate_rejection_reason(&req.rejection_reason),
                );
            }
            Some(_) if !req.rejection_reason.is_empty() => {
                v.add("rejection_reason", "must be empty when approving");
            }
            _ => {}
        }
        v.finish_in(DOMAIN)?;
        let (id, decision) = (checked(id)?, checked(decision)?);
        let operator = {
            let mut conn = self.pool.acquire().await.map_err(db)?;
            self.operator(&mut conn, subject).await?
        };

        let (mut tx, key) = match self
            .start("ReviewRealNameVerification", &req.request_id, &req)
            .await?
        {
            Started::Replay(answer) => return answer,
            Started::Fresh(tx, key) => (tx, key),
        };
        let result = async {
            let now = self.now();
            let mut row = store::get(&mut tx, id, true)
                .await
                .map_err(db)?
                .ok_or_else(|| self.not_found("real-name verification", id))?;
            if row.status != RealNameStatus::Pending.as_str() {
                return Err(self.precondition(
                    reasons::REAL_NAME_NOT_PENDING,
                    format!("real_name_verification/{id}"),
                    format!("the verification was already decided ({})", row.status),
                ));
            }
            let status = if decision == pb::ReviewDecision::Approve {
                RealNameStatus::Verified
            } else {
                RealNameStatus::Rejected
            };
            store::review(
                &mut tx,
                id,
                status.as_str(),
                &req.rejection_reason,
                Some(operator),
                now,
            )
            .await
            .map_err(db)?;
            accounts::set_real_name_status(&mut tx, row.account_id, status.as_str(), now)
                .await
                .map_err(db)?;
            if status == RealNameStatus::Verified {
                linked::verify_all(&mut tx, row.account_id, now)
                    .await
                    .map_err(db)?;
            }
            events::record(
                &mut tx,
                NewEvent::new(row.account_id, EventType::RealNameReviewed, now)
                    .actor(Some(operator))
                    .detail("real_name_verification_id", id)
                    .detail("status", status.as_str())
                    .detail("rejection_reason", &req.rejection_reason),
            )
            .await
            .map_err(db)?;
            row.status = status.as_str().to_owned();
            row.rejection_reason = req.rejection_reason.clone();
            row.reviewer_account_id = Some(operator);
            row.review_time = Some(now);
            Ok(pb::ReviewRealNameVerificationResponse {
                real_name_verification: Some(convert::verification(&row)?),
            })
        }
        .await;
        outcome::finish(tx, key, result, None).await
    }
}
