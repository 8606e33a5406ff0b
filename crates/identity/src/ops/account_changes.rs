//! A person changing their own account: the email or mobile (a code to the new address,
//! a notice to the old one), and the login password (reset by a code when forgotten, or
//! changed when signed in). Both password paths revoke every session.

use kuajing_platform::FieldViolations;
use kuajing_platform::error::internal;
use kuajing_proto::identity::v1 as pb;
use kuajing_proto::reasons::identity as reasons;
use sqlx::PgConnection;
use tonic::{Code, Status};
use uuid::Uuid;

use super::codes::{CodeAttempt, contact_of};
use super::convert::{self, channel_from_pb, ts};
use super::{DOMAIN, Started, State, Subject, checked, db};
use crate::domain::code::{self, Channel, Purpose};
use crate::domain::events::EventType;
use crate::domain::{contact, password};
use crate::outcome;
use crate::sender::Message;
use crate::store::accounts::{self, AccountRow};
use crate::store::codes as challenges;
use crate::store::events::{self, NewEvent};
use crate::store::sessions;

/// Longest login identifier (as Login).
const IDENTIFIER_MAX: usize = contact::EMAIL_MAX;

impl State {
    /// Only the account itself changes its contacts and password.
    fn own(&self, subject: &Subject, account_id: Uuid) -> Result<(), Status> {
        match subject.0 {
            Some(s) if s == account_id => Ok(()),
            _ => Err(self.not_owner()),
        }
    }

    fn taken(&self, channel: Channel) -> Status {
        let (reason, field) = match channel {
            Channel::Email => (reasons::EMAIL_TAKEN, "email"),
            Channel::Sms => (reasons::MOBILE_TAKEN, "mobile"),
        };
        self.refuse_with(
            Code::AlreadyExists,
            reason,
            format!("another account has this {field}"),
            &[("field", field.to_owned())],
        )
    }

    /// Hashes a password off the async threads.
    async fn hash(&self, password: &str) -> Result<String, Status> {
        let secret = password.to_owned();
        self.hasher
            .run(move |h| h.hash_password(&secret))
            .await
            .and_then(|r| r)
            .map_err(internal)
    }

    /// Stores the new password, ends every session, and logs why.
    async fn replace_password(
        &self,
        tx: &mut PgConnection,
        account: &AccountRow,
        new_password: &str,
        event: EventType,
    ) -> Result<i32, Status> {
        let now = self.now();
        let hash = self.hash(new_password).await?;
        accounts::set_password(tx, account.account_id, &hash, now)
            .await
            .map_err(db)?;
        let revoked = sessions::revoke_all(tx, account.account_id, event.as_str(), now)
            .await
            .map_err(db)?;
        events::record(
            tx,
            NewEvent::new(account.account_id, event, now)
                .actor(Some(account.account_id))
                .detail("revoked_session_count", revoked.len()),
        )
        .await
        .map_err(db)?;
        i32::try_from(revoked.len()).map_err(internal)
    }

    pub async fn start_contact_change(
        &self,
        subject: Subject,
        req: pb::StartContactChangeRequest,
    ) -> Result<pb::StartContactChangeResponse, Status> {
        let mut v = FieldViolations::new();
        v.request_id(&req.request_id);
        let account_id = v.uuid("account_id", &req.account_id);
        let channel = v
            .enum_value::<pb::VerificationChannel>("channel", req.channel)
            .and_then(channel_from_pb);
        match channel {
            Some(Channel::Email) => {
                v.check("new_address", contact::validate_email(&req.new_address));
            }
            Some(Channel::Sms) => {
                v.check("new_address", contact::validate_mobile(&req.new_address));
            }
            None => {}
        }
        v.finish_in(DOMAIN)?;
        let (account_id, channel) = (checked(account_id)?, checked(channel)?);
        self.own(&subject, account_id)?;

        let (mut tx, key) = match self
            .start("StartContactChange", &req.request_id, &req)
            .await?
        {
            Started::Replay(answer) => return answer,
            Started::Fresh(tx, key) => (tx, key),
        };
        let result = async {
            let account = accounts::get(&mut tx, account_id)
                .await
                .map_err(db)?
                .ok_or_else(|| self.not_found("account", account_id))?;
            let current = contact_of(&account, channel).map(|(address, _)| address);
            let same = match channel {
                Channel::Email => {
                    current.map(contact::email_key) == Some(contact::email_key(&req.new_address))
                }
                Channel::Sms => current == Some(req.new_address.as_str()),
            };
            if same {
                let mut v = FieldViolations::new();
                v.add("new_address", "is the account's current address");
                v.finish_in(DOMAIN)?;
            }
            let email = channel == Channel::Email;
            if accounts::contact_taken(&mut tx, account_id, email, &req.new_address)
                .await
                .map_err(db)?
            {
                return Err(self.taken(channel));
            }
            let sent = self
                .send_in(
                    &mut tx,
                    account_id,
                    channel,
                    Purpose::ChangeContact,
                    &req.new_address,
                    Some(&req.new_address),
                )
                .await?;
            Ok(pb::StartContactChangeResponse {
                challenge: sent.challenge,
            })
        }
        .await;
        outcome::finish(tx, key, result, None).await
    }

