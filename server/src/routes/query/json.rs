//! Prometheus' JSON shapes: `{"status":"success","data":...}`, results by type, timestamps as
//! float seconds and sample values as strings.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value as JsonValue, json};

use crate::model::{Labels, Series};
use crate::query::{Element, Value, format_float, write_float};

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
pub(super) struct Text(pub(super) Vec<u8>);

impl IntoResponse for Text {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, "application/json")], self.0).into_response()
    }
}

/// `success(range_result(series))` as text, written straight out: a day of points per series
/// would otherwise become millions of small JSON values (and strings) first.
pub(super) fn range_body(series: &[Series]) -> Vec<u8> {
    let points: usize = series.iter().map(|s| s.samples.len()).sum();
    result_body("matrix", series, 64 + points * 24, |out, s| {
        write_labels(out, &s.labels);
        out.extend_from_slice(br#","values":["#);
        for (j, x) in s.samples.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            point(out, x.t, x.v);
        }
        out.push(b']');
    })
}

/// `success(instant_result(value, t))` as text. A vector (100k elements for a fleet-wide
/// selector) is written straight out as [`range_body`] writes a matrix; other results are small.
pub(super) fn instant_body(value: &Value, t: i64) -> Vec<u8> {
    let Value::Vector(elements) = value else {
        return success(instant_result(value, t)).to_string().into_bytes();
    };
    result_body("vector", elements, 64 + elements.len() * 128, |out, e| {
        write_labels(out, &e.labels);
        out.extend_from_slice(br#","value":"#);
        point(out, t, e.v);
    })
}

/// `{"data":{"result":[{"metric":…},…],"resultType":kind},"status":"success"}`, with `item`
/// writing each result after its `"metric":` key, in the key order serde_json prints.
fn result_body<T>(
    kind: &str,
    items: &[T],
    capacity: usize,
    mut item: impl FnMut(&mut Vec<u8>, &T),
) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity);
    out.extend_from_slice(br#"{"data":{"result":["#);
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"metric":"#);
        item(&mut out, x);
        out.push(b'}');
    }
    out.extend_from_slice(br#"],"resultType":""#);
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(br#""},"status":"success"}"#);
    out
}

/// [`labels`] as text: the names are sorted, as a JSON object's keys print.
fn write_labels(out: &mut Vec<u8>, labels: &Labels) {
    out.push(b'{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, &l.name);
        out.push(b':');
        write_str(out, &l.value);
    }
    out.push(b'}');
}

/// A JSON string, escaped as serde_json escapes it.
fn write_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

/// `[seconds,"value"]` as [`timestamp`] and [`format_float`] render them.
fn point(out: &mut Vec<u8>, t: i64, v: f64) {
    use std::io::Write;
    let mut digits = itoa::Buffer::new();
    out.push(b'[');
    // Writes to a Vec cannot fail.
    if t % 1000 == 0 {
        out.extend_from_slice(digits.format(t / 1000).as_bytes());
    } else {
        let _ = write!(out, "{}", timestamp(t));
    }
    out.extend_from_slice(b",\"");
    if is_small_integer(v) {
        // Counters and byte gauges: the same digits as the float's, without float formatting.
        out.extend_from_slice(digits.format(v as i64).as_bytes());
    } else {
        write_float(out, v);
    }
    out.extend_from_slice(b"\"]");
}

/// A whole number an `i64` holds exactly, other than −0 (which prints as "-0").
fn is_small_integer(v: f64) -> bool {
    v.fract() == 0.0 && v.abs() < 1e15 && !(v == 0.0 && v.is_sign_negative())
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
        assert_eq!(
            body,
            success(range_result(&series)).to_string().into_bytes()
        );
        assert_eq!(
            range_body(&[]),
            success(range_result(&[])).to_string().into_bytes()
        );
    }

    #[test]
    fn an_instant_body_is_the_json_of_the_instant_result() {
        // Arrange
        let odd = Labels::from_pairs([
            ("zeta", "\u{1}\n\t"),
            ("__name__", "x"),
            ("job", "a \"q\" \\ é"),
        ]);
        let vector = Value::Vector(
            [
                1.0,
                -0.0,
                0.0,
                -3.0,
                999_999_999_999_999.0,
                1e15,
                1e21,
                f64::NAN,
                f64::INFINITY,
                1e-7,
                123_456_789.125,
            ]
            .into_iter()
            .map(|v| Element {
                labels: odd.clone(),
                v,
            })
            .chain([Element {
                labels: Labels::default(),
                v: 0.1,
            }])
            .collect(),
        );
        let others = [
            vector,
            Value::Vector(Vec::new()),
            Value::Scalar(f64::NEG_INFINITY),
            Value::String("s".into()),
        ];

        for value in &others {
            for t in [1_435_781_451_781, 2_000, -2_250] {
                // Act
                let body = instant_body(value, t);

                // Assert
                let expected = success(instant_result(value, t)).to_string();
                assert_eq!(String::from_utf8(body).expect("utf-8"), expected);
            }
        }
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
        assert_eq!(
            instant_body(&v, 2000),
            br#"{"data":{"result":[2,"+Inf"],"resultType":"scalar"},"status":"success"}"#
        );
    }
}
