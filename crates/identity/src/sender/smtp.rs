//! Email delivery over SMTP: the sender of email codes wherever a real mailbox receives
//! them (`KJ_IDENTITY_SMTP_URL`). The message goes out while the challenge's transaction
//! is open, so a code is never kept anywhere to be sent later; a transient failure (a 4xx
//! answer, a lost connection) is retried with backoff, a failure after the last attempt
//! rolls the challenge back (SENDER_UNAVAILABLE). Every outcome is counted in
//! `kuajing.identity.deliveries`.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sqlx::PgConnection;

use super::{CodeSender, Message, SendError, SendFuture};
use crate::domain::code::Channel;
use kuajing_platform::metrics::Tally;

static DELIVERIES: Tally = Tally::new(
    "kuajing.identity.deliveries",
    "messages handed to a provider, by channel and outcome (sent, retried, failed)",
);

/// Attempts per message.
const ATTEMPTS: u32 = 3;
/// Wait before the second attempt; doubled before each later one.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// Sends email codes through an SMTP server.
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSender")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpSender {
    /// A sender to the server at `url` (`smtp://host:587?tls=required`, `smtps://user:pass@host`,
    /// or `smtp://host:port` in plain text for a local relay), writing as `from`.
    pub fn new(url: &str, from: &str) -> anyhow::Result<SmtpSender> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("KJ_IDENTITY_SMTP_URL: {e}"))?
            .timeout(Some(Duration::from_secs(10)))
            .build();
        let from = from
            .parse()
            .map_err(|e| anyhow::anyhow!("KJ_IDENTITY_SMTP_FROM {from:?}: {e}"))?;
        Ok(SmtpSender { transport, from })
    }

    async fn deliver(&self, message: &Message) -> Result<(), SendError> {
        let to: Mailbox = message
            .destination
            .parse()
            .map_err(|e| SendError(format!("not an email address: {e}")))?;
        let email = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject.clone())
            .body(message.body.clone())
            .map_err(|e| SendError(e.to_string()))?;
        let mut wait = FIRST_BACKOFF;
        for attempt in 1..=ATTEMPTS {
            match self.transport.send(email.clone()).await {
                Ok(_) => {
                    DELIVERIES.add(1, &[("channel", "EMAIL"), ("outcome", "sent")]);
                    tracing::info!(
                        message_id = %message.message_id,
                        to = %message.masked_destination(),
                        "email sent"
                    );
                    return Ok(());
                }
                // A permanent refusal (5xx: no such mailbox, ...) will not change.
                Err(e) if e.is_permanent() || attempt == ATTEMPTS => {
                    DELIVERIES.add(1, &[("channel", "EMAIL"), ("outcome", "failed")]);
                    tracing::warn!(
                        message_id = %message.message_id,
                        to = %message.masked_destination(),
                        error = %e,
                        attempt,
                        "email not sent"
                    );
                    return Err(SendError(format!("the mail server did not take it: {e}")));
                }
                Err(e) => {
                    DELIVERIES.add(1, &[("channel", "EMAIL"), ("outcome", "retried")]);
                    tracing::debug!(error = %e, attempt, "email not sent yet; retrying");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            }
        }
        Err(SendError("no attempt made".to_owned()))
    }
}

impl CodeSender for SmtpSender {
    fn send<'a>(&'a self, _conn: &'a mut PgConnection, message: &'a Message) -> SendFuture<'a> {
        Box::pin(async move {
            match message.channel {
                Channel::Email => self.deliver(message).await,
                Channel::Sms => Err(SendError("SMTP delivers email only".to_owned())),
            }
        })
    }
}
