//! Double-entry: an entry is a set of legs on ledger accounts whose signed amounts sum to
//! zero in each currency. A positive amount increases the account's balance.

use std::collections::BTreeMap;

use kuajing_platform::Currency;
use kuajing_proto::wallet::v1::{FundPool, JournalEntryType, LedgerAccountKind};
use rust_decimal::Decimal;
use uuid::Uuid;

/// Which ledger account a leg posts to. Platform accounts use the nil wallet id; their
/// shard is chosen when the entry is posted.
///
/// Keys order as their rows do in SQL (wallet, kind, currency code, fund pool): every path
/// that locks accounts (an entry posted one at a time, a transfer batch's `ORDER BY`)
/// locks them in this one order, so no two of them can deadlock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AccountKey {
    /// The wallet, or `Uuid::nil()` for a platform account.
    pub wallet_id: Uuid,
    /// The account kind (`LedgerAccountKind` as its wire number).
    pub kind: i32,
    /// The currency.
    pub currency: Currency,
    /// The fund pool (`FundPool` wire number); 0 where it does not apply.
    pub fund_pool: i32,
}

impl Ord for AccountKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (
            self.wallet_id,
            self.kind,
            self.currency.code(),
            self.fund_pool,
        )
            .cmp(&(
                other.wallet_id,
                other.kind,
                other.currency.code(),
                other.fund_pool,
            ))
    }
}

impl PartialOrd for AccountKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl AccountKey {
    /// A wallet's available balance in a fund pool.
    pub fn available(wallet_id: Uuid, currency: Currency, pool: FundPool) -> Self {
        Self::customer(
            wallet_id,
            LedgerAccountKind::CustomerAvailable,
            currency,
            pool as i32,
        )
    }

    /// A wallet's held balance (escrow, guarantee, freeze).
    pub fn held(wallet_id: Uuid, currency: Currency) -> Self {
        Self::customer(wallet_id, LedgerAccountKind::CustomerHeld, currency, 0)
    }

    /// What a wallet owes the platform (zero or negative).
    pub fn arrears(wallet_id: Uuid, currency: Currency) -> Self {
        Self::customer(wallet_id, LedgerAccountKind::CustomerArrears, currency, 0)
    }

    fn customer(wallet_id: Uuid, kind: LedgerAccountKind, currency: Currency, pool: i32) -> Self {
        AccountKey {
            wallet_id,
            kind: kind as i32,
            currency,
            fund_pool: pool,
        }
    }

    /// A platform account (inbound clearing, escrow, FX position, fee revenue, outbound
    /// clearing) in a currency.
    pub fn platform(kind: LedgerAccountKind, currency: Currency) -> Self {
        AccountKey {
            wallet_id: Uuid::nil(),
            kind: kind as i32,
            currency,
            fund_pool: 0,
        }
    }

    /// True for a platform account (sharded, may go negative).
    pub fn is_platform(&self) -> bool {
        self.wallet_id.is_nil()
    }

    /// True when the balance must stay at or below zero (arrears: what is owed).
    pub fn must_stay_non_positive(&self) -> bool {
        self.kind == LedgerAccountKind::CustomerArrears as i32
    }

    /// True when the balance must stay at or above zero (customer available and held).
    pub fn must_stay_non_negative(&self) -> bool {
        self.kind == LedgerAccountKind::CustomerAvailable as i32
            || self.kind == LedgerAccountKind::CustomerHeld as i32
    }
}

/// One signed amount on one account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leg {
    /// The account.
    pub account: AccountKey,
    /// Signed amount in the account's currency; never zero.
    pub amount: Decimal,
}

/// What caused an entry: every entry names its request and, where there is one, the
/// order, quote, hold, transfer, remittance, link or withdrawal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cause {
    /// The request that made it (the idempotency key).
    pub request_id: Uuid,
    /// Order reference, when there is one.
    pub order_id: String,
    /// FX quote, for conversions.
    pub quote_id: String,
    /// Hold, for hold entries.
    pub hold_id: Option<Uuid>,
    /// Transfer, for transfers.
    pub transfer_id: Option<Uuid>,
    /// Remittance, for remittances and links.
    pub remittance_id: Option<Uuid>,
    /// Link, for remittance links.
    pub remittance_link_id: Option<Uuid>,
    /// Withdrawal, for withdrawals.
    pub withdrawal_id: Option<Uuid>,
}

/// An entry before it is posted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryDraft {
    /// What kind of movement.
    pub entry_type: JournalEntryType,
    /// Why it happened.
    pub cause: Cause,
    /// Free text shown on statements.
    pub description: String,
    /// The legs, in the order they are recorded.
    pub legs: Vec<Leg>,
    /// The entry it reverses, for reversals.
    pub reverses: Option<Uuid>,
}

/// Why a draft is not a valid entry (a bug in the caller, never user input).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DraftError {
    /// No legs at all.
    #[error("an entry needs at least two legs")]
    TooFewLegs,
    /// A zero-amount leg.
    #[error("a leg has a zero amount")]
    ZeroLeg,
    /// Legs in a currency do not sum to zero.
    #[error("legs in {0} sum to {1}, not zero")]
    Unbalanced(Currency, Decimal),
}

impl EntryDraft {
    /// An entry of `entry_type` for `cause` with no legs yet.
    pub fn new(entry_type: JournalEntryType, cause: Cause, description: impl Into<String>) -> Self {
        EntryDraft {
            entry_type,
            cause,
            description: description.into(),
            legs: Vec::new(),
            reverses: None,
        }
    }

