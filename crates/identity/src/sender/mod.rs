//! Delivering verification codes: a pluggable [`CodeSender`], chosen per channel
//! ([`ByChannel`]).
//!
//! - [`smtp::SmtpSender`] hands emails to an SMTP server (`KJ_IDENTITY_SMTP_URL`) and
//!   writes no code anywhere.
//! - [`DevelopmentSender`], for `kuajing up` and the tests, delivers nothing: it writes each
//!   rendered message to the `outbox` table, in the same transaction as the challenge, and
//!   logs a line marked DEVELOPMENT SENDER that says where to find it, so a person can
//!   complete every flow. The log line never contains the code; the outbox row does,
//!   because it stands in for the person's inbox or phone. The binary uses it only when
//!   `KJ_IDENTITY_DEVELOPMENT_SENDER` asks (bench and chaos runs).
//! - [`webhook::WebhookSender`] posts text messages, signed, to an SMS provider's webhook
//!   (`KJ_IDENTITY_SMS_WEBHOOK_URL`).
//! - [`NotConfigured`] refuses: a channel with no provider answers SENDER_UNAVAILABLE rather
//!   than keeping a code in plain text.

pub mod smtp;
pub mod webhook;

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::code::{Channel, Purpose};
use crate::domain::contact;

/// Every hand-over to a provider, counted.
pub(crate) static DELIVERIES: kuajing_platform::metrics::Tally =
    kuajing_platform::metrics::Tally::new(
        "kuajing.identity.deliveries",
        "messages handed to a provider, by channel and outcome (sent, retried, failed)",
    );

/// One message to deliver.
#[derive(Clone, Debug)]
pub struct Message {
    /// Message id.
    pub message_id: Uuid,
    /// The challenge it carries the code of; `None` for a notice without a code.
    pub challenge_id: Option<Uuid>,
    /// Email or SMS.
    pub channel: Channel,
    /// The email address or E.164 number.
    pub destination: String,
    /// Subject line (emails).
    pub subject: String,
    /// The text, code included.
    pub body: String,
    /// When it was produced.
    pub created_at: DateTime<Utc>,
}

impl Message {
    /// Renders the message for a code.
    pub fn render(
        challenge_id: Uuid,
        channel: Channel,
        destination: &str,
        purpose: Purpose,
        code: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Message {
        let what = match purpose {
            Purpose::ConfirmContact => match channel {
                Channel::Email => "confirm your email address",
                Channel::Sms => "confirm your mobile number",
            },
            Purpose::SetPaymentPin => "set your payment password",
            Purpose::ActivateMandate => "activate cross-border pay for your marketplace account",
            Purpose::ChangeContact => match channel {
                Channel::Email => "make this your account's email address",
                Channel::Sms => "make this your account's mobile number",
            },
            Purpose::ResetPassword => "reset your login password",
            Purpose::EnrollOperatorFactor => "enrol your operator second factor",
        };
        let minutes = ttl.num_minutes().max(1);
        Message {
            message_id: Uuid::now_v7(),
            challenge_id: Some(challenge_id),
            channel,
            destination: destination.to_owned(),
            subject: "Your Kuajing verification code".to_owned(),
            body: format!(
                "Your Kuajing verification code is {code}. Use it to {what} within {minutes} \
                 minutes. Never share it: Kuajing staff will never ask for it."
            ),
            created_at: now,
        }
    }

    /// A notice to the account's former email or mobile that it was replaced (no code: it
    /// only warns a person who did not make the change).
    pub fn contact_replaced(channel: Channel, former: &str, now: DateTime<Utc>) -> Message {
        let what = match channel {
            Channel::Email => "email address",
            Channel::Sms => "mobile number",
        };
        Message {
            message_id: Uuid::now_v7(),
            challenge_id: None,
            channel,
            destination: former.to_owned(),
            subject: format!("Your Kuajing {what} was changed"),
            body: format!(
                "The {what} of your Kuajing account was changed and this one no longer \
                 receives its messages. If you did not make this change, reset your password \
                 and contact Kuajing support at once."
            ),
            created_at: now,
        }
    }

    /// The destination masked for logs and answers.
    pub fn masked_destination(&self) -> String {
        mask(self.channel, &self.destination)
    }
}

/// A destination masked for display.
pub fn mask(channel: Channel, destination: &str) -> String {
    match channel {
        Channel::Email => contact::mask_email(destination),
        Channel::Sms => contact::mask_mobile(destination),
    }
}

/// The sender could not take the message; no challenge is created.
#[derive(Debug, thiserror::Error)]
#[error("the verification code sender is unavailable: {0}")]
pub struct SendError(pub String);

/// A boxed future borrowing its arguments.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>;

/// Delivers verification codes. `send` runs inside the transaction that creates the
/// challenge (`conn`), so a sender that records the message (an outbox) commits or rolls
/// back with it; a failure rolls the challenge back and answers SENDER_UNAVAILABLE.
pub trait CodeSender: Send + Sync + 'static {
    /// Hands `message` over for delivery.
    fn send<'a>(&'a self, conn: &'a mut PgConnection, message: &'a Message) -> SendFuture<'a>;
}

