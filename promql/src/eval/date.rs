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

    /// The function's value for unix time `secs`.
    pub(crate) fn apply(self, secs: i64) -> f64 {
        let days = secs.div_euclid(86_400);
        let second_of_day = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        let value = match self {
            DateFunction::DaysInMonth => days_in_month(year, month),
            DateFunction::DayOfMonth => day,
            DateFunction::DayOfWeek => (days + 4).rem_euclid(7),
            DateFunction::DayOfYear => (1..month).map(|m| days_in_month(year, m)).sum::<i64>() + day,
            DateFunction::Hour => second_of_day / 3600,
            DateFunction::Minute => second_of_day % 3600 / 60,
            DateFunction::Month => month,
            DateFunction::Year => year,
        };
        value as f64
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// (year, month 1-12, day 1-31) of the day `days` after 1970-01-01, proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    // Count from 0000-03-01 so that the leap day ends each 4/100/400-year cycle.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
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
    }
}
