//! Marketplace account bindings: Bind, Unbind, Get and List.

use kuajing_platform::error::internal;
use kuajing_platform::page::Cursor;
use kuajing_proto::identity::v1 as pb;
use kuajing_proto::reasons::identity as reasons;
use tonic::{Code, Status};
use uuid::Uuid;

use super::convert::{self, link_status_from_pb, marketplace_from_pb};
use super::{DOMAIN, Started, State, Subject, checked, db};
use crate::domain::account::{AccountType, RealNameStatus};
use crate::domain::events::EventType;
use crate::domain::linked::{self as rules, LinkStatus, Marketplace};
use crate::domain::member_proof;
use crate::outcome;
use crate::store::accounts;
use crate::store::events::{self, NewEvent};
use crate::store::linked::{self as store, LinkedRow};
use kuajing_platform::FieldViolations;

impl State {
    fn linked_not_found(&self, name: impl ToString) -> Status {
        self.not_found_as(reasons::LINKED_ACCOUNT_NOT_FOUND, "linked account", name)
    }

    /// Refuses a binding the marketplace has not vouched for (see
    /// [`crate::domain::member_proof`]).
    fn check_member_proof(
        &self,
        req: &pb::BindMarketplaceAccountRequest,
        marketplace: Marketplace,
        account_id: Uuid,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), Status> {
        let keys: Vec<_> = (self.settings.marketplace_keys.iter())
            .filter(|(m, _)| *m == marketplace)
            .map(|(_, key)| *key)
            .collect();
        if keys.is_empty() {
            return Err(self.refuse(
                Code::FailedPrecondition,
                reasons::MARKETPLACE_PROOF_UNAVAILABLE,
                format!(
                    "no key verifies {} member proofs here (KJ_IDENTITY_MARKETPLACE_KEYS): \
                     none of its members can be bound",
                    marketplace.as_str()
                ),
            ));
        }
        member_proof::verify(
            &keys,
            &req.member_proof,
            marketplace,
            &req.external_member_id,
            account_id,
            now.timestamp(),
        )
        .map_err(|why| {
            self.refuse(
                Code::PermissionDenied,
                reasons::MEMBER_PROOF_INVALID,
                format!("the member proof does not prove this binding: {why}"),
            )
        })
    }

    pub async fn bind_marketplace_account(
        &self,
        subject: Subject,
        req: pb::BindMarketplaceAccountRequest,
    ) -> Result<pb::BindMarketplaceAccountResponse, Status> {
        let mut v = FieldViolations::new();
        v.request_id(&req.request_id);
        let account_id = v.uuid("account_id", &req.account_id);
        let marketplace = v
            .enum_value::<pb::Marketplace>("marketplace", req.marketplace)
            .and_then(marketplace_from_pb);
        v.check(
            "external_member_id",
            rules::validate_external_member_id(&req.external_member_id),
        );
        let external_type = match pb::AccountType::try_from(req.external_account_type) {
            Ok(t) => convert::account_type_from_pb(t),
            Err(_) => {
                v.add(
                    "external_account_type",
                    format!("unknown value {}", req.external_account_type),
                );
                None
            }
        };
        if req.member_proof.is_empty() {
            v.add(
                "member_proof",
                "is required: the marketplace's proof that the person controls the member",
            );
        }
        v.finish_in(DOMAIN)?;
        let (account_id, marketplace) = (checked(account_id)?, checked(marketplace)?);
        if subject.0.is_some_and(|s| s != account_id) {
            return Err(self.not_owner());
        }

        let (mut tx, key) = match self
            .start("BindMarketplaceAccount", &req.request_id, &req)
            .await?
        {
            Started::Replay(answer) => return answer,
            Started::Fresh(tx, key) => (tx, key),
        };
        let result = async {
            let now = self.now();
            self.check_member_proof(&req, marketplace, account_id, now)?;
            // Locked, so a concurrent real-name review sees this binding (or we see it).
            let account = accounts::get_for_update(&mut tx, account_id)
                .await
                .map_err(db)?
                .ok_or_else(|| self.not_found("account", account_id))?;
            if account.account_type != AccountType::Personal.as_str() {
                return Err(self.precondition(
                    reasons::ACCOUNT_NOT_PERSONAL,
                    format!("account/{account_id}"),
                    "only personal accounts hold marketplace bindings",
                ));
            }
            let real_name = RealNameStatus::parse(&account.real_name_status)
                .ok_or_else(|| internal("stored real-name status"))?;
            let status = rules::status_on_bind(real_name);
            let row = LinkedRow {
                linked_account_id: Uuid::now_v7(),
                account_id,
                marketplace: marketplace.as_str().to_owned(),
                external_member_id: req.external_member_id.clone(),
                external_account_type: external_type.map(|t| t.as_str().to_owned()),
                status: status.as_str().to_owned(),
                created_at: now,
                verify_time: (status == LinkStatus::BoundVerified).then_some(now),
                unbind_time: None,
                unbind_reason: String::new(),
            };
            if !store::insert(&mut tx, &row).await.map_err(db)? {
                let existing =
                    store::current(&mut tx, marketplace.as_str(), &req.external_member_id)
                        .await
                        .map_err(db)?;
                // Another account's binding id is not the caller's business.
                let own: Vec<(&str, String)> = existing
                    .filter(|e| e.account_id == account_id)
                    .map(|e| vec![("linked_account_id", e.linked_account_id.to_string())])
                    .unwrap_or_default();
                return Err(self.refuse_with(
                    Code::AlreadyExists,
                    reasons::MARKETPLACE_ACCOUNT_ALREADY_BOUND,
                    "the marketplace account is already bound",
                    &own,
                ));
            }
            events::record(
                &mut tx,
                NewEvent::new(account_id, EventType::MarketplaceAccountBound, now)
                    .actor(Some(subject.0.unwrap_or(account_id)))
                    .detail("linked_account_id", row.linked_account_id)
                    .detail("marketplace", marketplace.as_str())
                    .detail("external_member_id", &req.external_member_id),
            )
            .await
            .map_err(db)?;
            Ok(pb::BindMarketplaceAccountResponse {
                linked_account: Some(convert::linked(&row)?),
            })
        }
        .await;
        outcome::finish(tx, key, result, None).await
    }

