//! Verification codes: SendVerificationCode, VerifyCode, ConfirmContact, and the code check
//! SetPaymentPin shares.

use kuajing_platform::FieldViolations;
use kuajing_platform::error::internal;
use kuajing_proto::identity::v1 as pb;
use kuajing_proto::reasons::identity as reasons;
use sqlx::PgConnection;
use tonic::{Code, Status};
use uuid::Uuid;

use super::convert::{self, channel_from_pb, purpose_from_pb};
use super::{DOMAIN, Started, State, Subject, checked, db};
use crate::domain::code::{self, Channel, Purpose, WrongCode};
use crate::domain::events::EventType;
use crate::domain::text;
use crate::outcome;
use crate::secrets;
use crate::sender::Message;
use crate::store::accounts::{self, AccountRow};
use crate::store::codes::{self as store, ChallengeRow};
use crate::store::events::{self, NewEvent};

/// A code presented for a challenge.
pub struct CodeAttempt<'a> {
    /// The account the challenge must belong to.
    pub account_id: Uuid,
    /// The challenge.
    pub challenge_id: Uuid,
    /// The code entered.
    pub code: &'a str,
    /// The purpose the caller consumes it for.
    pub purpose: Purpose,
    /// The reference it must be bound to.
    pub reference: &'a str,
    /// The account, when the code confirms its contact.
    pub contact: Option<&'a AccountRow>,
}

/// The address of `channel` on the account, and whether it is verified.
pub fn contact_of(account: &AccountRow, channel: Channel) -> Option<(&str, bool)> {
    match channel {
        Channel::Email => account
            .email
            .as_deref()
            .map(|e| (e, account.email_verified)),
        Channel::Sms => account
            .mobile
            .as_deref()
            .map(|m| (m, account.mobile_verified)),
    }
}

fn check_reference(v: &mut FieldViolations, purpose: Option<Purpose>, reference: &str) {
    match purpose {
        Some(p) if p.needs_reference() => {
            v.check(
                "reference",
                text::bounded(reference, 1, code::REFERENCE_MAX),
            );
        }
        Some(_) if !reference.is_empty() => {
            v.add("reference", "must be empty for this purpose");
        }
        _ => {}
    }
}

impl State {
    pub async fn send_verification_code(
        &self,
        subject: Subject,
        caller: Option<&str>,
        req: pb::SendVerificationCodeRequest,
    ) -> Result<pb::SendVerificationCodeResponse, Status> {
        let mut v = FieldViolations::new();
        v.request_id(&req.request_id);
        let account_id = v.uuid("account_id", &req.account_id);
        let channel = v
            .enum_value::<pb::VerificationChannel>("channel", req.channel)
            .and_then(channel_from_pb);
        let purpose = v
            .enum_value::<pb::VerificationPurpose>("purpose", req.purpose)
            .and_then(purpose_from_pb);
        check_reference(&mut v, purpose, &req.reference);
        if let Some(p) = purpose
            && p.sent_by_its_own_rpc()
        {
            v.named(
                reasons::PURPOSE_NOT_ALLOWED,
                "purpose",
                format!("{} codes are sent only by their own RPC", p.as_str()),
            );
        }
        v.finish_in(DOMAIN)?;
        let (account_id, channel, purpose) =
            (checked(account_id)?, checked(channel)?, checked(purpose)?);

        // Before login only contact confirmation may be sent; anything else needs the
        // account's own subject, except the mandate code authorization sends for the
        // mandate's owner from CreateMandate (it names no subject: only edge may).
        let authorization_for_mandate =
            purpose == Purpose::ActivateMandate && caller == Some("authorization");
        match subject.0 {
            Some(s) if s != account_id => return Err(self.not_owner()),
            None if purpose != Purpose::ConfirmContact && !authorization_for_mandate => {
                return Err(self.refuse(
                    Code::PermissionDenied,
                    reasons::NOT_OWNER,
                    "this purpose needs a kj-subject that owns the account",
                ));
            }
            _ => {}
        }

        let (mut tx, key) = match self
            .start("SendVerificationCode", &req.request_id, &req)
            .await?
        {
            Started::Replay(answer) => return answer,
            Started::Fresh(tx, key) => (tx, key),
        };
        let result = self
            .send_in(&mut tx, account_id, channel, purpose, &req.reference, None)
            .await;
        outcome::finish(tx, key, result, None).await
    }

