//! RegisterAccount and GetAccount.

use kuajing_platform::error::internal;
use kuajing_proto::identity::v1 as pb;
use kuajing_proto::reasons::identity as reasons;
use tonic::{Code, Status};
use uuid::Uuid;

use super::convert::{self, account_type_from_pb};
use super::{DOMAIN, Started, State, Subject, checked, db};
use crate::domain::account::{Role, validate_display_name};
use crate::domain::events::EventType;
use crate::domain::{account::AccountType, contact, member_name, password, region};
use crate::outcome;
use crate::store::accounts::{self, NewAccount};
use crate::store::events::{self, NewEvent};
use crate::store::supplier;
use kuajing_platform::FieldViolations;

impl State {
    pub async fn register_account(
        &self,
        _subject: Subject,
        req: pb::RegisterAccountRequest,
    ) -> Result<pb::RegisterAccountResponse, Status> {
        let mut v = FieldViolations::new();
        v.request_id(&req.request_id);
        v.check("member_name", member_name::validate(&req.member_name));
        let account_type = v
            .enum_value::<pb::AccountType>("account_type", req.account_type)
            .and_then(account_type_from_pb);
        let role = match pb::AccountRole::try_from(req.role) {
            Ok(pb::AccountRole::Buyer) => Some(Role::Buyer),
            Ok(pb::AccountRole::Supplier) => Some(Role::Supplier),
            Ok(pb::AccountRole::Operator) => {
                v.add(
                    "role",
                    "OPERATOR is granted by configuration only; register as BUYER or SUPPLIER",
                );
                None
            }
            Ok(pb::AccountRole::Unspecified) => {
                v.add("role", "is required (BUYER or SUPPLIER)");
                None
            }
            Err(_) => {
                v.add("role", format!("unknown value {}", req.role));
                None
            }
        };
        v.check("region_code", region::validate(&req.region_code));
        v.check("display_name", validate_display_name(&req.display_name));
        if req.email.is_empty() && req.mobile.is_empty() {
            v.add("email", "at least one of email and mobile is required");
            v.add("mobile", "at least one of email and mobile is required");
        }
        if !req.email.is_empty() {
            v.check("email", contact::validate_email(&req.email));
        }
        if !req.mobile.is_empty() {
            v.check("mobile", contact::validate_mobile(&req.mobile));
        }
        if let Err(rule) = password::check(&req.password, &req.member_name, &req.email, &req.mobile)
        {
            v.named(reasons::PASSWORD_TOO_WEAK, "password", rule.description());
        }
        v.finish_in(DOMAIN)?;
        let (account_type, role) = (checked(account_type)?, checked(role)?);

        let (mut tx, key) = match self.start("RegisterAccount", &req.request_id, &req).await? {
            Started::Replay(answer) => return answer,
            Started::Fresh(tx, key) => (tx, key),
        };
        let result = self.register_in(&mut tx, &req, account_type, role).await;
        outcome::finish(tx, key, result, None).await
    }

    async fn register_in(
        &self,
        tx: &mut sqlx::PgConnection,
        req: &pb::RegisterAccountRequest,
        account_type: AccountType,
        role: Role,
    ) -> Result<pb::RegisterAccountResponse, Status> {
        let secret = req.password.clone();
        let password_hash = self
            .hasher
            .run(move |h| h.hash_password(&secret))
            .await
            .and_then(|r| r)
            .map_err(internal)?;
        let now = self.now();
        let account_id = Uuid::now_v7();
        let name_key = member_name::key(&req.member_name);
        let email = (!req.email.is_empty()).then_some(req.email.as_str());
        let email_key = email.map(contact::email_key);
        let mobile = (!req.mobile.is_empty()).then_some(req.mobile.as_str());
        let inserted = accounts::insert(
            tx,
            &NewAccount {
                account_id,
                member_name: &req.member_name,
                member_name_key: &name_key,
                account_type: account_type.as_str(),
                role: role.as_str(),
                region_code: &req.region_code,
                display_name: &req.display_name,
                email,
                email_key: email_key.as_deref(),
                mobile,
                password_hash: &password_hash,
                now,
            },
        )
        .await
        .map_err(db)?;
        if !inserted {
            let field = accounts::taken(tx, &name_key, email_key.as_deref(), mobile)
                .await
                .map_err(db)?;
            let (reason, message) = match field {
                Some("member_name") => (reasons::MEMBER_NAME_TAKEN, "the member name is taken"),
                Some("email") => (
                    reasons::EMAIL_TAKEN,
                    "the email is registered to another account",
                ),
                Some("mobile") => (
                    reasons::MOBILE_TAKEN,
                    "the mobile is registered to another account",
                ),
                _ => return Err(internal("account insert conflicted with nothing")),
            };
            return Err(self.refuse_with(
                Code::AlreadyExists,
                reason,
                message,
                &[("field", field.unwrap_or_default().to_owned())],
            ));
        }
        if role == Role::Supplier {
            // A business supplier's company is itself; its display name names it.
            let company_name = match account_type {
                AccountType::Business => req.display_name.as_str(),
                AccountType::Personal => "",
            };
            supplier::insert(tx, account_id, Uuid::now_v7(), company_name, now)
                .await
                .map_err(db)?;
        }
        events::record(
            tx,
            NewEvent::new(account_id, EventType::AccountRegistered, now)
                .detail("account_type", account_type.as_str())
                .detail("role", role.as_str()),
        )
        .await
        .map_err(db)?;
        let row = accounts::get(tx, account_id)
            .await
            .map_err(db)?
            .ok_or_else(|| internal("registered account not found"))?;
        Ok(pb::RegisterAccountResponse {
            account: Some(convert::account(&row)?),
        })
    }

    pub async fn get_account(
        &self,
        subject: Subject,
        req: pb::GetAccountRequest,
    ) -> Result<pb::GetAccountResponse, Status> {
        let mut v = FieldViolations::new();
        let account_id = v.uuid("account_id", &req.account_id);
        v.finish_in(DOMAIN)?;
        let account_id = checked(account_id)?;
        let mut conn = self.pool.acquire().await.map_err(db)?;
        self.authorize(&mut conn, subject, account_id).await?;
        let row = accounts::get(&mut conn, account_id)
            .await
            .map_err(db)?
            .ok_or_else(|| self.not_found("account", account_id))?;
        Ok(pb::GetAccountResponse {
            account: Some(convert::account(&row)?),
        })
    }
}
