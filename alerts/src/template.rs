//! The part of Go's text/template that Prometheus rule annotations use: `{{ $labels.x }}`,
//! `{{ $value }}` (and `.Labels.x`, `.Value`), pipes into `humanize`, `humanizePercentage`,
//! `humanizeDuration`, `humanize1024`, `printf`, `toUpper`, `toLower`, and `{{-`/`-}}` trimming.
//! What it cannot expand renders as Prometheus does on error: `<error expanding template: ...>`.

use std::collections::BTreeMap;

/// What a template can refer to.
pub struct Data<'a> {
    /// The alert's labels.
    pub labels: &'a BTreeMap<String, String>,
    /// The expression's value.
    pub value: f64,
}

/// Expands `text`; on error the whole result is Prometheus' error text.
pub fn expand(text: &str, data: &Data<'_>) -> String {
    match try_expand(text, data) {
        Ok(s) => s,
        Err(e) => format!("<error expanding template: {e}>"),
    }
}

fn try_expand(text: &str, data: &Data<'_>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let end = rest[start..].find("}}").ok_or("unclosed action")? + start;
        let mut action = &rest[start + 2..end];
        let mut literal = &rest[..start];
        if let Some(a) = action.strip_prefix('-') {
            literal = literal.trim_end();
            action = a;
        }
        out.push_str(literal);
        rest = &rest[end + 2..];
        if let Some(a) = action.strip_suffix('-') {
            rest = rest.trim_start();
            action = a;
        }
        out.push_str(&eval_pipeline(action.trim(), data)?);
    }
    out.push_str(rest);
    Ok(out)
}

/// A value flowing through a pipeline.
#[derive(Clone, Debug)]
enum Value {
    Text(String),
    Number(f64),
}

impl Value {
    fn render(&self) -> String {
        match self {
            Value::Text(s) => s.clone(),
            Value::Number(n) => format_number(*n),
        }
    }

    fn number(&self) -> Result<f64, String> {
        match self {
            Value::Number(n) => Ok(*n),
            Value::Text(s) => s
                .trim()
                .parse()
                .map_err(|_| format!("{s:?} is not a number")),
        }
    }
}

fn eval_pipeline(action: &str, data: &Data<'_>) -> Result<String, String> {
    let mut piped: Option<Value> = None;
    for stage in split_outside_quotes(action, '|') {
        let words = words(stage.trim())?;
        piped = Some(call(&words, piped, data)?);
    }
    Ok(piped.map(|v| v.render()).unwrap_or_default())
}

fn call(words: &[String], piped: Option<Value>, data: &Data<'_>) -> Result<Value, String> {
    let (head, args) = words.split_first().ok_or("empty command")?;
    let mut args: Vec<Value> = args
        .iter()
        .map(|w| operand(w, data))
        .collect::<Result<_, _>>()?;
    args.extend(piped);
    let num = |i: usize| {
        args.get(i)
            .ok_or(format!("{head} needs an argument"))?
            .number()
    };
    Ok(match head.as_str() {
        "humanize" => Value::Text(humanize(num(0)?, 1000.0)),
        "humanize1024" => Value::Text(humanize(num(0)?, 1024.0)),
        "humanizePercentage" => Value::Text(format!("{}%", format_g(num(0)? * 100.0, 4))),
        "humanizeDuration" => Value::Text(humanize_duration(num(0)?)),
        "toUpper" | "toLower" | "title" => Value::Text(case(head, &args)?),
        "printf" => Value::Text(printf(&args)?),
        _ if args.is_empty() => operand(head, data)?,
        other => return Err(format!("function {other:?} not defined")),
    })
}

fn case(head: &str, args: &[Value]) -> Result<String, String> {
    let s = args
        .first()
        .ok_or(format!("{head} needs an argument"))?
        .render();
    Ok(if head == "toUpper" {
        s.to_uppercase()
    } else {
        s.to_lowercase()
    })
}

fn operand(word: &str, data: &Data<'_>) -> Result<Value, String> {
    let label = word
        .strip_prefix("$labels.")
        .or_else(|| word.strip_prefix(".Labels."));
    if let Some(name) = label {
        return Ok(Value::Text(
            data.labels.get(name).cloned().unwrap_or_default(),
        ));
    }
    match word {
        "$value" | ".Value" => Ok(Value::Number(data.value)),
        w if w.starts_with('"') => Ok(Value::Text(w.trim_matches('"').replace("\\\"", "\""))),
        w => w
            .parse()
            .map(Value::Number)
            .map_err(|_| format!("unknown operand {w:?}")),
    }
}

fn words(stage: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = stage.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            let mut word = String::from(chars.next().unwrap_or('"'));
            loop {
                let ch = chars.next().ok_or("unterminated quoted string")?;
                word.push(ch);
                if ch == '"' && !word.ends_with("\\\"") {
                    break;
                }
            }
            out.push(word);
        } else {
            let word: String =
                std::iter::from_fn(|| chars.next_if(|c| !c.is_whitespace())).collect();
            out.push(word);
        }
    }
    Ok(out)
}

fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let (mut parts, mut start, mut quoted) = (Vec::new(), 0, false);
    for (i, c) in s.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&s[start..i]);
            start = i + 1;
        }
    }
    parts.push(&s[start..]);
    parts
}

/// `printf` with `%s %d %f %.Nf %g %v %%` verbs.
fn printf(args: &[Value]) -> Result<String, String> {
    let (format, values) = args.split_first().ok_or("printf needs a format")?;
    let format = format.render();
    let mut out = String::new();
    let mut values = values.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let spec: String =
            std::iter::from_fn(|| chars.next_if(|c| c.is_ascii_digit() || *c == '.')).collect();
        let verb = chars.next().ok_or("printf format ends with %")?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let v = values
            .next()
            .ok_or("printf has fewer arguments than verbs")?;
        out.push_str(&verb_text(verb, &spec, v)?);
    }
    Ok(out)
}

