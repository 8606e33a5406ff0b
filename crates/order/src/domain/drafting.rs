//! The drafting rules of Trade Assurance and Direct Pay orders (seed 002): the buyer's email
//! outside mainland China, refused destinations, the note length, the prepayment minimum,
//! the convenient-shipping limit, payment-method limits, and the ship-by rule. Every limit
//! is a parameter: the numbers live in settings and tables.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::calendar;

/// A destination where orders are refused (`refused_destinations`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedDestination {
    /// ISO 3166-1 alpha-2 region.
    pub region_code: String,
    /// ISO 3166-2 subdivision, or empty for the whole region.
    pub subdivision_code: String,
}

/// A non-blocking warning for a destination (`destination_warnings`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestinationWarning {
    /// ISO 3166-1 alpha-2 region.
    pub region_code: String,
    /// Warning code, e.g. DESTINATION_COLLECTION_RISK.
    pub code: String,
    /// Explanation.
    pub message: String,
}

/// The refusal, if any, for shipping to `region` / `subdivision`.
pub fn refused_destination<'a>(
    list: &'a [RefusedDestination],
    region: &str,
    subdivision: &str,
) -> Option<&'a RefusedDestination> {
    list.iter().find(|r| {
        r.region_code.eq_ignore_ascii_case(region)
            && (r.subdivision_code.is_empty()
                || r.subdivision_code.eq_ignore_ascii_case(subdivision))
    })
}

/// True when `email`'s domain is on the mainland list: an entry starting with "." is a
/// suffix (".cn" matches "x.cn" and "x.com.cn"); any other entry matches the domain itself
/// and its subdomains ("qq.com" matches "qq.com" and "vip.qq.com").
pub fn email_in_mainland(email: &str, domains: &[String]) -> bool {
    let Some((_, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    domains.iter().any(|entry| {
        let entry = entry.to_ascii_lowercase();
        if entry.starts_with('.') {
            domain.ends_with(&entry)
        } else {
            domain == entry || domain.ends_with(&format!(".{entry}"))
        }
    })
}

/// A plausible email address: one "@", a non-empty local part, a dotted domain, 3 to 254
/// characters, no spaces or control characters.
pub fn email_well_formed(email: &str) -> bool {
    let n = email.chars().count();
    if !(3..=254).contains(&n) || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        }
        None => false,
    }
}

/// True when `note` fits in `max` Unicode code points.
pub fn note_fits(note: &str, max: usize) -> bool {
    note.chars().count() <= max
}

/// Why payment terms are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TermsRefusal {
    /// The prepayment is below the minimum (and not 100 %).
    PrepaymentTooLow {
        /// The minimum, order currency.
        minimum: Decimal,
    },
    /// The prepayment exceeds the total.
    PrepaymentExceedsTotal,
    /// The prepayment is not positive.
    PrepaymentNotPositive,
}

/// The prepayment and balance of `total`: `full` takes the whole total (the minimum does
/// not apply, nor does it to a prepayment equal to the total); otherwise the prepayment
/// must be at least `minimum` (the USD 1 rule, in the order currency) and at most the total.
pub fn payment_terms(
    total: Decimal,
    prepayment: Option<Decimal>,
    full: bool,
    minimum: Decimal,
) -> Result<(Decimal, Decimal), TermsRefusal> {
    if full {
        return Ok((total, Decimal::ZERO));
    }
    let p = prepayment.unwrap_or_default();
    if p <= Decimal::ZERO {
        return Err(TermsRefusal::PrepaymentNotPositive);
    }
    if p > total {
        return Err(TermsRefusal::PrepaymentExceedsTotal);
    }
    if p < minimum && p != total {
        return Err(TermsRefusal::PrepaymentTooLow { minimum });
    }
    Ok((p, total - p))
}

/// Convenient shipping is allowed for totals whose USD equivalent is at most `limit`.
pub fn convenient_shipping_allowed(total_usd: Decimal, limit_usd: Decimal) -> bool {
    total_usd <= limit_usd
}

/// The ship-by rule of a draft.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShipBy {
    /// Within N calendar days after the prepayment is received in full.
    DaysAfterPayment(i32),
    /// By the end of this date in US Pacific time.
    FixedDate(NaiveDate),
}

/// Why a ship-by rule is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShipByRefusal {
    /// Days outside 0..=max.
    DaysOutOfRange,
    /// Not a YYYY-MM-DD date.
    Malformed,
    /// The date is already over (US Pacific).
    InThePast,
}