    pub async fn confirm_contact_change(
        &self,
        subject: Subject,
        req: pb::ConfirmContactChangeRequest,
    ) -> Result<pb::ConfirmContactChangeResponse, Status> {
        let mut v = FieldViolations::new();
        v.request_id(&req.request_id);
        let account_id = v.uuid("account_id", &req.account_id);
        let challenge_id = v.uuid("challenge_id", &req.challenge_id);
        v.check("code", code::validate_code(&req.code));
        v.finish_in(DOMAIN)?;
        let (account_id, challenge_id) = (checked(account_id)?, checked(challenge_id)?);
        self.own(&subject, account_id)?;

        let (mut tx, key) = match self
            .start("ConfirmContactChange", &req.request_id, &req)
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
            // The new address is the challenge's reference: the code confirms it alone.
            let pending = challenges::get_for_update(&mut tx, challenge_id, account_id)
                .await
                .map_err(db)?
                .ok_or_else(|| self.not_found("verification challenge", challenge_id))?;
            let channel =
                Channel::parse(&pending.channel).ok_or_else(|| internal("stored channel"))?;
            let row = self
                .consume_code(
                    &mut tx,
                    CodeAttempt {
                        account_id,
                        challenge_id,
                        code: &req.code,
                        purpose: Purpose::ChangeContact,
                        reference: &pending.reference,
                        contact: None,
                    },
                )
                .await?;
            let (email, new_address) = (channel == Channel::Email, row.reference.as_str());
            if accounts::contact_taken(&mut tx, account_id, email, new_address)
                .await
                .map_err(db)?
            {
                return Err(self.taken(channel));
            }
            accounts::set_contact(&mut tx, account_id, email, new_address, now)
                .await
                .map_err(db)?;
            if let Some((former, _)) = contact_of(&account, channel)
                && let Err(e) = self
                    .sender
                    .send(&mut tx, &Message::contact_replaced(channel, former, now))
                    .await
            {
                tracing::warn!(error = %e, %account_id, "the former contact could not be told");
                return Err(self.refuse(
                    Code::Unavailable,
                    reasons::SENDER_UNAVAILABLE,
                    "the former address could not be told of the change; try again",
                ));
            }
            events::record(
                &mut tx,
                NewEvent::new(account_id, EventType::ContactChanged, now)
                    .actor(Some(account_id))
                    .detail("channel", channel.as_str()),
            )
            .await
            .map_err(db)?;
            let account = accounts::get(&mut tx, account_id)
                .await
                .map_err(db)?
                .ok_or_else(|| internal("changed account vanished"))?;
            Ok(pb::ConfirmContactChangeResponse {
                account: Some(convert::account(&account)?),
            })
        }
        .await;
        outcome::finish(tx, key, result, None).await
    }

    pub async fn start_password_reset(
        &self,
        req: pb::StartPasswordResetRequest,
    ) -> Result<pb::StartPasswordResetResponse, Status> {
        let mut v = FieldViolations::new();
        v.request_id(&req.request_id);
        check_identifier(&mut v, &req.identifier);
        let channel = v
            .enum_value::<pb::VerificationChannel>("channel", req.channel)
            .and_then(channel_from_pb);
        v.finish_in(DOMAIN)?;
        let channel = checked(channel)?;

        let (mut tx, key) = match self
            .start("StartPasswordReset", &req.request_id, &req)
            .await?
        {
            Started::Replay(answer) => return answer,
            Started::Fresh(tx, key) => (tx, key),
        };
        let result = async {
            let account = self.account_named(&mut tx, &req.identifier).await?;
            let verified = account
                .as_ref()
                .and_then(|a| contact_of(a, channel))
                .is_some_and(|(_, verified)| verified);
            match account {
                Some(account) if verified => {
                    let sent = self
                        .send_in(
                            &mut tx,
                            account.account_id,
                            channel,
                            Purpose::ResetPassword,
                            "",
                            None,
                        )
                        .await?
                        .challenge
                        .ok_or_else(|| internal("a sent code without its challenge"))?;
                    Ok(pb::StartPasswordResetResponse {
                        challenge_id: sent.challenge_id,
                        expire_time: sent.expire_time,
                    })
                }
                // Nobody to send to: the same answer, so accounts can't be discovered here.
                _ => Ok(pb::StartPasswordResetResponse {
                    challenge_id: Uuid::now_v7().to_string(),
                    expire_time: Some(ts(self.now() + self.settings.codes.ttl)),
                }),
            }
        }
        .await;
        outcome::finish(tx, key, result, None).await
    }

    pub async fn reset_password(
        &self,
        req: pb::ResetPasswordRequest,
    ) -> Result<pb::ResetPasswordResponse, Status> {
        let mut v = FieldViolations::new();
        v.request_id(&req.request_id);
        check_identifier(&mut v, &req.identifier);
        let challenge_id = v.uuid("challenge_id", &req.challenge_id);
        v.check("code", code::validate_code(&req.code));
        if req.new_password.chars().count() > password::MAX_CHARS {
            v.add("new_password", "must be at most 128 characters");
        }
        v.finish_in(DOMAIN)?;
        let challenge_id = checked(challenge_id)?;

        let (mut tx, key) = match self.start("ResetPassword", &req.request_id, &req).await? {
            Started::Replay(answer) => return answer,
            Started::Fresh(tx, key) => (tx, key),
        };
        let result = async {
            let not_found = || self.not_found("verification challenge", challenge_id);
            let account = self
                .account_named(&mut tx, &req.identifier)
                .await?
                .ok_or_else(not_found)?;
            if challenges::get_for_update(&mut tx, challenge_id, account.account_id)
                .await
                .map_err(db)?
                .is_none()
            {
                return Err(not_found());
            }
            // The policy first: a weak password does not spend the code.
            check_policy(&account, &req.new_password)?;
            self.consume_code(
                &mut tx,
                CodeAttempt {
                    account_id: account.account_id,
                    challenge_id,
                    code: &req.code,
                    purpose: Purpose::ResetPassword,
                    reference: "",
                    contact: Some(&account),
                },
            )
            .await?;
            let revoked = self
                .replace_password(
                    &mut tx,
                    &account,
                    &req.new_password,
                    EventType::PasswordReset,
                )
                .await?;
            Ok(pb::ResetPasswordResponse {
                revoked_session_count: revoked,
            })
        }
        .await;
        outcome::finish(tx, key, result, None).await
    }

    pub async fn change_password(
        &self,
        subject: Subject,
        req: pb::ChangePasswordRequest,
    ) -> Result<pb::ChangePasswordResponse, Status> {
        let mut v = FieldViolations::new();
        v.request_id(&req.request_id);
        let account_id = v.uuid("account_id", &req.account_id);
        if req.current_password.is_empty() {
            v.add("current_password", "is required");
        }
        for (field, value) in [
            ("current_password", &req.current_password),
            ("new_password", &req.new_password),
        ] {
            if value.chars().count() > password::MAX_CHARS {
                v.add(field, "must be at most 128 characters");
            }
        }
        if !req.current_password.is_empty() && req.new_password == req.current_password {
            v.add("new_password", "must differ from the current password");
        }
        v.finish_in(DOMAIN)?;
        let account_id = checked(account_id)?;
        self.own(&subject, account_id)?;

        let (mut tx, key) = match self.start("ChangePassword", &req.request_id, &req).await? {
            Started::Replay(answer) => return answer,
            Started::Fresh(tx, key) => (tx, key),
        };
        let result = async {
            let now = self.now();
            let account = accounts::get_for_update(&mut tx, account_id)
                .await
                .map_err(db)?
                .ok_or_else(|| self.not_found("account", account_id))?;
            check_policy(&account, &req.new_password)?;
            // As at login: while locked the password is not even checked.
            let lockout = self.settings.login_lockout;
            if lockout.remaining(account.login_locked_until, now).is_some() {
                let until = account.login_locked_until.unwrap_or(now);
                return Err(self.login_locked(until, now));
            }
            let (entered, stored) = (req.current_password.clone(), account.password_hash.clone());
            let matches = self
                .hasher
                .run(move |h| h.verify_password(&entered, &stored))
                .await
                .map_err(internal)?;
            if !matches {
                return Err(self.wrong_password(&mut tx, &account, "", "").await);
            }
            let revoked = self
                .replace_password(
                    &mut tx,
                    &account,
                    &req.new_password,
                    EventType::PasswordChanged,
                )
                .await?;
            Ok(pb::ChangePasswordResponse {
                revoked_session_count: revoked,
            })
        }
        .await;
        outcome::finish(tx, key, result, None).await
    }
}

fn check_identifier(v: &mut FieldViolations, identifier: &str) {
    if identifier.is_empty() {
        v.add("identifier", "is required");
    } else if identifier.chars().count() > IDENTIFIER_MAX {
        v.add("identifier", "must be at most 254 characters");
    }
}

/// The registration password policy, for this account's identifiers.
fn check_policy(account: &AccountRow, new_password: &str) -> Result<(), Status> {
    let mut v = FieldViolations::new();
    if let Err(rule) = password::check(
        new_password,
        &account.member_name,
        account.email.as_deref().unwrap_or_default(),
        account.mobile.as_deref().unwrap_or_default(),
    ) {
        v.named(
            reasons::PASSWORD_TOO_WEAK,
            "new_password",
            rule.description(),
        );
    }
    v.finish_in(DOMAIN)
}