fn verb_text(verb: char, spec: &str, v: &Value) -> Result<String, String> {
    let precision = spec.split('.').nth(1).and_then(|p| p.parse::<usize>().ok());
    Ok(match verb {
        's' | 'v' => v.render(),
        'd' => format!("{}", v.number()?.trunc() as i64),
        'f' => format!("{:.*}", precision.unwrap_or(6), v.number()?),
        'g' => format_g(v.number()?, precision.unwrap_or(6)),
        other => return Err(format!("printf verb %{other} is not supported")),
    })
}

/// Go's `%.Ng`: N significant digits, trailing zeros removed, exponent for very large/small.
fn format_g(v: f64, digits: usize) -> String {
    if v == 0.0 || !v.is_finite() {
        return format_number(v);
    }
    let exp = v.abs().log10().floor() as i32;
    if exp < -4 || exp >= digits as i32 {
        let s = format!("{:.*e}", digits.saturating_sub(1), v);
        return trim_mantissa(&s);
    }
    let decimals = (digits as i32 - 1 - exp).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

fn trim_mantissa(s: &str) -> String {
    let (m, e) = s.split_once('e').unwrap_or((s, "0"));
    let m = if m.contains('.') {
        m.trim_end_matches('0').trim_end_matches('.')
    } else {
        m
    };
    let e: i32 = e.parse().unwrap_or(0);
    format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

fn format_number(v: f64) -> String {
    match v {
        v if v.is_nan() => "NaN".into(),
        v if v == f64::INFINITY => "+Inf".into(),
        v if v == f64::NEG_INFINITY => "-Inf".into(),
        v => v.to_string(),
    }
}

/// Prometheus' `humanize`: SI prefixes with 4 significant digits.
fn humanize(v: f64, base: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format_g(v, 4);
    }
    let (big, small) = if base == 1024.0 {
        (
            ["", "ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"],
            ["", "", "", "", "", "", "", "", ""],
        )
    } else {
        (
            ["", "k", "M", "G", "T", "P", "E", "Z", "Y"],
            ["", "m", "u", "n", "p", "f", "a", "z", "y"],
        )
    };
    let (mut x, mut i) = (v, 0);
    if v.abs() >= 1.0 || base == 1024.0 {
        while x.abs() >= base && i < big.len() - 1 {
            x /= base;
            i += 1;
        }
        return format!("{}{}", format_g(x, 4), big[i]);
    }
    while x.abs() < 1.0 && i < small.len() - 1 {
        x *= 1000.0;
        i += 1;
    }
    format!("{}{}", format_g(x, 4), small[i])
}

/// Prometheus' `humanizeDuration`: `1d 2h 3m 4s`, or ms/µs below a second.
fn humanize_duration(seconds: f64) -> String {
    if !seconds.is_finite() {
        return format_number(seconds);
    }
    if seconds.abs() < 1.0 {
        return humanize(seconds, 1000.0) + "s";
    }
    let sign = if seconds < 0.0 { "-" } else { "" };
    let total = seconds.abs();
    let (d, h, m) = (
        (total / 86400.0) as u64,
        (total / 3600.0) as u64 % 24,
        (total / 60.0) as u64 % 60,
    );
    let s = total % 60.0;
    let secs = format!("{}s", format_g(s, 4));
    match (d, h, m) {
        (0, 0, 0) => format!("{sign}{secs}"),
        (0, 0, m) => format!("{sign}{m}m {secs}"),
        (0, h, m) => format!("{sign}{h}h {m}m {secs}"),
        (d, h, m) => format!("{sign}{d}d {h}h {m}m {secs}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, value: f64) -> String {
        let labels = BTreeMap::from([("instance".to_string(), "node-1:9100".to_string())]);
        expand(
            text,
            &Data {
                labels: &labels,
                value,
            },
        )
    }

    #[test]
    fn labels_and_value_are_substituted_in_both_notations() {
        assert_eq!(
            run("{{ $labels.instance }} is at {{ $value }}", 0.5),
            "node-1:9100 is at 0.5"
        );
        assert_eq!(
            run("{{ .Labels.instance }}/{{ .Value }}", 2.0),
            "node-1:9100/2"
        );
    }

    #[test]
    fn humanize_functions_match_prometheus_output() {
        assert_eq!(run("{{ $value | humanize }}", 1234567.0), "1.235M");
        assert_eq!(run("{{ humanize $value }}", 0.0123), "12.3m");
        assert_eq!(run("{{ $value | humanizePercentage }}", 0.2567), "25.67%");
        assert_eq!(
            run("{{ $value | humanizeDuration }}", 90061.0),
            "1d 1h 1m 1s"
        );
        assert_eq!(run("{{ $value | humanize1024 }}", 2048.0), "2ki");
    }

    #[test]
    fn printf_formats_numbers_and_strings_and_trimming_markers_work() {
        assert_eq!(run(r#"{{ printf "%.2f" $value }}%"#, 97.456), "97.46%");
        assert_eq!(
            run(r#"{{ $value | printf "%d requests" }}"#, 42.9),
            "42 requests"
        );
        assert_eq!(run("a  {{- $value -}}  b", 1.0), "a1b");
    }

    #[test]
    fn an_unknown_function_renders_prometheus_error_text() {
        let got = run("{{ $value | frobnicate }}", 1.0);
        assert!(got.starts_with("<error expanding template:"), "{got}");
        assert_eq!(run("no braces", 1.0), "no braces");
    }
}
