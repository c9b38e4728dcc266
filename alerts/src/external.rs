//! Alerts from outside join the same pipeline: the Alertmanager v2 API body a Prometheus posts to
//! `/api/v2/alerts`, and the webhook v4 payload an Alertmanager posts to `/hooks/alertmanager`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use crate::matcher::{Matcher, Op};
use crate::mute::Silence;

/// An alert as an external sender states it.
#[derive(Clone, Debug, PartialEq)]
pub struct ExternalAlert {
    /// Labels (`alertname` required).
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// When it started (now, if the sender left it out).
    pub starts_at: SystemTime,
    /// When it ends; in the past means resolved. Prometheus sends a time a few minutes ahead
    /// while an alert fires, and keeps re-sending it.
    pub ends_at: Option<SystemTime>,
    /// The sender's link back.
    pub generator_url: String,
}

impl ExternalAlert {
    /// Resolved when `ends_at` has passed.
    pub fn resolved(&self, now: SystemTime) -> bool {
        self.ends_at.is_some_and(|e| e <= now)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableAlert {
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    starts_at: Option<String>,
    ends_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    generator_url: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebhookV4 {
    version: String,
    alerts: Vec<PostableAlert>,
}

/// Parses a `POST /api/v2/alerts` body (a JSON array of postable alerts).
pub fn parse_v2_alerts(body: &[u8], now: SystemTime) -> Result<Vec<ExternalAlert>, String> {
    let alerts: Vec<PostableAlert> =
        serde_json::from_slice(body).map_err(|e| format!("invalid alerts body: {e}"))?;
    alerts.into_iter().map(|a| convert(a, now)).collect()
}

/// Parses an Alertmanager webhook v4 payload.
pub fn parse_webhook_v4(body: &[u8], now: SystemTime) -> Result<Vec<ExternalAlert>, String> {
    let hook: WebhookV4 =
        serde_json::from_slice(body).map_err(|e| format!("invalid webhook body: {e}"))?;
    if hook.version != "4" {
        return Err(format!(
            "webhook version {:?} is not supported (want \"4\")",
            hook.version
        ));
    }
    hook.alerts.into_iter().map(|a| convert(a, now)).collect()
}

fn convert(a: PostableAlert, now: SystemTime) -> Result<ExternalAlert, String> {
    if !a.labels.contains_key("alertname") {
        return Err("an alert has no alertname label".into());
    }
    let starts_at = a
        .starts_at
        .as_deref()
        .map(parse_time)
        .transpose()?
        .flatten()
        .unwrap_or(now);
    let ends_at = a.ends_at.as_deref().map(parse_time).transpose()?.flatten();
    Ok(ExternalAlert {
        labels: a.labels,
        annotations: a.annotations,
        starts_at,
        ends_at,
        generator_url: a.generator_url,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableSilence {
    matchers: Vec<SilenceMatcher>,
    starts_at: Option<String>,
    ends_at: String,
    created_by: String,
    #[serde(default)]
    comment: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SilenceMatcher {
    name: String,
    value: String,
    #[serde(default)]
    is_regex: bool,
    #[serde(default = "yes")]
    is_equal: bool,
}

fn yes() -> bool {
    true
}

/// Reads an Alertmanager v2 `PostableSilence` (`POST /api/v2/silences`) as silence `id`.
pub fn parse_silence(body: &[u8], id: String, now: SystemTime) -> Result<Silence, String> {
    let s: PostableSilence =
        serde_json::from_slice(body).map_err(|e| format!("malformed silence: {e}"))?;
    if s.matchers.is_empty() {
        return Err("a silence needs at least one matcher".into());
    }
    let matchers = s
        .matchers
        .iter()
        .map(|m| {
            let op = match (m.is_regex, m.is_equal) {
                (false, true) => Op::Equal,
                (false, false) => Op::NotEqual,
                (true, true) => Op::Regex,
                (true, false) => Op::NotRegex,
            };
            Matcher::new(&m.name, op, &m.value)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let starts_at = match s.starts_at.as_deref() {
        Some(t) => parse_time(t)?.unwrap_or(now),
        None => now,
    }
    .max(now);
    let ends_at = parse_time(&s.ends_at)?.ok_or("a silence needs endsAt")?;
    if ends_at <= starts_at {
        return Err("endsAt must be after startsAt and in the future".into());
    }
    Ok(Silence {
        id,
        matchers,
        starts_at,
        ends_at,
        created_by: s.created_by,
        comment: s.comment,
    })
}

/// The first second past 9999-12-31T23:59:59Z, which RFC 3339 (and humantime, which prints the
/// times back in responses and notifications) cannot write.
const UNPRINTABLE_SECS: u64 = 253_402_300_800;

/// RFC 3339; Go's zero time (`0001-01-01T00:00:00Z`) means unset. A time before 1970 or past
/// 9999 is refused: no response or notification could print it back.
pub fn parse_time(text: &str) -> Result<Option<SystemTime>, String> {
    if text.is_empty() || text.starts_with("0001-01-01") {
        return Ok(None);
    }
    let t = humantime::parse_rfc3339_weak(text)
        .or_else(|_| parse_with_offset(text))
        .map_err(|_| format!("invalid time {text:?}"))?;
    match t.duration_since(UNIX_EPOCH) {
        Ok(since) if since.as_secs() < UNPRINTABLE_SECS => Ok(Some(t)),
        _ => Err(format!("time {text:?} is not between 1970 and 9999")),
    }
}

/// humantime reads `Z` only; Prometheus may send `+02:00` offsets (within a day, as RFC 3339
/// has them).
fn parse_with_offset(text: &str) -> Result<SystemTime, ()> {
    let at = text.rfind(['+', '-']).filter(|&i| i > 10).ok_or(())?;
    let (local, offset) = text.split_at(at);
    let (h, m) = offset[1..].split_once(':').ok_or(())?;
    let (h, m): (u64, u64) = (h.parse().map_err(|_| ())?, m.parse().map_err(|_| ())?);
    if h > 23 || m > 59 {
        return Err(());
    }
    let shift = Duration::from_secs(h * 3600 + m * 60);
    let base = humantime::parse_rfc3339_weak(local).map_err(|_| ())?;
    match offset.starts_with('-') {
        true => base.checked_add(shift),
        false => base.checked_sub(shift),
    }
    .ok_or(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_alertmanager_silence_parses_with_its_matchers_and_a_past_start_moves_to_now() {
        // Arrange
        let now = humantime::parse_rfc3339("2026-11-21T12:00:00Z").unwrap();
        let body = br#"{"matchers":[{"name":"env","value":"target","isRegex":false},
            {"name":"alertname","value":"Disk.*","isRegex":true,"isEqual":false}],
            "startsAt":"2026-11-21T11:00:00Z","endsAt":"2026-11-21T14:00:00+01:00",
            "createdBy":"alice","comment":"cutover window"}"#;
        // Act
        let s = parse_silence(body, "s1".into(), now).unwrap();
        // Assert
        assert_eq!(s.matchers[0].to_string(), "env=\"target\"");
        assert_eq!(s.matchers[1].op, Op::NotRegex);
        assert_eq!(s.starts_at, now);
        assert_eq!(
            s.ends_at,
            now + Duration::from_secs(3600),
            "14:00+01:00 is 13:00Z"
        );
        assert!(
            parse_silence(
                br#"{"matchers":[],"endsAt":"x","createdBy":"a"}"#,
                "s".into(),
                now
            )
            .is_err()
        );
    }

    #[test]
    fn a_prometheus_v2_post_parses_with_ends_at_in_the_future_meaning_firing() {
        let body = br#"[{"labels":{"alertname":"Up","env":"target"},"annotations":{"summary":"s"},
            "startsAt":"2026-11-21T10:00:00.000Z","endsAt":"2026-11-21T10:04:00.000Z",
            "generatorURL":"http://prom/graph"}]"#;
        let now = humantime::parse_rfc3339("2026-11-21T10:01:00Z").unwrap();
        let alerts = parse_v2_alerts(body, now).unwrap();
        assert_eq!(alerts[0].labels["env"], "target");
        assert!(!alerts[0].resolved(now));
        assert!(alerts[0].resolved(now + Duration::from_secs(180)));
    }

    #[test]
    fn a_webhook_v4_payload_parses_and_zero_end_time_means_unset_and_offsets_are_read() {
        let body = br#"{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"A"},
            "annotations":{},"startsAt":"2026-11-21T12:00:00+02:00","endsAt":"0001-01-01T00:00:00Z"}]}"#;
        let alerts = parse_webhook_v4(body, SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(alerts[0].ends_at, None);
        assert_eq!(
            alerts[0].starts_at,
            humantime::parse_rfc3339("2026-11-21T10:00:00Z").unwrap()
        );
    }

    #[test]
    fn bodies_without_alertname_or_of_another_version_are_rejected() {
        let now = SystemTime::UNIX_EPOCH;
        assert!(
            parse_v2_alerts(br#"[{"labels":{"a":"b"}}]"#, now)
                .unwrap_err()
                .contains("alertname")
        );
        assert!(
            parse_webhook_v4(br#"{"version":"3","alerts":[]}"#, now)
                .unwrap_err()
                .contains("version")
        );
        assert!(
            parse_v2_alerts(b"{", now)
                .unwrap_err()
                .starts_with("invalid alerts body")
        );
    }

    #[test]
    fn times_that_cannot_be_printed_back_are_refused_not_a_panic_later() {
        // Found by the fuzz campaign: each parsed, then panicked where it was printed as
        // RFC 3339 (a silences listing, a notification), or overflowed while parsing.
        for text in [
            "1970-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "2026-11-21T12:00:00+9999999999999999:00",
            "2026-11-21T12:00:00+2562047788015215:00",
            "2026-11-21T12:00:00+24:00",
            "2026-11-21T12:00:00+01:60",
        ] {
            assert!(parse_time(text).is_err(), "{text}");
        }
        let latest = parse_time("9999-12-31T23:59:59.999Z").unwrap().unwrap();
        assert_eq!(crate::notify::rfc3339(latest), "9999-12-31T23:59:59.999Z");
        let earliest = parse_time("1970-01-01T01:00:00+01:00").unwrap().unwrap();
        assert_eq!(earliest, SystemTime::UNIX_EPOCH);
    }

    #[test]
    fn a_silence_ending_past_9999_is_refused() {
        let body = br#"{"matchers":[{"name":"a","value":"b"}],"endsAt":"9999-12-31T23:59:59-01:00","createdBy":"x"}"#;

        let err = parse_silence(body, "s".into(), SystemTime::now()).unwrap_err();

        assert!(err.contains("between 1970 and 9999"), "{err}");
    }
}
