//! The two exposition formats of `/metrics`: OpenMetrics as prometheus-client writes it, and the
//! Prometheus 0.0.4 text format that `promtool check metrics` and older scrapers read, in which a
//! counter family is named with its `_total` suffix and there are no `# UNIT` or `# EOF` lines.

use std::fmt::Write as _;

/// The content type of OpenMetrics output.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The content type of Prometheus 0.0.4 text output.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The text format of one rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0, for clients that ask for it (Prometheus does).
    OpenMetrics,
    /// The Prometheus 0.0.4 text format, for everyone else.
    Prometheus,
}

impl Format {
    /// OpenMetrics when the `Accept` header names it, the 0.0.4 text format otherwise.
    pub fn negotiate(accept: &str) -> Self {
        if accept.contains("application/openmetrics-text") {
            Self::OpenMetrics
        } else {
            Self::Prometheus
        }
    }

    /// The `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => OPENMETRICS,
            Self::Prometheus => PROMETHEUS_TEXT,
        }
    }
}

/// Turns OpenMetrics text into the 0.0.4 text format: counter families take their samples'
/// `_total` name in `# HELP` and `# TYPE`, and `# UNIT` and `# EOF` lines are dropped.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    // prometheus-client writes `# HELP` before `# TYPE`; the name is only known right at `# TYPE`.
    let mut help: Option<&str> = None;
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = Some(rest);
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let suffix = if kind == "counter" { "_total" } else { "" };
            if let Some(h) = help.take() {
                let text = h.split_once(' ').map_or("", |(_, t)| t);
                _ = writeln!(out, "# HELP {name}{suffix} {text}");
            }
            _ = writeln!(out, "# TYPE {name}{suffix} {kind}");
        } else if !(line.starts_with("# UNIT ") || line == "# EOF") {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_family_takes_its_total_name_and_unit_and_eof_lines_go() {
        let open = "# HELP x_seconds Time spent.\n# TYPE x_seconds counter\n# UNIT x_seconds seconds\n\
                    x_seconds_total 1.5\n# HELP g A gauge.\n# TYPE g gauge\ng 2\n# EOF\n";

        let text = to_prometheus_text(open);

        assert_eq!(
            text,
            "# HELP x_seconds_total Time spent.\n# TYPE x_seconds_total counter\n\
             x_seconds_total 1.5\n# HELP g A gauge.\n# TYPE g gauge\ng 2\n"
        );
    }

    #[test]
    fn openmetrics_is_served_only_to_clients_that_ask_for_it() {
        let prometheus =
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";

        assert_eq!(Format::negotiate(prometheus), Format::OpenMetrics);
        assert_eq!(Format::negotiate("*/*"), Format::Prometheus);
        assert_eq!(Format::negotiate(""), Format::Prometheus);
    }
}
