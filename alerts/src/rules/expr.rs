//! Values checked where they are read: a PromQL expression that parses and a Prometheus duration.
//! Their `Deserialize` impls fail inside the YAML parser, so errors carry the value's line and column.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, de};

/// A PromQL expression that `promql-parser` accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expr(String);

impl Expr {
    /// Parses `source` as PromQL.
    pub fn parse(source: &str) -> Result<Self, String> {
        promql_parser::parser::parse(source).map_err(|e| format!("invalid PromQL: {e}"))?;
        Ok(Self(source.to_owned()))
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Expr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let source = ExprSource::deserialize(d)?.into_string();
        Expr::parse(&source).map_err(de::Error::custom)
    }
}

/// Rule files write `expr` as a string or, now and then, a bare number (`expr: 1`).
#[derive(Deserialize)]
#[serde(untagged)]
enum ExprSource {
    Text(String),
    Number(f64),
}

impl ExprSource {
    fn into_string(self) -> String {
        match self {
            ExprSource::Text(s) => s,
            ExprSource::Number(n) => n.to_string(),
        }
    }
}

/// A duration in Prometheus' notation: `30s`, `5m`, `1h30m`, `1d`, `1w`, `1y`, `500ms`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PromDuration(pub Duration);

impl PromDuration {
    /// Parses Prometheus' duration notation.
    pub fn parse(text: &str) -> Result<Self, String> {
        // Prometheus accepts a zero duration (`for: 0s`); promql-parser's range syntax does not.
        let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let unit = &text[digits.len()..];
        let units = ["", "ms", "s", "m", "h", "d", "w", "y"];
        if !digits.is_empty() && digits.chars().all(|c| c == '0') && units.contains(&unit) {
            return Ok(PromDuration(Duration::ZERO));
        }
        // A bare number is float seconds; promql-parser converts it with a conversion that
        // panics on a negative, NaN or too large a number (found by the fuzz campaign).
        if let Ok(secs) = text.parse::<f64>() {
            return Duration::try_from_secs_f64(secs)
                .map(PromDuration)
                .map_err(|e| format!("invalid duration {text:?}: {e}"));
        }
        promql_parser::util::parse_duration(text)
            .map(PromDuration)
            .map_err(|e| format!("invalid duration {text:?}: {e}"))
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        PromDuration::parse(&text).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_not_a_number_or_huge_float_seconds_are_errors_not_panics() {
        for text in ["-1", "-0.5", "NaN", "inf", "1e300"] {
            let got = PromDuration::parse(text);
            assert!(got.is_err(), "{text}: {got:?}");
        }
        assert_eq!(
            PromDuration::parse("1.5"),
            Ok(PromDuration(Duration::from_millis(1_500)))
        );
    }

    #[test]
    fn prometheus_durations_parse_including_days_and_compound_forms() {
        assert_eq!(
            PromDuration::parse("1h30m").unwrap().0,
            Duration::from_secs(5400)
        );
        assert_eq!(
            PromDuration::parse("1d").unwrap().0,
            Duration::from_secs(86400)
        );
        assert!(PromDuration::parse("5 minutes").is_err());
        assert_eq!(PromDuration::parse("0s").unwrap().0, Duration::ZERO);
    }

    #[test]
    fn an_expression_that_does_not_parse_is_rejected_with_the_parser_message() {
        assert!(Expr::parse("rate(x[5m])").is_ok());
        let err = Expr::parse("rate(x[5m]").unwrap_err();
        assert!(err.starts_with("invalid PromQL"), "{err}");
    }
}
