//! Email delivery over SMTP: the sender of email codes wherever a real mailbox receives
//! them (`KJ_IDENTITY_SMTP_URL`). The message goes out while the challenge's transaction
//! is open, so a code is never kept anywhere to be sent later; a transient failure (a 4xx
//! answer, a lost connection) is retried once after a pause, a failure after the last
//! attempt rolls the challenge back (SENDER_UNAVAILABLE). Every outcome is counted in
//! `kuajing.identity.deliveries`.
//!
//! Not done: the transaction (and its pooled connection) stays open while the server
//! answers, at most about ten seconds when it does not; during a mail outage each pending
//! code request holds a connection that long. Sending after the commit from an encrypted
//! queue would free it.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sqlx::PgConnection;

use super::{CodeSender, DELIVERIES, Message, SendError, SendFuture};
use crate::domain::code::Channel;

/// Attempts per message.
const ATTEMPTS: u32 = 2;
/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
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
    /// or `smtp://host:port` in plain text for a relay on the same host), writing as `from`.
    /// With `require_tls` (the binary), plain text is refused unless the server is on
    /// this host: codes and the password would cross the network readable.
    pub fn new(url: &str, from: &str, require_tls: bool) -> anyhow::Result<SmtpSender> {
        if require_tls && !encrypted_or_local(url) {
            anyhow::bail!(
                "KJ_IDENTITY_SMTP_URL sends in plain text: use smtps://, or smtp:// with \
                 ?tls=required, or a relay on this host"
            );
        }
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("KJ_IDENTITY_SMTP_URL: {e}"))?
            .timeout(Some(ATTEMPT_TIMEOUT))
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

/// Whether `url` encrypts (smtps://, or STARTTLS required) or names this host.
fn encrypted_or_local(url: &str) -> bool {
    if url.starts_with("smtps://") || url.contains("tls=required") {
        return true;
    }
    let rest = url.strip_prefix("smtp://").unwrap_or(url);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    matches!(host, "localhost" | "127.0.0.1" | "::1")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binary_mails_in_plain_text_only_to_this_host() {
        for ok in [
            "smtps://u:p@mail.example",
            "smtp://u:p@mail.example:587?tls=required",
            "smtp://127.0.0.1:2525",
            "smtp://localhost:25",
            "smtp://[::1]:25",
        ] {
            assert!(encrypted_or_local(ok), "{ok}");
        }
        for plain in [
            "smtp://u:p@mail.example:587",
            "smtp://mail.example:25?tls=opportunistic",
            "smtp://127.0.0.1.evil.example:25",
        ] {
            assert!(!encrypted_or_local(plain), "{plain}");
            assert!(
                SmtpSender::new(plain, "a@b.example", true).is_err(),
                "{plain}"
            );
        }
        assert!(SmtpSender::new("smtp://u:p@mail.example:587", "a@b.example", false).is_ok());
    }
}
