//! What decoding an OTLP request with prost would allocate, read from the wire without
//! allocating anything: each repeated message becomes an element of a `Vec` of its type's size,
//! each string, bytes or packed field about its length (a packed varint up to 8 bytes per byte).
//! A two-byte empty `ResourceMetrics` is 104 bytes decoded, so a decompressed body of 128 MiB
//! of them took 6.5 GiB before [`within_decoded_budget`] refused it.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    Exemplar, ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, SummaryDataPoint, summary_data_point::ValueAtQuantile,
};

use super::IngestError;
use super::wire::{Reader, Value, WireError};

/// Bytes prost may allocate to decode a body of `raw` bytes: [`DECODED_PER_BODY_BYTE`] times
/// it, and at least [`DECODED_MIN`]. The agent's requests take about 3.5 times their size.
pub fn decoded_budget(raw: usize) -> usize {
    raw.saturating_mul(DECODED_PER_BODY_BYTE).max(DECODED_MIN)
}

/// See [`decoded_budget`].
pub(super) const DECODED_PER_BODY_BYTE: usize = 10;
/// See [`decoded_budget`].
const DECODED_MIN: usize = 1 << 20;

/// Messages nest at most this deep (prost's own recursion limit is 100): attribute values
/// nest arrays and maps in one another.
const MAX_DEPTH: usize = 64;

/// Refuses a request whose decoding would allocate more than [`decoded_budget`], before prost
/// allocates any of it.
pub fn within_decoded_budget(raw: &[u8]) -> Result<(), IngestError> {
    let max = decoded_budget(raw.len());
    let mut walk = Walk { total: 0, max };
    match walk.message(raw, Ty::Request, 0) {
        Ok(()) => Ok(()),
        Err(Stop::Over) => Err(IngestError::TooLarge(format!(
            "this OTLP request would take more than {max} bytes once decoded \
             ({DECODED_PER_BODY_BYTE} times its decompressed size)"
        ))),
        Err(Stop::Wire(e)) => Err(IngestError::Malformed(format!(
            "not an OTLP ExportMetricsServiceRequest: {e}"
        ))),
        Err(Stop::Deep) => Err(IngestError::Malformed(format!(
            "not an OTLP ExportMetricsServiceRequest: messages nested over {MAX_DEPTH} deep"
        ))),
    }
}

/// What prost would allocate to decode `raw`, counted to the end.
#[cfg(test)]
pub(super) fn decoded_bytes(raw: &[u8]) -> Result<usize, WireError> {
    let mut walk = Walk {
        total: 0,
        max: usize::MAX,
    };
    match walk.message(raw, Ty::Request, 0) {
        Ok(()) => Ok(walk.total),
        Err(Stop::Wire(e)) => Err(e),
        Err(_) => Err(WireError::Invalid),
    }
}

/// The OTLP messages that hold repeated messages, and those they are held in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Request,
    ResourceMetrics,
    Resource,
    Scope,
    ScopeMetrics,
    Metric,
    /// `Gauge`, `Sum`, `Histogram`, `ExponentialHistogram` and `Summary`: their points.
    Points(Point),
    NumberPoint,
    HistogramPoint,
    ExponentialPoint,
    ExponentialBuckets,
    SummaryPoint,
    Quantile,
    Exemplar,
    KeyValue,
    AnyValue,
    /// `ArrayValue` (of `AnyValue`) and `KeyValueList` (of `KeyValue`).
    List(bool),
}

/// Which data points a metric's data holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Point {
    Number,
    Histogram,
    Exponential,
    Summary,
}

/// How a field is decoded: a message (in a `Vec` when repeated), or bytes (strings, bytes,
/// packed scalars) costing `per_byte` times their length.
enum Field {
    Message { ty: Ty, repeated: bool },
    Bytes { per_byte: usize },
}

impl Ty {
    /// The size of one element of a `Vec` of this message.
    fn size(self) -> usize {
        match self {
            Ty::ResourceMetrics => size_of::<ResourceMetrics>(),
            Ty::ScopeMetrics => size_of::<ScopeMetrics>(),
            Ty::Metric => size_of::<Metric>(),
            Ty::NumberPoint => size_of::<NumberDataPoint>(),
            Ty::HistogramPoint => size_of::<HistogramDataPoint>(),
            Ty::ExponentialPoint => size_of::<ExponentialHistogramDataPoint>(),
            Ty::SummaryPoint => size_of::<SummaryDataPoint>(),
            Ty::Quantile => size_of::<ValueAtQuantile>(),
            Ty::Exemplar => size_of::<Exemplar>(),
            Ty::KeyValue => size_of::<KeyValue>(),
            Ty::AnyValue => size_of::<AnyValue>(),
            _ => 0,
        }
    }