    /// Sends a new code for `purpose` to the account's registered address on `channel`,
    /// or to `new_address` (a contact change), superseding the live one.
    pub(super) async fn send_in(
        &self,
        tx: &mut PgConnection,
        account_id: Uuid,
        channel: Channel,
        purpose: Purpose,
        reference: &str,
        new_address: Option<&str>,
    ) -> Result<pb::SendVerificationCodeResponse, Status> {
        let now = self.now();
        let policy = self.settings.codes;
        // Locking the account serialises sends, so two concurrent sends cannot both pass
        // the resend check.
        let account = accounts::get_for_update(tx, account_id)
            .await
            .map_err(db)?
            .ok_or_else(|| self.not_found("account", account_id))?;
        let subject = format!("account/{account_id}");
        let registered = match new_address {
            Some(address) => Some((address, false)),
            None => contact_of(&account, channel),
        };
        let Some((destination, verified)) = registered else {
            return Err(self.precondition(
                reasons::CONTACT_MISSING,
                subject,
                format!("the account has no {}", contact_name(channel)),
            ));
        };
        if purpose == Purpose::ConfirmContact && verified {
            return Err(self.precondition(
                reasons::CONTACT_ALREADY_VERIFIED,
                subject,
                format!("the {} is already verified", contact_name(channel)),
            ));
        }
        if purpose.needs_verified_contact() && !verified {
            return Err(self.precondition(
                reasons::CONTACT_NOT_VERIFIED,
                subject,
                format!("the {} must be verified first", contact_name(channel)),
            ));
        }
        let live = store::latest_pending(tx, account_id, purpose.as_str(), reference)
            .await
            .map_err(db)?
            .filter(|c| c.expire_at > now);
        if let Err(wait) = policy.may_resend(live.as_ref().map(|c| c.resend_at), now) {
            let live_id = live.map(|c| c.challenge_id.to_string()).unwrap_or_default();
            return Err(self.retry_later(
                reasons::RESEND_TOO_SOON,
                "a code was sent moments ago; wait before asking for another",
                wait,
                &[("challenge_id", live_id)],
            ));
        }
        store::supersede(tx, account_id, purpose.as_str(), reference, now)
            .await
            .map_err(db)?;

        let challenge_id = Uuid::now_v7();
        let code = secrets::random_code().map_err(internal)?;
        let row = ChallengeRow {
            challenge_id,
            account_id,
            channel: channel.as_str().to_owned(),
            purpose: purpose.as_str().to_owned(),
            reference: reference.to_owned(),
            destination: destination.to_owned(),
            code_hash: self.secrets.code_hash(challenge_id, &code).to_vec(),
            state: code::State::Pending.as_str().to_owned(),
            failed_attempts: 0,
            created_at: now,
            expire_at: now + policy.ttl,
            resend_at: now + policy.resend_after,
            consumed_at: None,
        };
        store::insert(tx, &row).await.map_err(db)?;
        let message = Message::render(
            challenge_id,
            channel,
            destination,
            purpose,
            &code,
            policy.ttl,
            now,
        );
        if let Err(e) = self.sender.send(tx, &message).await {
            tracing::warn!(error = %e, %challenge_id, "verification code sender failed");
            return Err(self.refuse(
                Code::Unavailable,
                reasons::SENDER_UNAVAILABLE,
                "the verification code could not be sent; try again",
            ));
        }
        events::record(
            tx,
            NewEvent::new(account_id, EventType::VerificationCodeSent, now)
                .actor(Some(account_id))
                .detail("challenge_id", challenge_id)
                .detail("channel", channel.as_str())
                .detail("purpose", purpose.as_str()),
        )
        .await
        .map_err(db)?;
        Ok(pb::SendVerificationCodeResponse {
            challenge: Some(convert::challenge(&row, policy.max_attempts, now)?),
        })
    }

