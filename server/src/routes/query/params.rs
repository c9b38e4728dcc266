//! Request parameters of the query API: from the URL and, for POST, from a form body; times as
//! RFC 3339 or Unix seconds, steps as seconds or durations, as Prometheus' `api.go` parses them.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::http::{HeaderMap, header};

/// The earliest time an API call can name (Prometheus' `minTime`,
/// `-292273086-05-16T16:47:06Z`), in ms; earlier times are clamped to it.
pub(super) const MIN_TIME_MS: i64 = -9_223_309_901_257_974_000;
/// The latest time an API call can name (Prometheus' `maxTime`,
/// `292277025-08-18T07:12:54.999999999Z`), in ms; later times are clamped to it.
pub(super) const MAX_TIME_MS: i64 = 9_223_309_901_257_974_999;

/// How Prometheus writes its `minTime` and `maxTime`, which clients send back as bounds.
const MIN_TIME_TEXT: &str = "-292273086-05-16T16:47:06Z";
const MAX_TIME_TEXT: &str = "292277025-08-18T07:12:54.999999999Z";

/// All `name=value` pairs of a request, URL first, repeated names kept.
#[derive(Debug, Default)]
pub(super) struct Params(Vec<(String, String)>);

impl Params {
    /// Collects the URL's query string and, when the body is a form, its fields.
    pub(super) fn collect(query: Option<&str>, headers: &HeaderMap, body: &Bytes) -> Self {
        let mut pairs: Vec<(String, String)> = query
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if is_form {
            pairs.extend(form_urlencoded::parse(body).into_owned());
        }
        Self(pairs)
    }

    /// The value of `name`; a form field wins over the URL, as with Go's `FormValue`.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        let mut found = None;
        for (k, v) in &self.0 {
            if k == name {
                found = Some(v.as_str());
            }
        }
        found
    }

    /// Every value of a repeated parameter such as `match[]`.
    pub(super) fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A time parameter, or `default` when it is absent.
    pub(super) fn time_or(&self, name: &str, default: i64) -> Result<i64, String> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(s) => parse_time(s).ok_or_else(|| {
                format!("invalid parameter \"{name}\": cannot parse \"{s}\" to a valid timestamp")
            }),
        }
    }
}

/// Unix seconds with up to millisecond precision, or RFC 3339 with an optional offset, clamped
/// to Prometheus' `minTime`..`maxTime`.
pub(crate) fn parse_time(s: &str) -> Option<i64> {
    if let Ok(secs) = s.parse::<f64>() {
        let ms = (secs * 1000.0).round();
        // `as` saturates, and the clamp keeps the arithmetic on times away from i64's edges.
        return (!ms.is_nan()).then(|| (ms as i64).clamp(MIN_TIME_MS, MAX_TIME_MS));
    }
    match s {
        MIN_TIME_TEXT => return Some(MIN_TIME_MS),
        MAX_TIME_TEXT => return Some(MAX_TIME_MS),
        _ => {}
    }
    parse_rfc3339(s).map(|ms| ms.clamp(MIN_TIME_MS, MAX_TIME_MS))
}

fn parse_rfc3339(s: &str) -> Option<i64> {
    let (base, offset_ms) = split_offset(s)?;
    let t = humantime::parse_rfc3339_weak(base).ok()?;
    let ms = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).ok()?,
        Err(e) => -i64::try_from(e.duration().as_millis()).ok()?,
    };
    ms.checked_sub(offset_ms)
}

/// Splits `...Z` or `...±HH:MM` into the local time and the offset east of UTC in ms.
fn split_offset(s: &str) -> Option<(&str, i64)> {
    if let Some(base) = s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        return Some((base, 0));
    }
    let (base, tz) = s.split_at(s.len().checked_sub(6)?);
    let sign = match tz.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let hours: i64 = tz.get(1..3)?.parse().ok()?;
    let minutes: i64 = tz.get(4..6)?.parse().ok()?;
    (base.len() >= 19 && base.as_bytes()[10] == b'T')
        .then_some((base, sign * (hours * 3_600_000 + minutes * 60_000)))
}

/// A step or timeout: float seconds or a Prometheus duration (`15s`, `1m30s`), in ms.
pub(super) fn parse_duration_ms(s: &str) -> Option<i64> {
    if let Ok(secs) = s.parse::<f64>() {
        let ms = (secs * 1000.0).round();
        return (ms.is_finite() && ms.abs() < 9.2e18).then_some(ms as i64);
    }
    let d = promql_parser::util::parse_duration(s).ok()?;
    i64::try_from(d.as_millis()).ok()
}

/// Now, in ms since the Unix epoch.
pub(super) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_unix_seconds_or_rfc3339_with_offsets() {
        assert_eq!(parse_time("1435781451.781"), Some(1_435_781_451_781));
        assert_eq!(
            parse_time("2015-07-01T20:10:51.781Z"),
            Some(1_435_781_451_781)
        );
        assert_eq!(
            parse_time("2015-07-01T22:10:51.781+02:00"),
            Some(1_435_781_451_781)
        );
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn times_outside_prometheus_bounds_are_clamped_to_them() {
        assert_eq!(parse_time("1e300"), Some(MAX_TIME_MS));
        assert_eq!(parse_time("-1e300"), Some(MIN_TIME_MS));
        assert_eq!(parse_time("+Inf"), Some(MAX_TIME_MS));
        assert_eq!(parse_time("9223372036854775807"), Some(MAX_TIME_MS));
        assert_eq!(parse_time("NaN"), None);
        assert_eq!(parse_time(MIN_TIME_TEXT), Some(MIN_TIME_MS));
        assert_eq!(parse_time(MAX_TIME_TEXT), Some(MAX_TIME_MS));
    }

    #[test]
    fn steps_parse_as_seconds_or_durations() {
        assert_eq!(parse_duration_ms("15"), Some(15_000));
        assert_eq!(parse_duration_ms("0.5"), Some(500));
        assert_eq!(parse_duration_ms("1m30s"), Some(90_000));
        assert_eq!(parse_duration_ms("fast"), None);
    }
}