    /// Field `number` of this message, as `opentelemetry/proto/**/*.proto` number them.
    fn field(self, number: u32) -> Field {
        let one = |ty| Field::Message {
            ty,
            repeated: false,
        };
        let many = |ty| Field::Message { ty, repeated: true };
        match (self, number) {
            (Ty::Request, 1) => many(Ty::ResourceMetrics),
            (Ty::ResourceMetrics, 1) => one(Ty::Resource),
            (Ty::ResourceMetrics, 2) => many(Ty::ScopeMetrics),
            (Ty::Resource, 1) | (Ty::Scope, 3) => many(Ty::KeyValue),
            (Ty::ScopeMetrics, 1) => one(Ty::Scope),
            (Ty::ScopeMetrics, 2) => many(Ty::Metric),
            (Ty::Metric, 5) | (Ty::Metric, 7) => one(Ty::Points(Point::Number)),
            (Ty::Metric, 9) => one(Ty::Points(Point::Histogram)),
            (Ty::Metric, 10) => one(Ty::Points(Point::Exponential)),
            (Ty::Metric, 11) => one(Ty::Points(Point::Summary)),
            (Ty::Metric, 12) => many(Ty::KeyValue),
            (Ty::Points(Point::Number), 1) => many(Ty::NumberPoint),
            (Ty::Points(Point::Histogram), 1) => many(Ty::HistogramPoint),
            (Ty::Points(Point::Exponential), 1) => many(Ty::ExponentialPoint),
            (Ty::Points(Point::Summary), 1) => many(Ty::SummaryPoint),
            (Ty::NumberPoint, 7) | (Ty::HistogramPoint, 9) | (Ty::ExponentialPoint, 1) => {
                many(Ty::KeyValue)
            }
            (Ty::SummaryPoint, 7) | (Ty::Exemplar, 7) => many(Ty::KeyValue),
            (Ty::NumberPoint, 5) | (Ty::HistogramPoint, 8) | (Ty::ExponentialPoint, 11) => {
                many(Ty::Exemplar)
            }
            (Ty::ExponentialPoint, 8) | (Ty::ExponentialPoint, 9) => one(Ty::ExponentialBuckets),
            // Packed `uint64` varints: 8 bytes each, from one byte each at the least.
            (Ty::ExponentialBuckets, 2) => Field::Bytes { per_byte: 8 },
            (Ty::SummaryPoint, 6) => many(Ty::Quantile),
            (Ty::KeyValue, 2) => one(Ty::AnyValue),
            (Ty::AnyValue, 5) => one(Ty::List(false)),
            (Ty::AnyValue, 6) => one(Ty::List(true)),
            (Ty::List(false), 1) => many(Ty::AnyValue),
            (Ty::List(true), 1) => many(Ty::KeyValue),
            _ => Field::Bytes { per_byte: 1 },
        }
    }

    /// What an unpacked element of a repeated scalar field costs (histogram bucket counts
    /// and bounds, exponential bucket counts); other scalars are inside their message's size.
    fn scalar_cost(self, number: u32) -> usize {
        match (self, number) {
            (Ty::HistogramPoint, 6 | 7) | (Ty::ExponentialBuckets, 2) => 8,
            _ => 0,
        }
    }
}

/// Why the walk stopped early.
enum Stop {
    Over,
    Wire(WireError),
    Deep,
}

/// The bytes counted so far, against the most allowed.
struct Walk {
    total: usize,
    max: usize,
}

impl Walk {
    fn add(&mut self, bytes: usize) -> Result<(), Stop> {
        self.total = self.total.saturating_add(bytes);
        match self.total > self.max {
            true => Err(Stop::Over),
            false => Ok(()),
        }
    }

    /// Counts the message `data` of type `ty`, `depth` messages down.
    fn message(&mut self, data: &[u8], ty: Ty, depth: usize) -> Result<(), Stop> {
        if depth > MAX_DEPTH {
            return Err(Stop::Deep);
        }
        let mut fields = Reader::new(data);
        while let Some((number, value)) = fields.next_field().map_err(Stop::Wire)? {
            let Value::Bytes(bytes) = value else {
                self.add(ty.scalar_cost(number))?;
                continue;
            };
            match ty.field(number) {
                Field::Message {
                    ty: child,
                    repeated,
                } => {
                    if repeated {
                        self.add(child.size())?;
                    }
                    self.message(bytes, child, depth + 1)?;
                }
                Field::Bytes { per_byte } => self.add(bytes.len().saturating_mul(per_byte))?,
            }
        }
        Ok(())
    }
}