/// Parses and checks a ship-by rule at `now`.
pub fn ship_by(
    days: Option<i32>,
    fixed_date: Option<&str>,
    max_days: i32,
    now: DateTime<Utc>,
) -> Result<ShipBy, ShipByRefusal> {
    match (days, fixed_date) {
        (Some(d), None) if (0..=max_days).contains(&d) => Ok(ShipBy::DaysAfterPayment(d)),
        (Some(_), None) => Err(ShipByRefusal::DaysOutOfRange),
        (None, Some(text)) => {
            let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .filter(|d| d.format("%Y-%m-%d").to_string() == text)
                .ok_or(ShipByRefusal::Malformed)?;
            if calendar::pacific_end_of_day(date) < now {
                return Err(ShipByRefusal::InThePast);
            }
            Ok(ShipBy::FixedDate(date))
        }
        _ => Err(ShipByRefusal::Malformed),
    }
}

/// Seed 002 at the ship-by field: "填写0-2天很容易逾期，建议预留相对充足的发货时间" (0 to 2 days
/// is easily missed; leave enough time). A rule that leaves two days or less warns.
pub const SHIP_BY_SOON_DAYS: i64 = 2;

/// Whether `rule`, drafted at `now`, leaves [`SHIP_BY_SOON_DAYS`] or less to ship: days
/// after payment, or calendar days from today to the fixed date, both in US Pacific time
/// (the date's own zone), so the answer does not depend on the hour of drafting.
pub fn ship_by_soon(rule: ShipBy, now: DateTime<Utc>) -> bool {
    match rule {
        ShipBy::DaysAfterPayment(n) => i64::from(n) <= SHIP_BY_SOON_DAYS,
        ShipBy::FixedDate(d) => (d - calendar::pacific_date(now)).num_days() <= SHIP_BY_SOON_DAYS,
    }
}

/// Whether a first shipment at `shipped` missed the deadline (按时发货率 counts it late).
pub fn shipped_late(shipped: DateTime<Utc>, ship_by: Option<DateTime<Utc>>) -> bool {
    ship_by.is_some_and(|deadline| shipped > deadline)
}

