//! The security audit log: ListSecurityEvents.

use kuajing_platform::page::Cursor;
use kuajing_proto::identity::v1 as pb;
use tonic::Status;

use super::convert::{self, event_type_from_pb};
use super::{DOMAIN, State, Subject, checked, db};
use crate::store::events;
use kuajing_platform::FieldViolations;

impl State {
    pub async fn list_security_events(
        &self,
        subject: Subject,
        req: pb::ListSecurityEventsRequest,
    ) -> Result<pb::ListSecurityEventsResponse, Status> {
        let mut v = FieldViolations::new();
        let account_id = v.uuid("account_id", &req.account_id);
        let mut types = Vec::new();
        for (i, raw) in req.types.iter().enumerate() {
            match pb::SecurityEventType::try_from(*raw) {
                // UNSPECIFIED in a filter matches nothing.
                Ok(t) => types.extend(event_type_from_pb(t).map(|t| t.as_str().to_owned())),
                Err(_) => v.add(format!("types[{i}]"), format!("unknown value {raw}")),
            }
        }
        let (from, until) = v.time_range("time_range", req.time_range.as_ref());
        let page = v.page(req.page.as_ref());
        v.finish_in(DOMAIN)?;
        let account_id = checked(account_id)?;
        let mut conn = self.pool.acquire().await.map_err(db)?;
        self.authorize(&mut conn, subject, account_id).await?;
        let filter = (!req.types.is_empty()).then_some(types.as_slice());
        let mut rows = events::list(
            &mut conn,
            account_id,
            filter,
            from,
            until,
            page.after,
            page.fetch_limit(),
        )
        .await
        .map_err(db)?;
        let page_response = page.finish(&mut rows, |r| Cursor {
            time: r.created_at,
            id: r.security_event_id,
        });
        Ok(pb::ListSecurityEventsResponse {
            security_events: rows.iter().map(convert::event).collect::<Result<_, _>>()?,
            page: Some(page_response),
        })
    }
}