    /// Checks a code against a challenge of the account for the purpose and reference,
    /// and consumes it. When `contact` is given (ConfirmContact), the challenge must have
    /// gone to the account's current address on its channel. A wrong code counts an
    /// attempt; the caller's transaction must commit for it to count (see `outcome`).
    pub async fn consume_code(
        &self,
        tx: &mut PgConnection,
        attempt: CodeAttempt<'_>,
    ) -> Result<ChallengeRow, Status> {
        let CodeAttempt {
            account_id,
            challenge_id,
            code: code_entered,
            purpose,
            reference,
            contact,
        } = attempt;
        let now = self.now();
        let policy = self.settings.codes;
        let mut row = store::get_for_update(tx, challenge_id, account_id)
            .await
            .map_err(db)?
            .ok_or_else(|| self.not_found("verification challenge", challenge_id))?;
        let subject = format!("challenge/{challenge_id}");
        if row.purpose != purpose.as_str() || row.reference != reference {
            return Err(self.precondition(
                reasons::CHALLENGE_MISMATCH,
                subject,
                format!(
                    "the challenge is not a {} challenge for this reference",
                    purpose.as_str()
                ),
            ));
        }
        if let Some(account) = contact {
            let channel = Channel::parse(&row.channel).ok_or_else(|| internal("stored channel"))?;
            let current = contact_of(account, channel).map(|(address, _)| address);
            if current != Some(row.destination.as_str()) {
                return Err(self.precondition(
                    reasons::CHALLENGE_MISMATCH,
                    subject,
                    "the contact changed after the code was sent",
                ));
            }
        }
        let state =
            code::State::parse(&row.state).ok_or_else(|| internal("stored challenge state"))?;
        if let Err(unusable) = code::usable(state, row.expire_at, now) {
            return Err(self.precondition(unusable.reason(), subject, unusable_message(unusable)));
        }
        if !self
            .secrets
            .code_matches(challenge_id, code_entered, &row.code_hash)
        {
            return Err(match policy.wrong(row.failed_attempts) {
                WrongCode::Invalid {
                    attempts,
                    remaining,
                } => {
                    store::record_wrong(tx, challenge_id, attempts, false)
                        .await
                        .map_err(db)?;
                    self.refuse_with(
                        Code::PermissionDenied,
                        reasons::CODE_INVALID,
                        "the code is wrong",
                        &[("attempts_remaining", remaining.to_string())],
                    )
                }
                WrongCode::Exhausted { attempts } => {
                    store::record_wrong(tx, challenge_id, attempts, true)
                        .await
                        .map_err(db)?;
                    events::record(
                        tx,
                        NewEvent::new(account_id, EventType::VerificationCodeExhausted, now)
                            .detail("challenge_id", challenge_id),
                    )
                    .await
                    .map_err(db)?;
                    self.precondition(
                        reasons::CODE_ATTEMPTS_EXHAUSTED,
                        subject,
                        "too many wrong codes; ask for a new one",
                    )
                }
            });
        }
        store::consume(tx, challenge_id, now).await.map_err(db)?;
        row.state = code::State::Consumed.as_str().to_owned();
        row.consumed_at = Some(now);
        Ok(row)
    }

