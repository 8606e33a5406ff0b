//! Text messages through an SMS provider's webhook (`KJ_IDENTITY_SMS_WEBHOOK_URL`): the
//! adapter a platform team points at its provider (or at a small relay in front of one).
//! Each message is one HTTP POST of JSON `{"message_id", "to", "text"}`, signed so the
//! receiver can refuse forgeries and replays: the header
//! `Kuajing-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, the
//! scheme common to payment webhooks, keyed by `KJ_IDENTITY_SMS_WEBHOOK_SECRET`.
//!
//! Like email, the message goes out while the challenge's transaction is open, so the code
//! is never kept to be sent later. A 2xx answer is delivered; a 5xx or 429 answer, a timeout
//! or a lost connection is retried (three attempts, the wait doubling from 200 ms); any
//! other answer is permanent. A failure after the last attempt rolls the challenge back
//! (SENDER_UNAVAILABLE). Every outcome is counted in `kuajing.identity.deliveries`.

use std::sync::Arc;
use std::time::Duration;

use hmac::{KeyInit, Mac};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use sqlx::PgConnection;

use super::{CodeSender, DELIVERIES, Message, SendError, SendFuture};
use crate::domain::code::Channel;

/// Attempts per message.
const ATTEMPTS: u32 = 3;
/// How long one attempt may take, connection included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Wait before the second attempt; doubled before each later one.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The signature header.
pub const SIGNATURE_HEADER: &str = "kuajing-signature";

/// Where the webhook is.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    tls: bool,
    host: String,
    port: u16,
    /// Path and query.
    path: String,
}

impl Target {
    fn parse(url: &str) -> anyhow::Result<Target> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            anyhow::bail!("KJ_IDENTITY_SMS_WEBHOOK_URL must be an http:// or https:// URL");
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        anyhow::ensure!(
            !authority.is_empty() && !authority.contains('@'),
            "KJ_IDENTITY_SMS_WEBHOOK_URL: a host, and no credentials in the URL (the secret signs)"
        );
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (
                h,
                p.parse()
                    .map_err(|_| anyhow::anyhow!("KJ_IDENTITY_SMS_WEBHOOK_URL: bad port {p:?}"))?,
            ),
            _ => (authority, if tls { 443 } else { 80 }),
        };
        Ok(Target {
            tls,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            path: path.to_owned(),
        })
    }

    fn is_local(&self) -> bool {
        matches!(self.host.as_str(), "localhost" | "127.0.0.1" | "::1")
    }
}

/// Sends text-message codes to a webhook.
pub struct WebhookSender {
    target: Target,
    secret: Vec<u8>,
    tls: Option<tokio_rustls::TlsConnector>,
}

impl std::fmt::Debug for WebhookSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSender")
            .field("host", &self.target.host)
            .finish_non_exhaustive()
    }
}

