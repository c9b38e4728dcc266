//! Prometheus' JSON shapes: `{"status":"success","data":...}`, results by type, timestamps as
//! float seconds and sample values as strings.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value as JsonValue, json};

use crate::model::{Labels, Series};
use crate::query::{Element, Value, format_float};

/// A JSON response body (axum's `Json` needs a feature this workspace leaves off).
pub(super) struct Json(pub(super) serde_json::Value);

impl IntoResponse for Json {
    fn into_response(self) -> Response {
        (
            [(header::CONTENT_TYPE, "application/json")],
            self.0.to_string(),
        )
            .into_response()
    }
}

/// A JSON response body already rendered as text.
pub(super) struct Text(pub(super) String);

impl IntoResponse for Text {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, "application/json")], self.0).into_response()
    }
}

/// `success(range_result(series))` as text, written straight out: a day of points per series
/// would otherwise become millions of small JSON values (and strings) first.
pub(super) fn range_body(series: &[Series]) -> String {
    let points: usize = series.iter().map(|s| s.samples.len()).sum();
    let mut out = String::with_capacity(64 + points * 24);
    out.push_str(r#"{"data":{"result":["#);
    for (i, s) in series.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"metric":"#);
        out.push_str(&labels(&s.labels).to_string());
        out.push_str(r#","values":["#);
        for (j, x) in s.samples.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            point(&mut out, x.t, x.v);
        }
        out.push_str("]}");
    }
    out.push_str(r#"],"resultType":"matrix"},"status":"success"}"#);
    out
}

/// `[seconds,"value"]` as [`timestamp`] and [`format_float`] render them.
fn point(out: &mut String, t: i64, v: f64) {
    use std::fmt::Write;
    out.push('[');
    if t % 1000 == 0 {
        let _ = write!(out, "{}", t / 1000);
    } else {
        out.push_str(&timestamp(t).to_string());
    }
    out.push_str(",\"");
    if v.is_finite() {
        // `format_float` without its allocation: the same shortest round-trip digits.
        let _ = write!(out, "{v}");
    } else {
        out.push_str(&format_float(v));
    }
    out.push_str("\"]");
}

/// `{"status":"success","data":data}`.
pub(super) fn success(data: JsonValue) -> JsonValue {
    json!({ "status": "success", "data": data })
}

/// An instant query's `data`: the result type and the result at time `t`.
pub(super) fn instant_result(value: &Value, t: i64) -> JsonValue {
    let result = match value {
        Value::Scalar(v) => json!([timestamp(t), format_float(*v)]),
        Value::String(s) => json!([timestamp(t), s]),
        Value::Vector(v) => JsonValue::Array(v.iter().map(|e| element(e, t)).collect()),
        Value::Matrix(m) => matrix(m),
    };
    json!({ "resultType": value.type_name(), "result": result })
}

/// A range query's `data`: always a matrix (the reference [`range_body`] is tested against).
#[cfg(test)]
pub(super) fn range_result(series: &[Series]) -> JsonValue {
    json!({ "resultType": "matrix", "result": matrix(series) })
}

fn element(e: &Element, t: i64) -> JsonValue {
    json!({ "metric": labels(&e.labels), "value": [timestamp(t), format_float(e.v)] })
}

fn matrix(series: &[Series]) -> JsonValue {
    JsonValue::Array(
        series
            .iter()
            .map(|s| {
                let values: Vec<JsonValue> = s
                    .samples
                    .iter()
                    .map(|x| json!([timestamp(x.t), format_float(x.v)]))
                    .collect();
                json!({ "metric": labels(&s.labels), "values": values })
            })
            .collect(),
    )
}

/// A label set as a JSON object.
pub(super) fn labels(l: &Labels) -> JsonValue {
    let map: Map<String, JsonValue> = l
        .iter()
        .map(|l| (l.name.to_string(), JsonValue::String(l.value.to_string())))
        .collect();
    JsonValue::Object(map)
}

/// Milliseconds as float seconds; whole seconds print without a fraction, as Prometheus does.
fn timestamp(t: i64) -> JsonValue {
    if t % 1000 == 0 {
        JsonValue::from(t / 1000)
    } else {
        JsonValue::from(t as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_body_is_the_json_of_the_range_result() {
        // Arrange
        let series = vec![
            Series {
                labels: Labels::from_pairs([("__name__", "up"), ("job", "a \"q\" \\ é")]),
                samples: vec![
                    crate::model::Sample { t: 1_000, v: 1.0 },
                    crate::model::Sample { t: 1_500, v: -0.0 },
                    crate::model::Sample {
                        t: -2_250,
                        v: f64::NAN,
                    },
                    crate::model::Sample {
                        t: 3_000,
                        v: f64::INFINITY,
                    },
                    crate::model::Sample {
                        t: 4_000,
                        v: f64::NEG_INFINITY,
                    },
                    crate::model::Sample {
                        t: 1_435_781_451_781,
                        v: 1e-7,
                    },
                    crate::model::Sample {
                        t: 5_000,
                        v: 123_456_789.125,
                    },
                    crate::model::Sample { t: 6_000, v: 1e300 },
                ],
            },
            Series {
                labels: Labels::default(),
                samples: vec![crate::model::Sample { t: 0, v: 0.1 }],
            },
        ];

        // Act
        let body = range_body(&series);

        // Assert
        assert_eq!(body, success(range_result(&series)).to_string());
        assert_eq!(range_body(&[]), success(range_result(&[])).to_string());
    }

    #[test]
    fn a_vector_renders_metric_and_value_with_string_values() {
        let v = Value::Vector(vec![Element {
            labels: Labels::from_pairs([("__name__", "up"), ("job", "node")]),
            v: 1.0,
        }]);
        let got = instant_result(&v, 1_435_781_451_781);
        assert_eq!(
            got.to_string(),
            r#"{"result":[{"metric":{"__name__":"up","job":"node"},"value":[1435781451.781,"1"]}],"resultType":"vector"}"#
        );
    }

    #[test]
    fn special_floats_render_as_prometheus_writes_them() {
        let v = Value::Scalar(f64::INFINITY);
        assert_eq!(instant_result(&v, 2000)["result"], json!([2, "+Inf"]));
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_float(f64::NAN), "NaN");
        assert_eq!(format_float(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_float(1e21), "1000000000000000000000");
    }
}