/// The ship-by deadline: for a fixed date, its end in US Pacific time; for days after
/// payment, `days` after the prepayment completed (unknown before).
pub fn ship_by_time(
    rule: ShipBy,
    prepayment_complete: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    match rule {
        ShipBy::FixedDate(d) => Some(calendar::pacific_end_of_day(d)),
        ShipBy::DaysAfterPayment(n) => {
            prepayment_complete.map(|t| t + chrono::Duration::days(i64::from(n)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn two_days_or_less_to_ship_warns() {
        let now = Utc::now();
        assert!(ship_by_soon(ShipBy::DaysAfterPayment(0), now));
        assert!(ship_by_soon(ShipBy::DaysAfterPayment(2), now));
        assert!(!ship_by_soon(ShipBy::DaysAfterPayment(3), now));
        let date = |days: i64| calendar::pacific_date(now) + chrono::Duration::days(days);
        assert!(ship_by_soon(ShipBy::FixedDate(date(1)), now));
        assert!(ship_by_soon(ShipBy::FixedDate(date(2)), now));
        assert!(!ship_by_soon(ShipBy::FixedDate(date(3)), now));
        assert!(!ship_by_soon(ShipBy::FixedDate(date(10)), now));
        // Just after midnight UTC it is still the evening before in California: the 8th is
        // two days off (it was counted from the UTC date, and by the hour, before).
        let evening = "2026-12-07T00:05:00Z".parse::<DateTime<Utc>>().unwrap();
        let day = |d: u32| chrono::NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        assert_eq!(calendar::pacific_date(evening), day(6));
        assert!(ship_by_soon(ShipBy::FixedDate(day(8)), evening));
        assert!(!ship_by_soon(ShipBy::FixedDate(day(9)), evening));
        let summer = "2026-07-01T06:30:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            calendar::pacific_date(summer),
            chrono::NaiveDate::from_ymd_opt(2026, 6, 30).unwrap(),
            "PDT: 23:30 on the 30th"
        );
    }

    #[test]
    fn a_first_shipment_after_the_deadline_is_late() {
        let t = Utc::now();
        let hour = chrono::Duration::hours(1);
        assert!(shipped_late(t + hour, Some(t)));
        assert!(!shipped_late(t, Some(t)));
        assert!(!shipped_late(t - hour, Some(t)));
        assert!(!shipped_late(t + hour, None), "no deadline, nothing late");
    }

    fn seed_destinations() -> Vec<RefusedDestination> {
        let r = |region: &str, sub: &str| RefusedDestination {
            region_code: region.into(),
            subdivision_code: sub.into(),
        };
        vec![
            r("IR", ""),
            r("KP", ""),
            r("SY", ""),
            r("CU", ""),
            r("SD", ""),
            r("EG", ""),
            r("UA", "UA-43"),
            r("UA", "UA-40"),
        ]
    }

    #[test]
    fn refused_destinations_match_regions_and_subdivisions() {
        let list = seed_destinations();
        for region in ["IR", "KP", "SY", "CU", "SD", "EG", "ir"] {
            assert!(refused_destination(&list, region, "").is_some(), "{region}");
        }
        assert!(
            refused_destination(&list, "UA", "UA-43").is_some(),
            "Crimea"
        );
        assert!(
            refused_destination(&list, "UA", "UA-30").is_none(),
            "Kyiv is fine"
        );
        assert!(refused_destination(&list, "UA", "").is_none());
        assert!(
            refused_destination(&list, "MM", "").is_none(),
            "Myanmar only warns"
        );
        assert!(refused_destination(&list, "US", "").is_none());
    }

    #[test]
    fn mainland_emails_are_recognised() {
        let list = vec![".cn".to_owned(), "qq.com".to_owned(), "163.com".to_owned()];
        assert!(email_in_mainland("a@b.cn", &list));
        assert!(email_in_mainland("a@x.com.CN", &list));
        assert!(email_in_mainland("a@qq.com", &list));
        assert!(email_in_mainland("a@vip.qq.com", &list));
        assert!(!email_in_mainland("a@notqq.com", &list));
        assert!(!email_in_mainland("a@example.com", &list));
        assert!(!email_in_mainland("a@cn.example.com", &list));
    }

    #[test]
    fn emails_are_checked_for_shape() {
        assert!(email_well_formed("buyer@example.com"));
        for bad in ["", "a@", "@b.c", "a b@c.d", "a@b", "a@@b.c", "a@.b", "a@b."] {
            assert!(!email_well_formed(bad), "{bad:?}");
        }
    }

    #[test]
    fn notes_count_code_points() {
        assert!(note_fits(&"字".repeat(2000), 2000));
        assert!(!note_fits(&"字".repeat(2001), 2000));
        assert!(note_fits("", 2000));
    }

    #[test]
    fn prepayment_has_a_minimum_unless_it_is_everything() {
        let min = d("1");
        assert_eq!(
            payment_terms(d("2500"), Some(d("750")), false, min),
            Ok((d("750"), d("1750")))
        );
        assert_eq!(
            payment_terms(d("2500"), Some(d("1.00")), false, min),
            Ok((d("1"), d("2499")))
        );
        assert_eq!(
            payment_terms(d("2500"), Some(d("0.99")), false, min),
            Err(TermsRefusal::PrepaymentTooLow { minimum: min })
        );
        assert_eq!(
            payment_terms(d("2500"), None, true, min),
            Ok((d("2500"), d("0")))
        );
        assert_eq!(
            payment_terms(d("0.50"), None, true, min),
            Ok((d("0.50"), d("0")))
        );
        assert_eq!(
            payment_terms(d("0.50"), Some(d("0.50")), false, min),
            Ok((d("0.50"), d("0")))
        );
        assert_eq!(
            payment_terms(d("2500"), Some(d("2500.01")), false, min),
            Err(TermsRefusal::PrepaymentExceedsTotal)
        );
        assert_eq!(
            payment_terms(d("2500"), Some(d("0")), false, min),
            Err(TermsRefusal::PrepaymentNotPositive)
        );
    }

    #[test]
    fn convenient_shipping_stops_above_the_limit() {
        assert!(convenient_shipping_allowed(d("5000.00"), d("5000")));
        assert!(!convenient_shipping_allowed(d("5000.01"), d("5000")));
    }

    #[test]
    fn ship_by_rules() {
        let now: DateTime<Utc> = "2026-03-01T12:00:00Z".parse().unwrap();
        assert_eq!(
            ship_by(Some(10), None, 365, now),
            Ok(ShipBy::DaysAfterPayment(10))
        );
        assert_eq!(
            ship_by(Some(0), None, 365, now),
            Ok(ShipBy::DaysAfterPayment(0))
        );
        assert_eq!(
            ship_by(Some(366), None, 365, now),
            Err(ShipByRefusal::DaysOutOfRange)
        );
        assert_eq!(
            ship_by(Some(-1), None, 365, now),
            Err(ShipByRefusal::DaysOutOfRange)
        );
        assert_eq!(
            ship_by(None, Some("2026-2-30"), 365, now),
            Err(ShipByRefusal::Malformed)
        );
        assert_eq!(
            ship_by(None, Some("2026-02-28"), 365, now),
            Err(ShipByRefusal::InThePast)
        );
        // 2026-03-01 still runs in California at noon UTC.
        assert!(ship_by(None, Some("2026-03-01"), 365, now).is_ok());
        assert_eq!(ship_by(None, None, 365, now), Err(ShipByRefusal::Malformed));
        let paid: DateTime<Utc> = "2026-03-02T00:00:00Z".parse().unwrap();
        assert_eq!(
            ship_by_time(ShipBy::DaysAfterPayment(10), Some(paid)),
            Some("2026-03-12T00:00:00Z".parse().unwrap())
        );
        assert_eq!(ship_by_time(ShipBy::DaysAfterPayment(10), None), None);
    }
}
