//! When edge acts for a person (`kj-subject`), fx checks that the person owns the wallet a
//! quote or conversion is for (asking wallet who owns it), on top of edge's own check.

use kuajing_platform::auth::Caller;
use kuajing_platform::error::internal;
use kuajing_proto::wallet::v1::{GetWalletRequest, get_wallet_request::Lookup};
use tonic::{Code, Status};
use uuid::Uuid;

use crate::ops::Ctx;
use crate::store;
use kuajing_platform::outbound;

/// Reason: the person does not own the wallet.
pub use kuajing_proto::reasons::fx::NOT_OWNER;

/// What a request names.
#[derive(Clone, Copy, Debug)]
pub enum Scope<'a> {
    /// A wallet id.
    Wallet(&'a str),
    /// A quote id (its wallet).
    Quote(&'a str),
    /// A conversion id (its wallet).
    Conversion(&'a str),
    /// Rates and equivalents: nobody's.
    Platform,
}

/// Refuses when the caller acts for a person who does not own the wallet `scope` names.
/// Unknown or malformed ids pass: the operation answers INVALID_ARGUMENT or NOT_FOUND.
pub async fn check(ctx: &Ctx, caller: Option<&Caller>, scope: Scope<'_>) -> Result<(), Status> {
    let Some(subject) = caller.and_then(Caller::owner_to_check) else {
        return Ok(());
    };
    let wallet: Option<Uuid> = match scope {
        Scope::Platform => return Ok(()),
        Scope::Wallet(id) => Uuid::try_parse(id).ok(),
        Scope::Quote(id) => match Uuid::try_parse(id) {
            Err(_) => None,
            Ok(id) => {
                let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
                store::quotes::wallet_of(&mut conn, id)
                    .await
                    .map_err(internal)?
            }
        },
        Scope::Conversion(id) => match Uuid::try_parse(id) {
            Err(_) => None,
            Ok(id) => {
                let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
                store::conversions::wallet_of(&mut conn, id)
                    .await
                    .map_err(internal)?
            }
        },
    };
    let Some(wallet) = wallet else { return Ok(()) };
    let get = GetWalletRequest {
        lookup: Some(Lookup::WalletId(wallet.to_string())),
    };
    let owner = match outbound::unary(&ctx.wallet()?, get, |mut c, r| async move {
        c.get_wallet(r).await
    })
    .await
    {
        Ok(r) => r.wallet.map(|w| w.owner_account_id),
        Err(s) if s.code() == Code::NotFound => return Ok(()),
        Err(s) => return Err(s),
    };
    if owner.as_deref() != Some(subject.to_string().as_str()) {
        return Err(ctx.errors().refuse(
            Code::PermissionDenied,
            NOT_OWNER,
            "this wallet belongs to another account",
        ));
    }
    Ok(())
}