    pub async fn unbind_marketplace_account(
        &self,
        subject: Subject,
        req: pb::UnbindMarketplaceAccountRequest,
    ) -> Result<pb::UnbindMarketplaceAccountResponse, Status> {
        let mut v = FieldViolations::new();
        v.request_id(&req.request_id);
        let id = v.uuid("linked_account_id", &req.linked_account_id);
        v.check("reason", rules::validate_unbind_reason(&req.reason));
        v.finish_in(DOMAIN)?;
        let id = checked(id)?;

        let (mut tx, key) = match self
            .start("UnbindMarketplaceAccount", &req.request_id, &req)
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
                .ok_or_else(|| self.not_found("linked account", id))?;
            self.authorize(&mut tx, subject, row.account_id).await?;
            if row.status == LinkStatus::Unbound.as_str() {
                return Err(self.precondition(
                    reasons::LINKED_ACCOUNT_ALREADY_UNBOUND,
                    format!("linked_account/{id}"),
                    "the marketplace account is already unbound",
                ));
            }
            let actor = subject.0.unwrap_or(row.account_id);
            store::unbind(&mut tx, id, &req.reason, Some(actor), now)
                .await
                .map_err(db)?;
            events::record(
                &mut tx,
                NewEvent::new(row.account_id, EventType::MarketplaceAccountUnbound, now)
                    .actor(Some(actor))
                    .detail("linked_account_id", id)
                    .detail("reason", &req.reason),
            )
            .await
            .map_err(db)?;
            row.status = LinkStatus::Unbound.as_str().to_owned();
            row.unbind_time = Some(now);
            row.unbind_reason = req.reason.clone();
            Ok(pb::UnbindMarketplaceAccountResponse {
                linked_account: Some(convert::linked(&row)?),
            })
        }
        .await;
        outcome::finish(tx, key, result, None).await
    }

    pub async fn get_linked_account(
        &self,
        subject: Subject,
        req: pb::GetLinkedAccountRequest,
    ) -> Result<pb::GetLinkedAccountResponse, Status> {
        use pb::get_linked_account_request::Key;
        let mut v = FieldViolations::new();
        enum By {
            Id(Uuid),
            Member(&'static str, String),
        }
        let by = match &req.key {
            Some(Key::LinkedAccountId(id)) => v.uuid("linked_account_id", id).map(By::Id),
            Some(Key::MarketplaceMember(m)) => {
                let marketplace = v
                    .enum_value::<pb::Marketplace>("marketplace_member.marketplace", m.marketplace)
                    .and_then(marketplace_from_pb);
                v.check(
                    "marketplace_member.external_member_id",
                    rules::validate_external_member_id(&m.external_member_id),
                );
                marketplace.map(|mp| By::Member(mp.as_str(), m.external_member_id.clone()))
            }
            None => {
                v.add(
                    "key",
                    "one of linked_account_id or marketplace_member is required",
                );
                None
            }
        };
        v.finish_in(DOMAIN)?;
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let row = match checked(by)? {
            By::Id(id) => store::get(&mut conn, id, false)
                .await
                .map_err(db)?
                .ok_or_else(|| self.linked_not_found(id))?,
            By::Member(marketplace, member) => store::current(&mut conn, marketplace, &member)
                .await
                .map_err(db)?
                .ok_or_else(|| self.linked_not_found(format!("{marketplace}/{member}")))?,
        };
        self.authorize(&mut conn, subject, row.account_id).await?;
        Ok(pb::GetLinkedAccountResponse {
            linked_account: Some(convert::linked(&row)?),
        })
    }

    pub async fn list_linked_accounts(
        &self,
        subject: Subject,
        req: pb::ListLinkedAccountsRequest,
    ) -> Result<pb::ListLinkedAccountsResponse, Status> {
        let mut v = FieldViolations::new();
        let account_id = v.uuid("account_id", &req.account_id);
        let status = match pb::LinkStatus::try_from(req.status) {
            Ok(s) => link_status_from_pb(s),
            Err(_) => {
                v.add("status", format!("unknown value {}", req.status));
                None
            }
        };
        let page = v.page(req.page.as_ref());
        v.finish_in(DOMAIN)?;
        let account_id = checked(account_id)?;
        let mut conn = self.pool.acquire().await.map_err(db)?;
        self.authorize(&mut conn, subject, account_id).await?;
        let mut rows = store::list(
            &mut conn,
            account_id,
            status.map(LinkStatus::as_str),
            page.after,
            page.fetch_limit(),
        )
        .await
        .map_err(db)?;
        let page_response = page.finish(&mut rows, |r| Cursor {
            time: r.created_at,
            id: r.linked_account_id,
        });
        Ok(pb::ListLinkedAccountsResponse {
            linked_accounts: rows.iter().map(convert::linked).collect::<Result<_, _>>()?,
            page: Some(page_response),
        })
    }
}