    pub async fn verify_code(
        &self,
        subject: Subject,
        req: pb::VerifyCodeRequest,
    ) -> Result<pb::VerifyCodeResponse, Status> {
        let mut v = FieldViolations::new();
        v.request_id(&req.request_id);
        let account_id = v.uuid("account_id", &req.account_id);
        let challenge_id = v.uuid("challenge_id", &req.challenge_id);
        v.check("code", code::validate_code(&req.code));
        let purpose = v
            .enum_value::<pb::VerificationPurpose>("purpose", req.purpose)
            .and_then(purpose_from_pb);
        if let Some(p) = purpose
            && !p.verifiable_by_other_services()
        {
            v.named(
                reasons::PURPOSE_NOT_ALLOWED,
                "purpose",
                format!("{} codes are consumed only by their own RPC", p.as_str()),
            );
        }
        if req.reference.chars().count() > code::REFERENCE_MAX {
            v.add(
                "reference",
                format!("must be at most {} characters", code::REFERENCE_MAX),
            );
        }
        v.finish_in(DOMAIN)?;
        let (account_id, challenge_id, purpose) = (
            checked(account_id)?,
            checked(challenge_id)?,
            checked(purpose)?,
        );

        let (mut tx, key) = match self.start("VerifyCode", &req.request_id, &req).await? {
            Started::Replay(answer) => return answer,
            Started::Fresh(tx, key) => (tx, key),
        };
        let result = async {
            self.authorize(&mut tx, subject, account_id).await?;
            let attempt = CodeAttempt {
                account_id,
                challenge_id,
                code: &req.code,
                purpose,
                reference: &req.reference,
                contact: None,
            };
            let row = self.consume_code(&mut tx, attempt).await?;
            Ok(pb::VerifyCodeResponse {
                challenge: Some(convert::challenge(
                    &row,
                    self.settings.codes.max_attempts,
                    self.now(),
                )?),
            })
        }
        .await;
        outcome::finish(tx, key, result, None).await
    }

    pub async fn confirm_contact(
        &self,
        subject: Subject,
        req: pb::ConfirmContactRequest,
    ) -> Result<pb::ConfirmContactResponse, Status> {
        let mut v = FieldViolations::new();
        v.request_id(&req.request_id);
        let account_id = v.uuid("account_id", &req.account_id);
        let challenge_id = v.uuid("challenge_id", &req.challenge_id);
        v.check("code", code::validate_code(&req.code));
        v.finish_in(DOMAIN)?;
        let (account_id, challenge_id) = (checked(account_id)?, checked(challenge_id)?);
        if subject.0.is_some_and(|s| s != account_id) {
            return Err(self.not_owner());
        }

        let (mut tx, key) = match self.start("ConfirmContact", &req.request_id, &req).await? {
            Started::Replay(answer) => return answer,
            Started::Fresh(tx, key) => (tx, key),
        };
        let result = async {
            let now = self.now();
            let account = accounts::get_for_update(&mut tx, account_id)
                .await
                .map_err(db)?
                .ok_or_else(|| self.not_found("account", account_id))?;
            let attempt = CodeAttempt {
                account_id,
                challenge_id,
                code: &req.code,
                purpose: Purpose::ConfirmContact,
                reference: "",
                contact: Some(&account),
            };
            let row = self.consume_code(&mut tx, attempt).await?;
            let email = row.channel == Channel::Email.as_str();
            accounts::set_contact_verified(&mut tx, account_id, email, now)
                .await
                .map_err(db)?;
            events::record(
                &mut tx,
                NewEvent::new(account_id, EventType::ContactConfirmed, now)
                    .actor(Some(account_id))
                    .detail("channel", &row.channel),
            )
            .await
            .map_err(db)?;
            let account = accounts::get(&mut tx, account_id)
                .await
                .map_err(db)?
                .ok_or_else(|| internal("confirmed account vanished"))?;
            Ok(pb::ConfirmContactResponse {
                account: Some(convert::account(&account)?),
            })
        }
        .await;
        outcome::finish(tx, key, result, None).await
    }
}

fn contact_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => "email",
        Channel::Sms => "mobile",
    }
}

fn unusable_message(u: code::Unusable) -> &'static str {
    match u {
        code::Unusable::Expired => "the code has expired; ask for a new one",
        code::Unusable::AlreadyUsed => "the code was already used",
        code::Unusable::AttemptsExhausted => "too many wrong codes; ask for a new one",
        code::Unusable::Superseded => "a newer code was sent; use that one",
    }
}
