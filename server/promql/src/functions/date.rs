//! The calendar functions (`minute`, `hour`, `day_of_week`, `day_of_month`, `day_of_year`,
//! `days_in_month`, `month`, `year`), in UTC, on Unix seconds.

/// The function for `name`, mapping whole Unix seconds to the calendar field.
pub(crate) fn date_function(name: &str) -> Option<fn(i64) -> f64> {
    Some(match name {
        "minute" => |s| s.div_euclid(60).rem_euclid(60) as f64,
        "hour" => |s| s.div_euclid(3600).rem_euclid(24) as f64,
        "day_of_week" => |s| (s.div_euclid(86_400) + 4).rem_euclid(7) as f64,
        "day_of_month" => |s| civil(s.div_euclid(86_400)).2 as f64,
        "day_of_year" => |s| {
            let days = s.div_euclid(86_400);
            (days - days_from_civil(civil(days).0, 1, 1) + 1) as f64
        },
        "days_in_month" => |s| {
            let (y, m, _) = civil(s.div_euclid(86_400));
            days_in_month(y, m) as f64
        },
        "month" => |s| civil(s.div_euclid(86_400)).1 as f64,
        "year" => |s| civil(s.div_euclid(86_400)).0 as f64,
        _ => return None,
    })
}

/// Year, month (1–12) and day (1–31) of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, secs: i64) -> f64 {
        date_function(name).unwrap()(secs)
    }

    #[test]
    fn calendar_fields_of_a_leap_day_are_right() {
        // 2024-02-29T13:45:00Z, a Thursday.
        let t = 1_709_214_300;
        assert_eq!(
            (call("year", t), call("month", t), call("day_of_month", t)),
            (2024.0, 2.0, 29.0)
        );
        assert_eq!(
            (call("hour", t), call("minute", t), call("day_of_week", t)),
            (13.0, 45.0, 4.0)
        );
        assert_eq!(
            (call("day_of_year", t), call("days_in_month", t)),
            (60.0, 29.0)
        );
    }
}
