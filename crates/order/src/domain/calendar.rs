//! Calendar arithmetic the rules need without a time-zone database: US Pacific time for
//! ship-by dates (the contract's America/Los_Angeles: PST, UTC-8, and PDT, UTC-7, from the
//! second Sunday of March to the first Sunday of November, the US rule since 2007), and
//! calendar months at a fixed UTC offset (Asia/Shanghai has been UTC+8 without daylight
//! saving since 1991) for the fee tiers.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Utc, Weekday};

use super::tiers::MonthIndex;

/// The `n`-th (1-based) `weekday` of a month.
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u8) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n)
        .unwrap_or_else(|| NaiveDate::from_ymd_opt(year, month, 1).unwrap_or_default())
}

/// True when 23:59:59 of `date` in California falls in daylight saving time: from the
/// second Sunday of March (switch at 02:00) to the first Sunday of November (switch back at
/// 02:00, so that whole evening is standard time).
fn pacific_dst_at_end_of(date: NaiveDate) -> bool {
    let start = nth_weekday(date.year(), 3, Weekday::Sun, 2);
    let end = nth_weekday(date.year(), 11, Weekday::Sun, 1);
    date >= start && date < end
}

/// The date in US Pacific time at instant `t` (within an hour of a switch, the date as
/// standard time reads it).
pub fn pacific_date(t: DateTime<Utc>) -> NaiveDate {
    let standard = (t - Duration::hours(8)).date_naive();
    if pacific_dst_at_end_of(standard) {
        (t - Duration::hours(7)).date_naive()
    } else {
        standard
    }
}

/// 23:59:59 of `date` in US Pacific time, as an instant.
pub fn pacific_end_of_day(date: NaiveDate) -> DateTime<Utc> {
    let offset_hours = if pacific_dst_at_end_of(date) { 7 } else { 8 };
    let local = date.and_hms_opt(23, 59, 59).unwrap_or_default();
    local.and_utc() + Duration::hours(offset_hours)
}

/// The running index of the calendar month `t` falls in at `offset`.
pub fn month_index(t: DateTime<Utc>, offset: FixedOffset) -> MonthIndex {
    let local = t.with_timezone(&offset);
    local.year() * 12 + i32::try_from(local.month0()).unwrap_or(0)
}

/// The instant the month of running index `m` starts at `offset` (its 1st, 00:00 there).
pub fn month_start(m: MonthIndex, offset: FixedOffset) -> DateTime<Utc> {
    let (year, month0) = (m.div_euclid(12), m.rem_euclid(12));
    let first = NaiveDate::from_ymd_opt(year, u32::try_from(month0).unwrap_or(0) + 1, 1)
        .unwrap_or_default()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default();
    first.and_utc() - Duration::seconds(i64::from(offset.local_minus_utc()))
}

/// Parses a UTC offset such as "+08:00" or "-05:30".
pub fn parse_offset(text: &str) -> Option<FixedOffset> {
    let text = text.trim();
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: i32 = h.parse().ok()?;
    let m: i32 = m.parse().ok()?;
    if h > 14 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_month_starts_at_midnight_of_its_first_day_at_the_offset() {
        let east = FixedOffset::east_opt(8 * 3600).unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        // 2026-03-01 00:00 at UTC+8 is 2026-02-28 16:00 UTC.
        let march = month_index(at("2026-03-01T00:00:00+08:00"), east);
        assert_eq!(month_start(march, east), at("2026-02-28T16:00:00Z"));
        assert_eq!(month_index(at("2026-02-28T15:59:59Z"), east), march - 1);
        assert_eq!(month_index(month_start(march, east), east), march);
        // January wraps to the year before.
        let jan = month_index(at("2027-01-15T00:00:00Z"), east);
        assert_eq!(month_start(jan - 1, east), at("2026-11-30T16:00:00Z"));
        let west = FixedOffset::west_opt(5 * 3600 + 1800).unwrap();
        assert_eq!(month_start(jan, west), at("2027-01-01T05:30:00Z"));
    }

    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn pacific_switches_on_the_us_sundays() {
        // 2026: DST from 8 March to 1 November.
        assert_eq!(
            pacific_end_of_day(date("2026-03-07")),
            "2026-03-08T07:59:59Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            pacific_end_of_day(date("2026-03-08")),
            "2026-03-09T06:59:59Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            pacific_end_of_day(date("2026-10-31")),
            "2026-11-01T06:59:59Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            pacific_end_of_day(date("2026-11-01")),
            "2026-11-02T07:59:59Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            pacific_end_of_day(date("2026-07-04")),
            "2026-07-05T06:59:59Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            pacific_end_of_day(date("2026-01-15")),
            "2026-01-16T07:59:59Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn months_follow_the_offset() {
        let shanghai = parse_offset("+08:00").unwrap();
        // 2026-01-31T16:00Z is already February in Shanghai.
        let t: DateTime<Utc> = "2026-01-31T16:00:00Z".parse().unwrap();
        assert_eq!(month_index(t, shanghai), 2026 * 12 + 1);
        assert_eq!(month_index(t, parse_offset("+00:00").unwrap()), 2026 * 12);
        assert_eq!(
            parse_offset("-05:30").unwrap().local_minus_utc(),
            -(5 * 3600 + 30 * 60)
        );
        for bad in ["", "8", "+8:00", "+08", "+15:00", "08:00"] {
            assert!(parse_offset(bad).is_none(), "{bad}");
        }
    }
}
