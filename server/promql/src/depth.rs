//! A bound on how deeply a query nests, checked on its text before it is parsed: parsing,
//! planning, evaluating and dropping a tree all recurse, so a query nested a hundred thousand
//! levels deep (`((((…))))`, `- - - … x`, `1+1+…+1`) would overflow a thread's stack, which
//! aborts the process. No query a person writes comes near the bound.

use super::QueryError;

/// The most nesting tokens a query may have (Prometheus sets none; its Go stacks grow).
pub const MAX_NESTING: usize = 1000;

/// Fails with `bad_data` when `query` has more than [`MAX_NESTING`] tokens that can nest:
/// opening brackets, operator characters and word operators outside string literals and label
/// matchers. Their count bounds the depth of the tree from above (each tree level needs one),
/// whatever the grammar makes of them.
pub(crate) fn check(query: &str) -> Result<(), QueryError> {
    let mut count = 0usize;
    let mut chars = query.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' | '`' => skip_string(&mut chars, c),
            '{' => skip_matchers(&mut chars),
            '(' | '[' | '+' | '-' | '*' | '/' | '%' | '^' | '=' | '!' | '<' | '>' => count += 1,
            c if c.is_ascii_alphabetic() || c == '_' => {
                let rest = chars.as_str();
                let len = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(rest.len());
                let word = &query[query.len() - rest.len() - c.len_utf8()..][..len + 1];
                if ["and", "or", "unless", "atan2"]
                    .iter()
                    .any(|op| word.eq_ignore_ascii_case(op))
                {
                    count += 1;
                }
                chars = rest[len..].chars();
            }
            _ => {}
        }
        if count > MAX_NESTING {
            return Err(QueryError::BadData(format!(
                "parse error: the query nests too deeply (more than {MAX_NESTING} brackets \
                 and operators)"
            )));
        }
    }
    Ok(())
}

/// Moves past label matchers opened by `{`, which do not nest.
fn skip_matchers(chars: &mut std::str::Chars<'_>) {
    while let Some(c) = chars.next() {
        match c {
            '}' => return,
            '"' | '\'' | '`' => skip_string(chars, c),
            _ => {}
        }
    }
}

/// Moves past a string literal opened by `quote` (backslash escapes inside, except in raw
/// backtick strings).
fn skip_string(chars: &mut std::str::Chars<'_>, quote: char) {
    while let Some(c) = chars.next() {
        if c == quote {
            return;
        }
        if c == '\\' && quote != '`' {
            chars.next();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_queries_pass_and_strings_do_not_count() {
        // 300 selectors with three matchers each: wide, not deep.
        let wide_or = vec![r#"up{job="a",instance=~"b.*",env!="c"}"#; 300].join(" or ");
        let long_regex = format!(r#"up{{job=~"{}"}}"#, "(a+)+".repeat(5000));
        for q in [
            r#"sum by (job) (rate(http_requests_total{code=~"5.."}[5m])) / ignoring(code) sum by (job) (rate(http_requests_total[5m]))"#,
            long_regex.as_str(),
            r#"label_replace(up, "x", "$1", "instance", "(.*)\\"")"#,
            &wide_or,
        ] {
            assert!(check(q).is_ok(), "{q}");
        }
    }

    #[test]
    fn deep_brackets_unary_chains_and_long_sums_are_refused() {
        let parens = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
        let unary = format!("{}x", "-".repeat(100_000));
        let sum = vec!["1"; 100_000].join("+");
        let ors = vec!["x"; 100_000].join(" or ");
        for q in [parens, unary, sum, ors] {
            assert!(matches!(check(&q), Err(QueryError::BadData(m)) if m.contains("nests")));
        }
    }
}
