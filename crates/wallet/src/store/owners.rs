//! Who owns what a request names: the accounts owning the wallet behind a hold, remittance,
//! withdrawal, transfer or journal entry (empty when there is no such thing).

use sqlx::PgExecutor;
use uuid::Uuid;

/// The owner of a wallet.
pub async fn of_wallet(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "SELECT owner_account_id FROM wallets WHERE wallet_id = $1",
        id
    )
    .fetch_all(db)
    .await
}

/// The owner of a hold's wallet.
pub async fn of_hold(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "SELECT w.owner_account_id FROM holds h JOIN wallets w USING (wallet_id)
         WHERE h.hold_id = $1",
        id
    )
    .fetch_all(db)
    .await
}

/// The owner of a remittance's wallet.
pub async fn of_remittance(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "SELECT w.owner_account_id FROM remittances r JOIN wallets w USING (wallet_id)
         WHERE r.remittance_id = $1",
        id
    )
    .fetch_all(db)
    .await
}

/// The owner of a withdrawal's wallet.
pub async fn of_withdrawal(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "SELECT w.owner_account_id FROM withdrawals x JOIN wallets w USING (wallet_id)
         WHERE x.withdrawal_id = $1",
        id
    )
    .fetch_all(db)
    .await
}

/// The owners of a transfer's two wallets.
pub async fn of_transfer(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "SELECT w.owner_account_id FROM transfers t JOIN wallets w
             ON w.wallet_id IN (t.source_wallet_id, t.destination_wallet_id)
         WHERE t.transfer_id = $1",
        id
    )
    .fetch_all(db)
    .await
}

/// The owners of the wallets a journal entry posted to.
pub async fn of_entry(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "SELECT DISTINCT w.owner_account_id FROM postings p JOIN wallets w USING (wallet_id)
         WHERE p.entry_id = $1",
        id
    )
    .fetch_all(db)
    .await
}
