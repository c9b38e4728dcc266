//! The JSON bodies of alerts from outside: `POST /api/v2/alerts` (Alertmanager v2 postable
//! alerts), `POST /hooks/alertmanager` (webhook v4) and `POST /api/v2/silences`, through
//! warroom-alerts' parsers, and what the routes then do with a parsed value (fingerprint it,
//! match it, print its times as RFC 3339 in responses and notifications).

use std::collections::BTreeMap;
use std::time::SystemTime;

use proptest::prelude::*;
use serde_json::{Value, json};
use warroom_alerts::dispatch::fingerprint;
use warroom_alerts::external::{
    ExternalAlert, parse_silence, parse_time, parse_v2_alerts, parse_webhook_v4,
};
use warroom_alerts::notify::rfc3339;

use crate::{harness, mutate};

/// Times as senders write them, and as no sender should: offsets past a day, years at the
/// edges of what RFC 3339 parsers take, digits enough to overflow any integer.
pub fn time_text() -> BoxedStrategy<String> {
    prop_oneof![
        Just(String::new()),
        Just("0001-01-01T00:00:00Z".to_owned()),
        Just("2026-11-21T12:00:00Z".to_owned()),
        Just("1970-01-01T00:00:00+01:00".to_owned()),
        Just("9999-12-31T23:59:59-01:00".to_owned()),
        Just("9999-12-31T23:59:59.999999999Z".to_owned()),
        Just("2026-11-21T12:00:00+9999999999999999:00".to_owned()),
        Just("2026-11-21T12:00:00+2562047788015215:00".to_owned()),
        "[0-9]{4}-[01][0-9]-[0-3][0-9][T ][0-2][0-9]:[0-5][0-9]:[0-6][0-9](\\.[0-9]{1,12})?(Z|[+-][0-9]{1,20}:[0-9]{1,20})?",
        "\\PC{0,30}",
    ]
    .boxed()
}

/// Label maps: sometimes without `alertname`, keys and values of any text.
fn labels() -> BoxedStrategy<BTreeMap<String, String>> {
    let key = prop_oneof![
        Just("alertname".to_owned()),
        Just(String::new()),
        "\\PC{0,10}"
    ];
    prop::collection::btree_map(key, "\\PC{0,20}", 0..6).boxed()
}

/// A postable alert as a JSON object, fields sometimes missing or of the wrong type.
fn alert() -> BoxedStrategy<Value> {
    let maybe_time = prop::option::of(time_text().prop_map(Value::String));
    (
        labels(),
        labels(),
        maybe_time.clone(),
        maybe_time,
        "\\PC{0,20}",
        json_value(),
    )
        .prop_map(|(labels, annotations, starts, ends, url, odd)| {
            let mut a = json!({"labels": labels, "annotations": annotations, "generatorURL": url});
            if let Some(s) = starts {
                a["startsAt"] = s;
            }
            if let Some(e) = ends {
                a["endsAt"] = e;
            }
            if let Value::Object(odd) = odd {
                a.as_object_mut().unwrap().extend(odd);
            }
            a
        })
        .boxed()
}

/// Keys of every body's schema, and a few others.
const KEYS: &[&str] = &[
    "labels",
    "annotations",
    "startsAt",
    "endsAt",
    "generatorURL",
    "version",
    "alerts",
    "matchers",
    "name",
    "value",
    "isRegex",
    "isEqual",
    "createdBy",
    "comment",
    "status",
    "receiver",
    "groupKey",
    "alertname",
    "",
];

/// Any JSON value, four deep, its keys mostly from the schemas.
fn json_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        time_text().prop_map(Value::String),
        Just(Value::String("4".into())),
    ];
    let key =
        prop_oneof![4 => prop::sample::select(KEYS).prop_map(str::to_owned), 1 => "\\PC{0,8}"];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kvs| Value::Object(kvs.into_iter().collect())),
        ]
    })
    .boxed()
}

/// A silence matcher: regexes that do not compile, that are huge, or that backtrack.
fn matcher() -> BoxedStrategy<Value> {
    let value = prop_oneof![
        "\\PC{0,12}",
        Just("(a*)*$".to_owned()),
        Just("(".to_owned()),
        Just("a{1000}{1000}".to_owned()),
        Just("x{4294967295}".to_owned()),
        Just(")|(.*".to_owned()),
        Just("\\".to_owned()),
        "[a-z.*+?|(){}\\[\\]^$\\\\]{0,16}",
    ];
    (
        prop::option::of("\\PC{0,8}"),
        value,
        prop::option::of(any::<bool>()),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(name, value, re, eq)| {
            let mut m = json!({"value": value});
            if let Some(n) = name {
                m["name"] = n.into();
            }
            if let Some(r) = re {
                m["isRegex"] = r.into();
            }
            if let Some(e) = eq {
                m["isEqual"] = e.into();
            }
            m
        })
        .boxed()
}

