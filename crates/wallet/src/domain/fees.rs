//! Fee legs: who bears each fee, and how a movement splits between payer, payee and the
//! platform's fee revenue.

use kuajing_platform::Currency;
use rust_decimal::Decimal;

/// Who bears a fee.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bearer {
    /// Paid on top of the amount by the payer.
    Payer,
    /// Deducted from what the payee receives.
    Payee,
}

/// One validated fee.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fee {
    /// Stable UPPER_SNAKE code.
    pub code: String,
    /// Positive amount in the movement's currency.
    pub amount: Decimal,
    /// Currency of the fee.
    pub currency: Currency,
    /// Who bears it.
    pub bearer: Bearer,
    /// Human-readable text.
    pub description: String,
}

/// How a movement of `amount` with `fees` splits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    /// Taken from the payer: amount + payer-borne fees.
    pub payer_pays: Decimal,
    /// Credited to the payee: amount - payee-borne fees.
    pub payee_gets: Decimal,
    /// Credited to fee revenue: every fee.
    pub fee_revenue: Decimal,
}

/// Why fees do not fit a movement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FeeError {
    /// A fee is in another currency than the movement.
    CurrencyMismatch(String),
    /// Payee-borne fees exceed the amount.
    FeesExceedAmount,
}

/// Splits `amount` (in `currency`) with `fees`.
pub fn split(amount: Decimal, currency: Currency, fees: &[Fee]) -> Result<Split, FeeError> {
    let mut payer = Decimal::ZERO;
    let mut payee = Decimal::ZERO;
    for fee in fees {
        if fee.currency != currency {
            return Err(FeeError::CurrencyMismatch(fee.code.clone()));
        }
        match fee.bearer {
            Bearer::Payer => payer += fee.amount,
            Bearer::Payee => payee += fee.amount,
        }
    }
    if payee > amount {
        return Err(FeeError::FeesExceedAmount);
    }
    Ok(Split {
        payer_pays: amount + payer,
        payee_gets: amount - payee,
        fee_revenue: payer + payee,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fee(amount: i64, bearer: Bearer) -> Fee {
        Fee {
            code: "F".into(),
            amount: Decimal::new(amount, 2),
            currency: Currency::USD,
            bearer,
            description: String::new(),
        }
    }

    #[test]
    fn payer_and_payee_fees_split() {
        let s = split(
            Decimal::new(10000, 2),
            Currency::USD,
            &[fee(150, Bearer::Payer), fee(20, Bearer::Payee)],
        )
        .unwrap();
        assert_eq!(s.payer_pays, Decimal::new(10150, 2));
        assert_eq!(s.payee_gets, Decimal::new(9980, 2));
        assert_eq!(s.fee_revenue, Decimal::new(170, 2));
        // Conservation: what the payer pays is what payee and platform get.
        assert_eq!(s.payer_pays, s.payee_gets + s.fee_revenue);
    }

    #[test]
    fn payee_fees_cannot_exceed_the_amount() {
        assert_eq!(
            split(Decimal::ONE, Currency::USD, &[fee(101, Bearer::Payee)]),
            Err(FeeError::FeesExceedAmount)
        );
        assert!(split(Decimal::ONE, Currency::USD, &[fee(100, Bearer::Payee)]).is_ok());
    }

    #[test]
    fn fee_currency_must_match() {
        let mut f = fee(1, Bearer::Payer);
        f.currency = Currency::EUR;
        assert!(matches!(
            split(Decimal::ONE, Currency::USD, &[f]),
            Err(FeeError::CurrencyMismatch(_))
        ));
    }
}
