//! The payment password: SetPaymentPin and VerifyPaymentPin.

use chrono::{DateTime, Utc};
use kuajing_platform::error::internal;
use kuajing_proto::identity::v1 as pb;
use kuajing_proto::reasons::identity as reasons;
use tonic::{Code, Status};

use super::codes::CodeAttempt;
use super::convert::{self, ts};
use super::{DOMAIN, Started, State, Subject, checked, db};
use crate::domain::code::{self, Purpose};
use crate::domain::events::EventType;
use crate::domain::lockout::AfterFailure;
use crate::domain::{pin, text};
use crate::outcome;
use crate::store::accounts;
use crate::store::events::{self, NewEvent};
use crate::store::pins;
use kuajing_platform::FieldViolations;

impl State {
    fn pin_locked(&self, until: DateTime<Utc>, now: DateTime<Utc>) -> Status {
        self.retry_later(
            reasons::PIN_LOCKED,
            "the payment password is locked after too many wrong tries",
            until - now,
            &[("locked_until", until.to_rfc3339())],
        )
    }

    pub async fn set_payment_pin(
        &self,
        subject: Subject,
        req: pb::SetPaymentPinRequest,
    ) -> Result<pb::SetPaymentPinResponse, Status> {
        let mut v = FieldViolations::new();
        v.request_id(&req.request_id);
        let account_id = v.uuid("account_id", &req.account_id);
        v.check("pin", pin::validate(&req.pin));
        let challenge_id = v.uuid("challenge_id", &req.challenge_id);
        v.check("code", code::validate_code(&req.code));
        v.finish_in(DOMAIN)?;
        let (account_id, challenge_id) = (checked(account_id)?, checked(challenge_id)?);
        if subject.0.is_some_and(|s| s != account_id) {
            return Err(self.not_owner());
        }

        let (mut tx, key) = match self.start("SetPaymentPin", &req.request_id, &req).await? {
            Started::Replay(answer) => return answer,
            Started::Fresh(tx, key) => (tx, key),
        };
        let result = async {
            let now = self.now();
            accounts::get_for_update(&mut tx, account_id)
                .await
                .map_err(db)?
                .ok_or_else(|| self.not_found("account", account_id))?;
            let attempt = CodeAttempt {
                account_id,
                challenge_id,
                code: &req.code,
                purpose: Purpose::SetPaymentPin,
                reference: "",
                contact: None,
            };
            self.consume_code(&mut tx, attempt).await?;
            let pin_hash = self.hasher.hash_pin(&req.pin).map_err(internal)?;
            let was_set = pins::set(&mut tx, account_id, &pin_hash, now)
                .await
                .map_err(db)?;
            accounts::touch(&mut tx, account_id, now)
                .await
                .map_err(db)?;
            let event = if was_set {
                EventType::PaymentPinReset
            } else {
                EventType::PaymentPinSet
            };
            events::record(
                &mut tx,
                NewEvent::new(account_id, event, now)
                    .actor(Some(account_id))
                    .detail("challenge_id", challenge_id),
            )
            .await
            .map_err(db)?;
            let account = accounts::get(&mut tx, account_id)
                .await
                .map_err(db)?
                .ok_or_else(|| internal("account vanished"))?;
            Ok(pb::SetPaymentPinResponse {
                account: Some(convert::account(&account)?),
            })
        }
        .await;
        outcome::finish(tx, key, result, None).await
    }

    pub async fn verify_payment_pin(
        &self,
        subject: Subject,
        req: pb::VerifyPaymentPinRequest,
    ) -> Result<pb::VerifyPaymentPinResponse, Status> {
        let mut v = FieldViolations::new();
        v.request_id(&req.request_id);
        let account_id = v.uuid("account_id", &req.account_id);
        v.check("pin", pin::validate(&req.pin));
        v.check(
            "operation_reference",
            text::bounded(&req.operation_reference, 1, pin::OPERATION_REFERENCE_MAX),
        );
        v.finish_in(DOMAIN)?;
        let account_id = checked(account_id)?;
        if subject.0.is_some_and(|s| s != account_id) {
            return Err(self.not_owner());
        }

        let (mut tx, key) = match self
            .start("VerifyPaymentPin", &req.request_id, &req)
            .await?
        {
            Started::Replay(answer) => return answer,
            Started::Fresh(tx, key) => (tx, key),
        };
        let result = async {
            let now = self.now();
            let lockout = self.settings.pin_lockout;
            // The PIN row is read first: the account is read only to say why there is none.
            let Some(stored) = pins::get_for_update(&mut tx, account_id)
                .await
                .map_err(db)?
            else {
                accounts::get(&mut tx, account_id)
                    .await
                    .map_err(db)?
                    .ok_or_else(|| self.not_found("account", account_id))?;
                return Err(self.precondition(
                    reasons::PIN_NOT_SET,
                    format!("account/{account_id}"),
                    "no payment password is set",
                ));
            };
            if let Some(until) = stored
                .locked_until
                .filter(|_| lockout.remaining(stored.locked_until, now).is_some())
            {
                // The PIN is not even checked while locked.
                return Err(self.pin_locked(until, now));
            }
            let matches = self.hasher.verify_pin(&req.pin, &stored.pin_hash);
            if !matches {
                let failed = |count: i32| {
                    NewEvent::new(account_id, EventType::PaymentPinFailed, now)
                        .detail("failure_count", count)
                        .detail("operation_reference", &req.operation_reference)
                };
                return Err(match lockout.fail(stored.failure_count, now) {
                    AfterFailure::Counted {
                        failures,
                        remaining,
                    } => {
                        pins::set_failures(&mut tx, account_id, failures, None, now)
                            .await
                            .map_err(db)?;
                        events::record(&mut tx, failed(failures))
                            .await
                            .map_err(db)?;
                        self.refuse_with(
                            Code::PermissionDenied,
                            reasons::PIN_INVALID,
                            "the payment password is wrong",
                            &[("attempts_remaining", remaining.to_string())],
                        )
                    }
                    AfterFailure::Locked { until, failures } => {
                        pins::set_failures(&mut tx, account_id, 0, Some(until), now)
                            .await
                            .map_err(db)?;
                        events::record(&mut tx, failed(failures))
                            .await
                            .map_err(db)?;
                        events::record(
                            &mut tx,
                            NewEvent::new(account_id, EventType::PaymentPinLocked, now)
                                .detail("lock_end_time", until.to_rfc3339()),
                        )
                        .await
                        .map_err(db)?;
                        self.pin_locked(until, now)
                    }
                });
            }
            if stored.failure_count != 0 || stored.locked_until.is_some() {
                pins::set_failures(&mut tx, account_id, 0, None, now)
                    .await
                    .map_err(db)?;
            }
            Ok(pb::VerifyPaymentPinResponse {
                verified: true,
                verify_time: Some(ts(now)),
            })
        }
        .await;
        outcome::finish(tx, key, result, None).await
    }
}