fn silence() -> BoxedStrategy<Value> {
    let maybe_time = prop::option::of(time_text());
    (
        prop::collection::vec(matcher(), 0..4),
        maybe_time.clone(),
        maybe_time,
        "\\PC{0,8}",
    )
        .prop_map(|(matchers, starts, ends, by)| {
            let mut s = json!({"matchers": matchers, "createdBy": by, "comment": "fuzz"});
            if let Some(t) = starts {
                s["startsAt"] = t.into();
            }
            if let Some(t) = ends {
                s["endsAt"] = t.into();
            }
            s
        })
        .boxed()
}

/// A body, shown as (lossy) text when a case fails.
#[derive(Clone)]
struct Body(Vec<u8>);

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

/// Bodies for one parser: random bytes, any JSON, the schema's shape, or mutations of it.
fn bodies(shaped: BoxedStrategy<Value>) -> impl Strategy<Value = Body> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        shaped.clone().prop_map(|v| v.to_string().into_bytes()),
        shaped.prop_flat_map(|v| mutate::bytes(v.to_string().into_bytes())),
    ]
    .prop_map(Body)
}

/// What the routes do with parsed alerts: fingerprint them and print their times.
fn use_alerts(parsed: Result<Vec<ExternalAlert>, String>) -> Result<(), TestCaseError> {
    let now = SystemTime::now();
    match parsed {
        Ok(alerts) => {
            for a in alerts {
                prop_assert!(a.labels.contains_key("alertname"));
                let _ = fingerprint(&a.labels);
                let _ = a.resolved(now);
                let _ = rfc3339(a.starts_at);
                a.ends_at.map(rfc3339);
            }
            Ok(())
        }
        Err(message) => {
            prop_assert!(!message.is_empty());
            Ok(())
        }
    }
}

proptest! {
    #![proptest_config(harness::config(4_000))]
    #[test]
    fn alertmanager_v2_alert_bodies_are_parsed_or_refused(
        body in bodies(prop::collection::vec(alert(), 0..4).prop_map(Value::Array).boxed())
    ) {
        let _case = harness::case("v2 alerts");
        use_alerts(parse_v2_alerts(&body.0, SystemTime::now()))?;
    }

    #[test]
    fn webhook_v4_bodies_are_parsed_or_refused(
        body in bodies(
            (prop::collection::vec(alert(), 0..4), prop_oneof![Just("4".to_owned()), "\\PC{0,3}"])
                .prop_map(|(alerts, version)| json!({"version": version, "status": "firing", "alerts": alerts}))
                .boxed()
        )
    ) {
        let _case = harness::case("webhook v4");
        use_alerts(parse_webhook_v4(&body.0, SystemTime::now()))?;
    }

    #[test]
    fn silence_bodies_are_parsed_or_refused(body in bodies(silence())) {
        let _case = harness::case("silences");
        let now = SystemTime::now();
        if let Ok(s) = parse_silence(&body.0, "id".into(), now) {
            prop_assert!(!s.matchers.is_empty());
            prop_assert!(s.ends_at > s.starts_at);
            let labels = BTreeMap::from([("alertname".to_owned(), "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!".to_owned())]);
            for m in &s.matchers {
                let _ = m.matches(&labels);
            }
            let _ = (rfc3339(s.starts_at), rfc3339(s.ends_at), s.active(now));
        }
    }

}

proptest! {
    #![proptest_config(harness::config(10_000))]
    #[test]
    fn times_are_read_or_refused_and_every_time_read_can_be_printed(text in time_text()) {
        if let Ok(Some(t)) = parse_time(&text) {
            let _ = rfc3339(t);
        }
    }
}

#[test]
fn json_nested_past_serdes_recursion_limit_is_refused() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));

    assert!(parse_v2_alerts(deep.as_bytes(), SystemTime::now()).is_err());
    assert!(parse_webhook_v4(deep.as_bytes(), SystemTime::now()).is_err());
    assert!(parse_silence(deep.as_bytes(), "id".into(), SystemTime::now()).is_err());
}