/// The default sender for local use: the outbox table and a marked log line.
#[derive(Clone, Copy, Debug, Default)]
pub struct DevelopmentSender;

impl CodeSender for DevelopmentSender {
    fn send<'a>(&'a self, conn: &'a mut PgConnection, message: &'a Message) -> SendFuture<'a> {
        Box::pin(async move {
            let kept = crate::store::outbox::OutboxMessage {
                message_id: message.message_id,
                challenge_id: message.challenge_id,
                channel: message.channel.as_str(),
                destination: &message.destination,
                subject: &message.subject,
                body: &message.body,
                created_at: message.created_at,
            };
            crate::store::outbox::insert(conn, &kept)
                .await
                .map_err(|e| SendError(e.to_string()))?;
            tracing::warn!(
                message_id = %message.message_id,
                challenge_id = ?message.challenge_id,
                channel = message.channel.as_str(),
                to = %message.masked_destination(),
                "DEVELOPMENT SENDER: message not delivered; read it with \
                 SELECT body FROM identity.outbox WHERE message_id = '{}'",
                message.message_id
            );
            Ok(())
        })
    }
}

/// A channel with no provider configured: every message is refused.
#[derive(Clone, Copy, Debug)]
pub struct NotConfigured(pub &'static str);

impl CodeSender for NotConfigured {
    fn send<'a>(&'a self, _conn: &'a mut PgConnection, _message: &'a Message) -> SendFuture<'a> {
        Box::pin(async move { Err(SendError(format!("no {} sender is configured", self.0))) })
    }
}

/// One sender per channel.
pub struct ByChannel {
    /// Emails.
    pub email: std::sync::Arc<dyn CodeSender>,
    /// Text messages.
    pub sms: std::sync::Arc<dyn CodeSender>,
}

impl CodeSender for ByChannel {
    fn send<'a>(&'a self, conn: &'a mut PgConnection, message: &'a Message) -> SendFuture<'a> {
        match message.channel {
            Channel::Email => self.email.send(conn, message),
            Channel::Sms => self.sms.send(conn, message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_the_code_and_masks_hide_the_destination() {
        let m = Message::render(
            Uuid::now_v7(),
            Channel::Sms,
            "+6591234567",
            Purpose::SetPaymentPin,
            "042917",
            Duration::minutes(15),
            Utc::now(),
        );
        assert!(m.body.contains("042917"));
        assert!(m.body.contains("15 minutes"));
        assert_eq!(m.masked_destination(), "+65 ****4567");
        assert_eq!(mask(Channel::Email, "jo@example.com"), "j***@example.com");
    }
}
