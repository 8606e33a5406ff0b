//! Operators as people: EnrollOperatorFactor and SignInOperator. An operator (or auditor)
//! proves the password and a TOTP code and gets a one-hour token for the internal services,
//! signed with the operator key and naming the person (see `kuajing_platform::auth`); the
//! services write every call it makes to their operator audit log.

use kuajing_platform::FieldViolations;
use kuajing_platform::time::to_proto;
use kuajing_proto::identity::v1 as pb;
use kuajing_proto::reasons::identity as reasons;
use tonic::{Code, Status};
use uuid::Uuid;

use super::codes::CodeAttempt;
use super::sessions::check_client;
use super::{DOMAIN, Started, State, db};
use crate::domain::code::{Channel, Purpose};
use crate::domain::events::EventType;
use crate::domain::{contact, password, totp};
use crate::outcome;
use crate::store::accounts::AccountRow;
use crate::store::events::{self, NewEvent};
use crate::store::operators::{self, Grant};

/// Issuer shown by authenticator apps.
const ISSUER: &str = "Kuajing";

/// Marks a recorded enrolment: which sealed secret it made (see [`sealing_of`]).
const SEALED: &str = "sealed:";

/// A short fingerprint of a sealed secret (of the ciphertext: it reveals nothing).
fn sealing_of(sealed: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(sealed)[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn check_sign_in(v: &mut FieldViolations, request_id: &str, identifier: &str, secret: &str) {
    v.request_id(request_id);
    if identifier.is_empty() {
        v.add("identifier", "is required");
    } else if identifier.chars().count() > contact::EMAIL_MAX {
        v.add("identifier", "must be at most 254 characters");
    }
    if secret.is_empty() {
        v.add("password", "is required");
    } else if secret.chars().count() > password::MAX_CHARS {
        v.add("password", "must be at most 128 characters");
    }
}

/// EnrollOperatorFactor's input checked: the sign-in, and the challenge of the code sent
/// to the operator's email when the code comes with it (`None` asks for the code).
fn check_enrollment(req: &pb::EnrollOperatorFactorRequest) -> Result<Option<Uuid>, Status> {
    let mut v = FieldViolations::new();
    check_sign_in(&mut v, &req.request_id, &req.identifier, &req.password);
    check_client(&mut v, &req.client_ip);
    let with_code = match (req.challenge_id.is_empty(), req.code.is_empty()) {
        (true, true) => None,
        (false, false) => {
            v.check("code", crate::domain::code::validate_code(&req.code));
            v.uuid("challenge_id", &req.challenge_id)
        }
        (true, false) => {
            v.add("challenge_id", "is required with a code");
            None
        }
        (false, true) => {
            v.add("code", "is required with a challenge");
            None
        }
    };
    v.finish_in(DOMAIN)?;
    Ok(with_code)
}

/// An enrolment's answer as recorded, without the secret: the account and which sealing it
/// was, so a replay shows this enrolment's secret or nothing.
fn recorded_form(
    r: &pb::EnrollOperatorFactorResponse,
    sealed: &[u8],
) -> pb::EnrollOperatorFactorResponse {
    match r.challenge {
        // Only a code was sent: nothing secret to leave out.
        Some(_) => r.clone(),
        None => pb::EnrollOperatorFactorResponse {
            account_id: r.account_id.clone(),
            secret: String::new(),
            otpauth_uri: format!("{SEALED}{}", sealing_of(sealed)),
            challenge: None,
        },
    }
}

impl State {
    pub async fn enroll_operator_factor(
        &self,
        req: pb::EnrollOperatorFactorRequest,
    ) -> Result<pb::EnrollOperatorFactorResponse, Status> {
        let with_code = check_enrollment(&req)?;
        let (mut tx, key) = match self
            .start::<_, pb::EnrollOperatorFactorResponse>(
                "EnrollOperatorFactor",
                &req.request_id,
                &req,
            )
            .await?
        {
            // The secret is recorded sealed only: a replay opens it again.
            Started::Replay(answer) => return self.reopen(answer?).await,
            Started::Fresh(tx, key) => (tx, key),
        };
        let result = async {
            let account = self
                .person(&mut tx, &req.identifier, &req.password, &req.client_ip)
                .await?
                .0;
            let existing = operators::factor_for_update(&mut tx, account.account_id)
                .await
                .map_err(db)?;
            if existing.is_some_and(|f| f.confirmed_at.is_some()) {
                return Err(self.refuse(
                    Code::FailedPrecondition,
                    reasons::FACTOR_ALREADY_ENROLLED,
                    "this operator's second factor is enrolled already; a lost device is \
                     reset by the platform team",
                ));
            }
            // The password alone sends a code to the verified email; the code enrols.
            let Some(challenge_id) = with_code else {
                let sent = self
                    .send_in(
                        &mut tx,
                        account.account_id,
                        Channel::Email,
                        Purpose::EnrollOperatorFactor,
                        "",
                        None,
                    )
                    .await?;
                let answer = pb::EnrollOperatorFactorResponse {
                    account_id: account.account_id.to_string(),
                    challenge: sent.challenge,
                    ..Default::default()
                };
                return Ok((answer, Vec::new()));
            };
            self.enroll_factor(&mut tx, &account, challenge_id, &req)
                .await
        }
        .await;
        let stored = result
            .as_ref()
            .ok()
            .map(|(r, sealed)| recorded_form(r, sealed));
        let result = result.map(|(r, _)| r);
        outcome::finish(tx, key, result, stored.as_ref()).await
    }

    /// The code consumed, a new factor secret sealed and stored, the enrolment audited:
    /// the answer (with the secret, shown this once) and the sealed secret.
    async fn enroll_factor(
        &self,
        tx: &mut sqlx::PgConnection,
        account: &AccountRow,
        challenge_id: Uuid,
        req: &pb::EnrollOperatorFactorRequest,
    ) -> Result<(pb::EnrollOperatorFactorResponse, Vec<u8>), Status> {
        self.consume_code(
            tx,
            CodeAttempt {
                account_id: account.account_id,
                challenge_id,
                code: &req.code,
                purpose: Purpose::EnrollOperatorFactor,
                reference: "",
                contact: None,
            },
        )
        .await?;
        let secret =
            crate::secrets::random_bytes::<{ totp::SECRET_LEN }>().map_err(super::internal)?;
        let sealed = self
            .secrets
            .seal_factor_secret(account.account_id, &secret)
            .map_err(super::internal)?;
        let now = self.now();
        operators::enroll(&mut *tx, account.account_id, &sealed, now)
            .await
            .map_err(db)?;
        events::record(
            &mut *tx,
            NewEvent::new(account.account_id, EventType::OperatorFactorEnrolled, now)
                .actor(Some(account.account_id))
                .client(&req.client_ip, ""),
        )
        .await
        .map_err(db)?;
        Ok((
            pb::EnrollOperatorFactorResponse {
                account_id: account.account_id.to_string(),
                secret: totp::base32(&secret),
                otpauth_uri: totp::otpauth_uri(ISSUER, &account.member_name, &secret),
                challenge: None,
            },
            sealed,
        ))
    }

    /// A recorded enrolment with its secret opened again from the store (unless a later
    /// enrolment replaced it or a sign-in confirmed it: then it is not shown again).
    async fn reopen(
        &self,
        mut answer: pb::EnrollOperatorFactorResponse,
    ) -> Result<pb::EnrollOperatorFactorResponse, Status> {
        if answer.challenge.is_some() {
            return Ok(answer);
        }
        let account_id = Uuid::try_parse(&answer.account_id).map_err(super::internal)?;
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let factor = operators::factor_for_update(&mut conn, account_id)
            .await
            .map_err(db)?
            .filter(|f| f.confirmed_at.is_none())
            .filter(|f| {
                answer.otpauth_uri.strip_prefix(SEALED)
                    == Some(sealing_of(&f.sealed_secret).as_str())
            })
            .ok_or_else(|| {
                self.refuse(
                    Code::FailedPrecondition,
                    reasons::FACTOR_ALREADY_ENROLLED,
                    "the secret of this enrolment is no longer shown (confirmed or replaced)",
                )
            })?;
        let secret = self
            .secrets
            .open_factor_secret(account_id, &factor.sealed_secret)
            .ok_or_else(|| super::internal("a sealed factor that does not open"))?;
        let member: String = sqlx::query_scalar!(
            "SELECT member_name FROM accounts WHERE account_id = $1",
            account_id
        )
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
        answer.secret = totp::base32(&secret);
        answer.otpauth_uri = totp::otpauth_uri(ISSUER, &member, &secret);
        Ok(answer)
    }

    pub async fn sign_in_operator(
        &self,
        req: pb::SignInOperatorRequest,
    ) -> Result<pb::SignInOperatorResponse, Status> {
        let mut v = FieldViolations::new();
        check_sign_in(&mut v, &req.request_id, &req.identifier, &req.password);
        if !totp::well_formed(&req.totp_code) {
            v.add("totp_code", "must be 6 digits");
        }
        check_client(&mut v, &req.client_ip);
        v.finish_in(DOMAIN)?;
        let operator_key = self.operator_key.clone().ok_or_else(|| {
            self.refuse(
                Code::FailedPrecondition,
                reasons::OPERATOR_SIGN_IN_DISABLED,
                "identity holds no operator key (KJ_IDENTITY_OPERATOR_KEY): nobody can sign in \
                 as an operator",
            )
        })?;
        let (mut tx, key) = match self
            .start::<_, pb::SignInOperatorResponse>("SignInOperator", &req.request_id, &req)
            .await?
        {
            // Recorded without the token; the same claims signed again give it back.
            Started::Replay(answer) => return self.resign(answer?, &operator_key),
            Started::Fresh(tx, key) => (tx, key),
        };
        let result = async {
            let (account, grant) = self
                .person(&mut tx, &req.identifier, &req.password, &req.client_ip)
                .await?;
            let factor = operators::factor_for_update(&mut tx, account.account_id)
                .await
                .map_err(db)?
                .ok_or_else(|| {
                    self.refuse(
                        Code::FailedPrecondition,
                        reasons::FACTOR_NOT_ENROLLED,
                        "enrol a second factor first (EnrollOperatorFactor)",
                    )
                })?;
            let secret = self
                .secrets
                .open_factor_secret(account.account_id, &factor.sealed_secret)
                .ok_or_else(|| super::internal("a sealed factor that does not open"))?;
            let now = self.now();
            let Some(step) =
                totp::accepted_step(&secret, &req.totp_code, now.timestamp(), factor.last_step)
            else {
                return Err(self
                    .wrong_password(&mut tx, &account, &req.client_ip, "")
                    .await);
            };
            operators::accept(&mut tx, account.account_id, step, now)
                .await
                .map_err(db)?;
            self.clear_login_failures(&mut tx, &account).await?;
            events::record(
                &mut tx,
                NewEvent::new(account.account_id, EventType::LoginSucceeded, now)
                    .actor(Some(account.account_id))
                    .client(&req.client_ip, "")
                    .detail("operator_token", grant.caller()),
            )
            .await
            .map_err(db)?;
            let session = Uuid::now_v7();
            let expires = now + kuajing_platform::auth::MAX_OPERATOR_TOKEN_LIFETIME;
            operators::start_sign_in(&mut tx, session, account.account_id, grant, now, expires)
                .await
                .map_err(db)?;
            let mut answer = pb::SignInOperatorResponse {
                token: String::new(),
                role: grant.caller().to_owned(),
                account_id: account.account_id.to_string(),
                issue_time: Some(to_proto(now)),
                expire_time: Some(to_proto(expires)),
                session_id: session.to_string(),
            };
            let stored = answer.clone();
            answer = self.resign(answer, &operator_key)?;
            Ok((answer, stored))
        }
        .await;
        let stored = result.as_ref().ok().map(|(_, s)| s.clone());
        outcome::finish(tx, key, result.map(|(a, _)| a), stored.as_ref()).await
    }

    /// SignOutOperator: ends the calling token's sign-in (or every sign-in of its person).
    pub async fn sign_out_operator(
        &self,
        signed_in: Option<(Uuid, Uuid)>,
        req: pb::SignOutOperatorRequest,
    ) -> Result<pb::SignOutOperatorResponse, Status> {
        let mut v = FieldViolations::new();
        v.request_id(&req.request_id);
        v.finish_in(DOMAIN)?;
        let (person, session) = signed_in.ok_or_else(|| {
            self.refuse(
                Code::FailedPrecondition,
                reasons::NO_SIGN_IN,
                "this token names nobody or carries no sign-in: there is nothing to sign out",
            )
        })?;
        // The fingerprint covers the sign-in: another's token reusing the request id is
        // refused as a reuse, not answered with this one's outcome.
        let fingerprinted = pb::SignOutOperatorRequest {
            request_id: format!("{}/{session}", req.request_id),
            all_sessions: req.all_sessions,
        };
        let (mut tx, key) = match self
            .start("SignOutOperator", &req.request_id, &fingerprinted)
            .await?
        {
            Started::Replay(answer) => return answer,
            Started::Fresh(tx, key) => (tx, key),
        };
        let result = async {
            let now = self.now();
            let only = (!req.all_sessions).then_some(session);
            let ended = operators::end_sign_ins(&mut tx, person, only, now)
                .await
                .map_err(db)?;
            for session_id in &ended {
                events::record(
                    &mut tx,
                    NewEvent::new(person, EventType::Logout, now)
                        .actor(Some(person))
                        .detail("operator_session_id", session_id),
                )
                .await
                .map_err(db)?;
            }
            Ok(pb::SignOutOperatorResponse {
                revoked_session_count: i32::try_from(ended.len()).unwrap_or(i32::MAX),
            })
        }
        .await;
        outcome::finish(tx, key, result, None).await
    }

    /// The answer with its token signed (again) from its claims.
    fn resign(
        &self,
        mut answer: pb::SignInOperatorResponse,
        key: &ed25519_dalek::SigningKey,
    ) -> Result<pb::SignInOperatorResponse, Status> {
        let time = |t: &Option<prost_types::Timestamp>| {
            t.as_ref()
                .and_then(kuajing_platform::time::from_proto)
                .ok_or_else(|| super::internal("a recorded sign-in without its times"))
        };
        let person = Uuid::try_parse(&answer.account_id).map_err(super::internal)?;
        let session = Uuid::try_parse(&answer.session_id).map_err(super::internal)?;
        answer.token = kuajing_platform::auth::person_token(
            key,
            &answer.role,
            person,
            session,
            time(&answer.issue_time)?,
            time(&answer.expire_time)?,
        )
        .map_err(super::internal)?;
        Ok(answer)
    }

    /// The operator or auditor `identifier` names, when `password` is theirs;
    /// NOT_AN_OPERATOR for anyone else with the right password.
    async fn person(
        &self,
        tx: &mut sqlx::PgConnection,
        identifier: &str,
        password: &str,
        client_ip: &str,
    ) -> Result<(AccountRow, Grant), Status> {
        let account = self
            .password_holder(tx, identifier, password, client_ip, "")
            .await?;
        let grant = operators::grant_of(tx, account.account_id)
            .await
            .map_err(db)?
            .ok_or_else(|| {
                self.refuse(
                    Code::PermissionDenied,
                    reasons::NOT_AN_OPERATOR,
                    "this account is neither an operator nor an auditor",
                )
            })?;
        Ok((account, grant))
    }
}
