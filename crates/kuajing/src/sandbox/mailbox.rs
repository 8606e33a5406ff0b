//! The sandbox mailbox: what identity's development sender wrote (verification codes),
//! read from its outbox with the platform's administrative connection, so a newcomer and
//! `kuajing demo` read a code the way a person reads an email.

use kuajing_platform::error::internal;
use kuajing_proto::sandbox::v1 as pb;
use sqlx::PgPool;
use tonic::Status;

/// At most this many messages per answer.
const LIMIT: i64 = 20;

/// The six-digit code in a message body ("... code is 123456 ..."), if any.
pub fn code_in(body: &str) -> Option<&str> {
    let start = body.find("code is ")? + "code is ".len();
    let code = body.get(start..start + 6)?;
    code.bytes().all(|b| b.is_ascii_digit()).then_some(code)
}

/// ListMessages.
pub async fn list(
    pool: &PgPool,
    req: pb::ListMessagesRequest,
) -> Result<pb::ListMessagesResponse, Status> {
    // Destination, channel, body, challenge (none for a notice), when.
    type OutboxRow = (
        String,
        String,
        String,
        Option<uuid::Uuid>,
        chrono::DateTime<chrono::Utc>,
    );
    let mut v = kuajing_platform::FieldViolations::new();
    let recipient = v.text("recipient", req.recipient.trim(), 320);
    if recipient.is_empty() {
        v.add(
            "recipient",
            "is required: an email address or a mobile number",
        );
    }
    v.finish()?;
    let rows: Vec<OutboxRow> = sqlx::query_as(
        "SELECT destination, channel, body, challenge_id, created_at FROM identity.outbox
             WHERE lower(destination) = lower($1)
             ORDER BY created_at DESC, message_id DESC LIMIT $2",
    )
    .bind(recipient)
    .bind(LIMIT)
    .fetch_all(pool)
    .await
    .map_err(internal)?;
    Ok(pb::ListMessagesResponse {
        messages: rows
            .into_iter()
            .map(
                |(recipient, channel, body, challenge_id, created_at)| pb::Message {
                    code: code_in(&body).unwrap_or_default().to_owned(),
                    recipient,
                    channel,
                    body,
                    challenge_id: challenge_id.map(|c| c.to_string()).unwrap_or_default(),
                    create_time: created_at.to_rfc3339(),
                },
            )
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_code() {
        assert_eq!(
            code_in("Your Kuajing code is 042917. It expires"),
            Some("042917")
        );
        assert_eq!(code_in("no code here"), None);
        assert_eq!(code_in("code is 12ab56"), None);
    }
}
