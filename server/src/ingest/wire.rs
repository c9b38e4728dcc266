//! A borrowing protobuf reader: the fields of one message, length-delimited ones as slices of
//! the input, so a decoder can look at label bytes without copying them into `String`s first.
//! Unknown fields are skipped as prost would; groups (proto2 only) are refused.

use crate::model::varint::{self, VarintError};

/// One field's value, by wire type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2: bytes, a string or an embedded message.
    Bytes(&'a [u8]),
    /// Wire type 5.
    Fixed32(u32),
}

/// Why a message could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The input ends inside a field.
    #[error("truncated message")]
    Truncated,
    /// A varint longer than 10 bytes, a field number 0, or a group.
    #[error("invalid field encoding")]
    Invalid,
    /// A known field with another wire type than its schema's.
    #[error("field {0} has the wrong wire type")]
    WrongType(u32),
}

/// The fields of one message, in order.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads the message encoded in `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// The next `(field number, value)`, or `None` at the end of the message.
    pub fn next_field(&mut self) -> Result<Option<(u32, Value<'a>)>, WireError> {
        if self.data.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = u32::try_from(key >> 3).map_err(|_| WireError::Invalid)?;
        if field == 0 {
            return Err(WireError::Invalid);
        }
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => Value::Fixed64(u64::from_le_bytes(self.array()?)),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| WireError::Truncated)?;
                Value::Bytes(self.take(len)?)
            }
            5 => Value::Fixed32(u32::from_le_bytes(self.array()?)),
            _ => return Err(WireError::Invalid),
        };
        Ok(Some((field, value)))
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let (v, len) = varint::decode(self.data).map_err(|e| match e {
            VarintError::Truncated => WireError::Truncated,
            VarintError::Overlong => WireError::Invalid,
        })?;
        self.data = &self.data[len..];
        Ok(v)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], WireError> {
        if len > self.data.len() {
            return Err(WireError::Truncated);
        }
        let (head, rest) = self.data.split_at(len);
        self.data = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let bytes = self.take(N)?;
        bytes.try_into().map_err(|_| WireError::Truncated)
    }
}

impl<'a> Value<'a> {
    /// The bytes of a length-delimited field `field`.
    pub fn bytes(self, field: u32) -> Result<&'a [u8], WireError> {
        match self {
            Value::Bytes(b) => Ok(b),
            _ => Err(WireError::WrongType(field)),
        }
    }

    /// A varint field `field`.
    pub fn varint(self, field: u32) -> Result<u64, WireError> {
        match self {
            Value::Varint(v) => Ok(v),
            _ => Err(WireError::WrongType(field)),
        }
    }

    /// A 64-bit fixed field `field` (`double`, `fixed64`).
    pub fn fixed64(self, field: u32) -> Result<u64, WireError> {
        match self {
            Value::Fixed64(v) => Ok(v),
            _ => Err(WireError::WrongType(field)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompb::{Label, Sample};
    use prost::Message;

    fn fields(data: &[u8]) -> Result<Vec<(u32, Value<'_>)>, WireError> {
        let mut reader = Reader::new(data);
        let mut out = Vec::new();
        while let Some(f) = reader.next_field()? {
            out.push(f);
        }
        Ok(out)
    }

    #[test]
    fn fields_read_back_as_prost_wrote_them() {
        // Arrange
        let label = Label {
            name: "job".into(),
            value: "node".into(),
        }
        .encode_to_vec();
        let sample = Sample {
            value: -1.5,
            timestamp: -3,
        }
        .encode_to_vec();

        // Act
        let label = fields(&label).unwrap();
        let sample = fields(&sample).unwrap();

        // Assert
        assert_eq!(
            label,
            [(1, Value::Bytes(b"job")), (2, Value::Bytes(b"node"))]
        );
        assert_eq!(
            sample,
            [
                (1, Value::Fixed64((-1.5f64).to_bits())),
                (2, Value::Varint(-3i64 as u64))
            ]
        );
    }

    #[test]
    fn truncated_inputs_groups_and_overlong_varints_are_errors() {
        // Arrange
        let cases: [(&[u8], WireError); 6] = [
            (b"\x0a\x05abc", WireError::Truncated),
            (b"\x09\x01\x02", WireError::Truncated),
            (b"\x08", WireError::Truncated),
            (b"\x0b", WireError::Invalid),
            (
                &[
                    0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
                ],
                WireError::Invalid,
            ),
            (
                &[
                    0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                ],
                WireError::Invalid,
            ),
        ];

        for (data, want) in cases {
            // Act
            let got = fields(data);

            // Assert
            assert_eq!(got, Err(want), "{data:?}");
        }
    }
}