/// The signature header's value for `body` sent at `unix_secs`.
pub fn signature(secret: &[u8], unix_secs: i64, body: &[u8]) -> String {
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(unix_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={unix_secs},v1={hex}")
}

/// Why one attempt failed, and whether another may help.
struct Failed {
    why: String,
    transient: bool,
}

impl WebhookSender {
    /// A sender to `url` signing with `secret` (at least 32 bytes). With `require_tls`
    /// (the binary), plain http is refused unless the webhook is on this host.
    pub fn new(url: &str, secret: &[u8], require_tls: bool) -> anyhow::Result<WebhookSender> {
        let target = Target::parse(url)?;
        anyhow::ensure!(
            target.tls || !require_tls || target.is_local(),
            "KJ_IDENTITY_SMS_WEBHOOK_URL sends codes in plain text: use https://, or a relay on this host"
        );
        anyhow::ensure!(
            secret.len() >= 32,
            "KJ_IDENTITY_SMS_WEBHOOK_SECRET must be at least 32 bytes"
        );
        let tls = target.tls.then(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth());
            config.map(|c| tokio_rustls::TlsConnector::from(Arc::new(c)))
        });
        let tls = tls.transpose().map_err(|e| anyhow::anyhow!("TLS: {e}"))?;
        Ok(WebhookSender {
            target,
            secret: secret.to_vec(),
            tls,
        })
    }

    async fn deliver(&self, message: &Message) -> Result<(), SendError> {
        let body = serde_json::to_vec(&serde_json::json!({
            "message_id": message.message_id.to_string(),
            "to": message.destination,
            "text": message.body,
        }))
        .map_err(|e| SendError(e.to_string()))?;
        let mut wait = FIRST_BACKOFF;
        for attempt in 1..=ATTEMPTS {
            let sent = tokio::time::timeout(ATTEMPT_TIMEOUT, self.post(&body)).await;
            let failed = match sent {
                Ok(Ok(())) => {
                    DELIVERIES.add(1, &[("channel", "SMS"), ("outcome", "sent")]);
                    tracing::info!(
                        message_id = %message.message_id,
                        to = %message.masked_destination(),
                        "text message handed to the webhook"
                    );
                    return Ok(());
                }
                Ok(Err(f)) => f,
                Err(_) => Failed {
                    why: "no answer in time".to_owned(),
                    transient: true,
                },
            };
            if !failed.transient || attempt == ATTEMPTS {
                DELIVERIES.add(1, &[("channel", "SMS"), ("outcome", "failed")]);
                tracing::warn!(
                    message_id = %message.message_id,
                    to = %message.masked_destination(),
                    error = %failed.why,
                    attempt,
                    "text message not sent"
                );
                return Err(SendError(format!(
                    "the SMS webhook did not take it: {}",
                    failed.why
                )));
            }
            DELIVERIES.add(1, &[("channel", "SMS"), ("outcome", "retried")]);
            tracing::debug!(error = %failed.why, attempt, "text message not sent yet; retrying");
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
        Err(SendError("no attempt made".to_owned()))
    }

    /// One POST on a fresh connection.
    async fn post(&self, body: &[u8]) -> Result<(), Failed> {
        let lost = |e: &dyn std::fmt::Display| Failed {
            why: e.to_string(),
            transient: true,
        };
        let tcp = tokio::net::TcpStream::connect((self.target.host.as_str(), self.target.port))
            .await
            .map_err(|e| lost(&e))?;
        let now = chrono::Utc::now().timestamp();
        let host = if (self.target.port == 443 && self.target.tls)
            || (self.target.port == 80 && !self.target.tls)
        {
            self.target.host.clone()
        } else {
            format!("{}:{}", self.target.host, self.target.port)
        };
        let request = http::Request::post(self.target.path.as_str())
            .header(http::header::HOST, host)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature(&self.secret, now, body))
            .body(Full::new(bytes::Bytes::copy_from_slice(body)))
            .map_err(|e| Failed {
                why: e.to_string(),
                transient: false,
            })?;
        let status = match &self.tls {
            Some(connector) => {
                let name = rustls::pki_types::ServerName::try_from(self.target.host.clone())
                    .map_err(|e| Failed {
                        why: e.to_string(),
                        transient: false,
                    })?;
                let stream = connector.connect(name, tcp).await.map_err(|e| lost(&e))?;
                exchange(TokioIo::new(stream), request).await?
            }
            None => exchange(TokioIo::new(tcp), request).await?,
        };
        if status.is_success() {
            Ok(())
        } else {
            Err(Failed {
                why: format!("answered {status}"),
                transient: status.is_server_error()
                    || status == http::StatusCode::TOO_MANY_REQUESTS,
            })
        }
    }
}

/// Sends `request` over `io` (HTTP/1.1) and answers the status, the body read and dropped.
async fn exchange<I>(
    io: I,
    request: http::Request<Full<bytes::Bytes>>,
) -> Result<http::StatusCode, Failed>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let lost = |e: &dyn std::fmt::Display| Failed {
        why: e.to_string(),
        transient: true,
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| lost(&e))?;
    let driver = tokio::spawn(connection);
    let response = sender.send_request(request).await.map_err(|e| lost(&e));
    let status = match response {
        Ok(r) => {
            let status = r.status();
            let _ = r.into_body().collect().await;
            Ok(status)
        }
        Err(e) => Err(e),
    };
    driver.abort();
    status
}

impl CodeSender for WebhookSender {
    fn send<'a>(&'a self, _conn: &'a mut PgConnection, message: &'a Message) -> SendFuture<'a> {
        Box::pin(async move {
            match message.channel {
                Channel::Sms => self.deliver(message).await,
                Channel::Email => Err(SendError(
                    "the SMS webhook delivers text messages only".to_owned(),
                )),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_the_plain_text_rule() {
        let t = Target::parse("https://sms.example/v1/send?x=1").unwrap();
        assert_eq!(
            (t.tls, t.host.as_str(), t.port, t.path.as_str()),
            (true, "sms.example", 443, "/v1/send?x=1")
        );
        let t = Target::parse("http://127.0.0.1:8088").unwrap();
        assert_eq!((t.port, t.path.as_str()), (8088, "/"));
        assert!(t.is_local());
        let key = [7u8; 32];
        assert!(WebhookSender::new("http://sms.example/send", &key, true).is_err());
        assert!(WebhookSender::new("http://sms.example/send", &key, false).is_ok());
        assert!(WebhookSender::new("http://localhost:9/send", &key, true).is_ok());
        assert!(WebhookSender::new("https://sms.example/send", &key[..8], true).is_err());
        for bad in ["ftp://x", "https://", "https://user:pw@sms.example/"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    /// RFC 4231 test case 2 (HMAC-SHA256 of "what do ya want for nothing?" under "Jefe"),
    /// through the `t.` prefix: the signature is a plain HMAC a receiver can recompute.
    #[test]
    fn the_signature_is_an_hmac_a_receiver_recomputes() {
        let sig = signature(b"Jefe", 12, b"what do ya want for nothing?");
        assert!(sig.starts_with("t=12,v1="));
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"12.what do ya want for nothing?");
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(sig, format!("t=12,v1={hex}"));
        // The RFC's own vector, without the prefix, pins the primitive.
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
