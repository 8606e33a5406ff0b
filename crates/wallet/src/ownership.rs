//! When edge acts for a person (`kj-subject`), the wallet checks that the person owns the
//! wallet a request touches, on top of edge's own check: defence in depth for money.

use kuajing_platform::auth::Caller;
use kuajing_platform::error::internal;
use sqlx::PgPool;
use tonic::{Code, Status};
use uuid::Uuid;

/// Reason: the person does not own the resource.
pub use kuajing_proto::reasons::wallet::NOT_OWNER;

/// What a request names, from which its owner is found.
#[derive(Clone, Copy, Debug)]
pub enum Scope<'a> {
    /// A wallet id.
    Wallet(&'a str),
    /// An owner account id (must be the person).
    Owner(&'a str),
    /// A hold id.
    Hold(&'a str),
    /// A transfer id (either side's owner).
    Transfer(&'a str),
    /// A remittance id.
    Remittance(&'a str),
    /// A withdrawal id.
    Withdrawal(&'a str),
    /// A journal entry id (any wallet it touches).
    Entry(&'a str),
    /// Nothing a person owns (platform-wide, operator or adapter RPCs).
    Platform,
    /// Configuration anyone may read (the withdrawal fee schedule): no owner to check.
    Public,
}

/// The owners of what `scope` names; `None` when the id is malformed or unknown (the
/// operation itself answers INVALID_ARGUMENT or NOT_FOUND then).
async fn owners(pool: &PgPool, scope: Scope<'_>) -> Result<Option<Vec<Uuid>>, Status> {
    use crate::store::owners;
    let id = match scope {
        Scope::Owner(id) => return Ok(Uuid::try_parse(id).ok().map(|u| vec![u])),
        Scope::Platform => return Ok(Some(Vec::new())),
        Scope::Public => return Ok(None),
        Scope::Wallet(id)
        | Scope::Hold(id)
        | Scope::Remittance(id)
        | Scope::Withdrawal(id)
        | Scope::Transfer(id)
        | Scope::Entry(id) => id,
    };
    let Ok(id) = Uuid::try_parse(id) else {
        return Ok(None);
    };
    let found = match scope {
        Scope::Hold(_) => owners::of_hold(pool, id).await,
        Scope::Remittance(_) => owners::of_remittance(pool, id).await,
        Scope::Withdrawal(_) => owners::of_withdrawal(pool, id).await,
        Scope::Transfer(_) => owners::of_transfer(pool, id).await,
        Scope::Entry(_) => owners::of_entry(pool, id).await,
        _ => owners::of_wallet(pool, id).await,
    }
    .map_err(internal)?;
    Ok((!found.is_empty()).then_some(found))
}

/// Refuses when the caller acts for a person who does not own what `scope` names.
pub async fn check(
    ctx: &crate::ops::Ctx,
    caller: Option<&Caller>,
    scope: Scope<'_>,
) -> Result<(), Status> {
    let Some(subject) = caller.and_then(Caller::owner_to_check) else {
        return Ok(());
    };
    match owners(&ctx.svc.pool, scope).await? {
        Some(owners) if !owners.contains(&subject) => Err(ctx.errors().refuse(
            Code::PermissionDenied,
            NOT_OWNER,
            "this belongs to another account",
        )),
        _ => Ok(()),
    }
}
