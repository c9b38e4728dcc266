//! Alertmanager label matchers: `name="value"`, `!=`, `=~`, `!~` (regexes anchored), parsed from
//! the strings routes, inhibit rules and silences are written with.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, de};

/// How a matcher compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Regex,
    /// `!~`
    NotRegex,
}

/// One label matcher; a missing label matches as the empty string.
#[derive(Clone, Debug)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Comparison.
    pub op: Op,
    /// Value or regex source.
    pub value: String,
    regex: Option<regex::Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        (&self.name, self.op, &self.value) == (&other.name, other.op, &other.value)
    }
}

impl Matcher {
    /// Builds a matcher, compiling the anchored regex.
    pub fn new(name: &str, op: Op, value: &str) -> Result<Self, String> {
        let regex = match op {
            Op::Regex | Op::NotRegex => Some(
                regex::Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("bad regex {value:?}: {e}"))?,
            ),
            Op::Equal | Op::NotEqual => None,
        };
        Ok(Self {
            name: name.to_owned(),
            op,
            value: value.to_owned(),
            regex,
        })
    }

    /// Parses `name="value"`, `name=~"re"`, `name!=value` (quotes optional).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim().trim_start_matches('{').trim_end_matches('}');
        let at = text
            .find(['=', '!'])
            .ok_or_else(|| format!("matcher {text:?} has no operator"))?;
        let name = text[..at].trim();
        let rest = &text[at..];
        let (op, value) = [
            ("=~", Op::Regex),
            ("!~", Op::NotRegex),
            ("!=", Op::NotEqual),
            ("=", Op::Equal),
        ]
        .iter()
        .find_map(|(tok, op)| rest.strip_prefix(tok).map(|v| (*op, v)))
        .ok_or_else(|| format!("matcher {text:?} has no operator"))?;
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("matcher {text:?} has a bad label name"));
        }
        Self::new(name, op, &unquote(value.trim()))
    }

    /// Whether the label set passes.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let v = labels.get(&self.name).map(String::as_str).unwrap_or("");
        match (self.op, &self.regex) {
            (Op::Equal, _) => v == self.value,
            (Op::NotEqual, _) => v != self.value,
            (Op::Regex, Some(re)) => re.is_match(v),
            (Op::NotRegex, Some(re)) => !re.is_match(v),
            (_, None) => false,
        }
    }
}

fn unquote(v: &str) -> String {
    match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => v.to_owned(),
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            Op::Equal => "=",
            Op::NotEqual => "!=",
            Op::Regex => "=~",
            Op::NotRegex => "!~",
        };
        write!(f, "{}{}{:?}", self.name, op, self.value)
    }
}

impl<'de> Deserialize<'de> for Matcher {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Matcher::parse(&String::deserialize(d)?).map_err(de::Error::custom)
    }
}

/// Whether every matcher passes.
pub fn all_match(matchers: &[Matcher], labels: &BTreeMap<String, String>) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::labels;

    #[test]
    fn alertmanager_matcher_strings_parse_with_and_without_quotes() {
        let m = Matcher::parse(r#"severity=~"page|critical""#).unwrap();
        assert!(m.matches(&labels(&[("severity", "page")])));
        assert!(!m.matches(&labels(&[("severity", "pager")])));
        let m = Matcher::parse("env!=source").unwrap();
        assert!(m.matches(&labels(&[("env", "target")])));
        assert!(m.matches(&labels(&[])));
    }

    #[test]
    fn a_matcher_without_operator_or_with_a_bad_regex_is_rejected() {
        assert!(Matcher::parse("severity").is_err());
        assert!(
            Matcher::parse("a=~\"(\"")
                .unwrap_err()
                .contains("bad regex")
        );
    }
}
