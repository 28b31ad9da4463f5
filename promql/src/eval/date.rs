//! Calendar functions (`hour`, `day_of_week`, `days_in_month`, ...) in UTC.

/// A function of a unix time's UTC calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateFunction {
    DaysInMonth,
    DayOfMonth,
    DayOfWeek,
    DayOfYear,
    Hour,
    Minute,
    Month,
    Year,
}

impl DateFunction {
    pub(crate) fn from_name(name: &str) -> Option<DateFunction> {
        Some(match name {
            "days_in_month" => DateFunction::DaysInMonth,
            "day_of_month" => DateFunction::DayOfMonth,
            "day_of_week" => DateFunction::DayOfWeek,
            "day_of_year" => DateFunction::DayOfYear,
            "hour" => DateFunction::Hour,
            "minute" => DateFunction::Minute,
            "month" => DateFunction::Month,
            "year" => DateFunction::Year,
            _ => return None,
        })
    }

    /// The function's value for unix time `secs`, computed the way Go's `time` package
    /// does, so that even times far outside the calendar's range (Go's float-to-int
    /// conversion turns NaN into -2^63) give Prometheus's numbers.
    pub(crate) fn apply(self, secs: i64) -> f64 {
        // Seconds since Go's "absolute" epoch, 1 January of year -292277022399, wrapping.
        let abs = (secs as u64).wrapping_add(UNIX_TO_ABSOLUTE);
        let value = match self {
            DateFunction::Hour => (abs % 86_400 / 3600) as i64,
            DateFunction::Minute => (abs % 3600 / 60) as i64,
            // Day 0 of the absolute epoch is a Monday.
            DateFunction::DayOfWeek => ((abs + 86_400) % (7 * 86_400) / 86_400) as i64,
            _ => {
                let (year, year_day) = year_and_day(abs);
                let (month, day) = month_and_day(year, year_day);
                match self {
                    DateFunction::DaysInMonth => days_in_month(year, month),
                    DateFunction::DayOfMonth => day,
                    DateFunction::DayOfYear => year_day + 1,
                    DateFunction::Month => month,
                    _ => year,
                }
            }
        };
        value as f64
    }
}

/// Go's float-to-int64 conversion on amd64: truncation, and -2^63 for NaN and out of range.
pub(crate) fn go_float_to_int(v: f64) -> i64 {
    // i64::MIN as f64 is exactly -2^63.
    if v.is_nan() || !(i64::MIN as f64..-(i64::MIN as f64)).contains(&v) { i64::MIN } else { v as i64 }
}

/// Unix seconds to seconds since 1 January -292277022399 (Go's `unixToInternal +
/// internalToAbsolute`).
const UNIX_TO_ABSOLUTE: u64 = 62_135_596_800 + 9_223_371_966_579_724_800;

const DAYS_PER_400_YEARS: u64 = 365 * 400 + 97;
const DAYS_PER_100_YEARS: u64 = 365 * 100 + 24;
const DAYS_PER_4_YEARS: u64 = 365 * 4 + 1;

/// (year, day of the year from 0) of an absolute time, by 400-, 100-, 4- and 1-year cycles.
fn year_and_day(abs: u64) -> (i64, i64) {
    let mut d = abs / 86_400;
    let mut n = d / DAYS_PER_400_YEARS;
    let mut y = 400 * n;
    d -= DAYS_PER_400_YEARS * n;
    // The last 100-year cycle has an extra leap day: its last day would count as a 4th.
    n = d / DAYS_PER_100_YEARS;
    n -= n >> 2;
    y += 100 * n;
    d -= DAYS_PER_100_YEARS * n;
    n = d / DAYS_PER_4_YEARS;
    y += 4 * n;
    d -= DAYS_PER_4_YEARS * n;
    n = d / 365;
    n -= n >> 2;
    y += n;
    d -= 365 * n;
    ((y as i64).wrapping_add(-292_277_022_399), d as i64)
}

/// (month 1-12, day 1-31) of day `year_day` (from 0) of `year`.
fn month_and_day(year: i64, year_day: i64) -> (i64, i64) {
    let mut day = year_day;
    if is_leap(year) {
        if day == 31 + 29 - 1 {
            return (2, 29);
        }
        if day > 31 + 29 - 1 {
            day -= 1;
        }
    }
    let mut month = 1;
    while month < 12 && day >= DAYS_BEFORE[month as usize] {
        month += 1;
    }
    (month, day - DAYS_BEFORE[month as usize - 1] + 1)
}

/// Days before each month's first in a common year (and 365 after December).
const DAYS_BEFORE: [i64; 13] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365];

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_of_known_times() {
        // 2024-02-29T13:45:00Z, a Thursday.
        let t = 1_709_214_300;
        assert_eq!(DateFunction::Year.apply(t), 2024.0);
        assert_eq!(DateFunction::Month.apply(t), 2.0);
        assert_eq!(DateFunction::DayOfMonth.apply(t), 29.0);
        assert_eq!(DateFunction::DaysInMonth.apply(t), 29.0);
        assert_eq!(DateFunction::DayOfWeek.apply(t), 4.0);
        assert_eq!(DateFunction::DayOfYear.apply(t), 60.0);
        assert_eq!(DateFunction::Hour.apply(t), 13.0);
        assert_eq!(DateFunction::Minute.apply(t), 45.0);
        assert_eq!(DateFunction::DayOfWeek.apply(0), 4.0);
        assert_eq!(DateFunction::Year.apply(-1), 1969.0);
        assert_eq!(DateFunction::DaysInMonth.apply(1_900_000_000), 31.0);
        assert_eq!(DateFunction::DayOfYear.apply(1_704_067_199), 365.0);
        assert_eq!(DateFunction::Month.apply(1_704_067_199), 12.0);
        assert_eq!(DateFunction::DayOfMonth.apply(1_704_067_199), 31.0);
        assert_eq!(DateFunction::DayOfMonth.apply(951_782_400), 29.0);
        assert_eq!(DateFunction::Month.apply(951_868_800), 3.0);
        // NaN becomes -2^63 seconds; Prometheus 2.42 answers 15 for its hour.
        assert_eq!(DateFunction::Hour.apply(go_float_to_int(f64::NAN)), 15.0);
    }
}