    /// Adds a leg, skipping zero amounts (a fee of zero, an empty remainder).
    pub fn leg(&mut self, account: AccountKey, amount: Decimal) -> &mut Self {
        if !amount.is_zero() {
            self.legs.push(Leg { account, amount });
        }
        self
    }

    /// Moves `amount` from one account to another.
    pub fn transfer(&mut self, from: AccountKey, to: AccountKey, amount: Decimal) -> &mut Self {
        self.leg(from, -amount).leg(to, amount)
    }

    /// Checks the double-entry rule: at least two legs, none zero, each currency sums to 0.
    pub fn validate(&self) -> Result<(), DraftError> {
        if self.legs.len() < 2 {
            return Err(DraftError::TooFewLegs);
        }
        if self.legs.iter().any(|l| l.amount.is_zero()) {
            return Err(DraftError::ZeroLeg);
        }
        let mut sums: BTreeMap<Currency, Decimal> = BTreeMap::new();
        for leg in &self.legs {
            *sums.entry(leg.account.currency).or_default() += leg.amount;
        }
        match sums.into_iter().find(|(_, s)| !s.is_zero()) {
            Some((currency, sum)) => Err(DraftError::Unbalanced(currency, sum)),
            None => Ok(()),
        }
    }

    /// The net change per account, in the fixed lock order (by account key), so that two
    /// entries touching the same accounts always lock them in the same order and never
    /// deadlock.
    pub fn net_by_account(&self) -> Vec<(AccountKey, Decimal)> {
        let mut net: BTreeMap<AccountKey, Decimal> = BTreeMap::new();
        for leg in &self.legs {
            *net.entry(leg.account).or_default() += leg.amount;
        }
        net.into_iter().collect()
    }

    /// The reversing draft: every leg negated, same cause ids, type REVERSAL.
    pub fn reversal_of(
        original: &EntryDraft,
        original_id: Uuid,
        request_id: Uuid,
        reason: &str,
    ) -> EntryDraft {
        EntryDraft {
            entry_type: JournalEntryType::Reversal,
            cause: Cause {
                request_id,
                ..original.cause.clone()
            },
            description: reason.to_owned(),
            legs: original
                .legs
                .iter()
                .map(|l| Leg {
                    account: l.account,
                    amount: -l.amount,
                })
                .collect(),
            reverses: Some(original_id),
        }
    }
}

#[cfg(test)]
mod lock_order {
    use super::*;

    #[test]
    fn currencies_order_by_their_code_as_sql_sorts_text() {
        let w = Uuid::now_v7();
        let mut keys: Vec<AccountKey> =
            [Currency::USD, Currency::SGD, Currency::CNY, Currency::CNH]
                .into_iter()
                .map(|c| AccountKey::available(w, c, FundPool::Standard))
                .collect();
        keys.sort();
        let codes: Vec<&str> = keys.iter().map(|k| k.currency.code()).collect();
        assert_eq!(codes, ["CNH", "CNY", "SGD", "USD"]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn w() -> Uuid {
        Uuid::now_v7()
    }

    #[test]
    fn a_transfer_balances() {
        let (a, b) = (w(), w());
        let mut d = EntryDraft::new(JournalEntryType::Transfer, Cause::default(), "");
        d.transfer(
            AccountKey::available(a, Currency::USD, FundPool::Standard),
            AccountKey::available(b, Currency::USD, FundPool::Standard),
            Decimal::new(1000, 2),
        );
        assert_eq!(d.validate(), Ok(()));
    }

    #[test]
    fn unbalanced_and_degenerate_entries_are_refused() {
        let a = w();
        let mut d = EntryDraft::new(JournalEntryType::Transfer, Cause::default(), "");
        assert_eq!(d.validate(), Err(DraftError::TooFewLegs));
        d.leg(
            AccountKey::available(a, Currency::USD, FundPool::Standard),
            Decimal::ONE,
        );
        d.leg(AccountKey::held(a, Currency::USD), Decimal::NEGATIVE_ONE);
        assert_eq!(d.validate(), Ok(()));
        d.leg(AccountKey::held(a, Currency::EUR), Decimal::ONE);
        d.leg(AccountKey::held(a, Currency::EUR), Decimal::ONE);
        assert!(matches!(
            d.validate(),
            Err(DraftError::Unbalanced(Currency::EUR, _))
        ));
    }

    #[test]
    fn zero_legs_are_skipped_when_built() {
        let a = w();
        let mut d = EntryDraft::new(JournalEntryType::Transfer, Cause::default(), "");
        d.leg(AccountKey::held(a, Currency::USD), Decimal::ZERO);
        assert!(d.legs.is_empty());
    }

    proptest! {
        #[test]
        fn net_by_account_is_sorted_and_conserves(amounts in proptest::collection::vec(1i64..1_000_000, 1..20)) {
            let wallets: Vec<Uuid> = (0..4).map(|_| w()).collect();
            let mut d = EntryDraft::new(JournalEntryType::Transfer, Cause::default(), "");
            for (i, a) in amounts.iter().enumerate() {
                let from = AccountKey::available(wallets[i % 4], Currency::USD, FundPool::Standard);
                let to = AccountKey::available(wallets[(i + 1) % 4], Currency::USD, FundPool::Standard);
                d.transfer(from, to, Decimal::new(*a, 2));
            }
            prop_assert!(d.validate().is_ok());
            let net = d.net_by_account();
            prop_assert!(net.windows(2).all(|p| p[0].0 < p[1].0));
            prop_assert!(net.iter().map(|(_, a)| *a).sum::<Decimal>().is_zero());
            let rev = EntryDraft::reversal_of(&d, w(), w(), "r");
            prop_assert!(rev.validate().is_ok());
        }
    }
}
