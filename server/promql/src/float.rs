//! Floats as Prometheus prints them in JSON and labels: Go's `FormatFloat(v, 'f', -1, 64)`,
//! the shortest digits that read back as the same float, never an exponent, and `+Inf`, `-Inf`,
//! `NaN`.

/// `v` as Prometheus prints it.
pub fn format_float(v: f64) -> String {
    let mut out = Vec::with_capacity(24);
    write_float(&mut out, v);
    String::from_utf8(out).expect("float text is ASCII")
}

/// Appends `v` as Prometheus prints it.
pub fn write_float(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v == f64::INFINITY {
        out.extend_from_slice(b"+Inf");
    } else if v == f64::NEG_INFINITY {
        out.extend_from_slice(b"-Inf");
    } else {
        write_finite(out, v);
    }
}

/// A finite float's shortest digits in plain decimal.
///
/// Ryū finds them as Go does, rounding an exact tie between two shortest candidates to the even
/// one (`Display` rounds it up: 1658206780088562.25 prints as ...562.2 in Go, ...562.3 in Rust).
/// Where ryū would write an exponent (from 1e16, and below 1e-5) or a trailing ".0", `Display`
/// writes the plain form: those are exact integers, which have no ties, or values below 1e-5,
/// whose exact expansions are too long for a tie at 17 digits.
fn write_finite(out: &mut Vec<u8>, v: f64) {
    let mut shortest = ryu::Buffer::new();
    let text = shortest.format_finite(v);
    if text.contains('e') || text.ends_with(".0") {
        use std::io::Write;
        // Writes to a Vec cannot fail.
        let _ = write!(out, "{v}");
    } else {
        out.extend_from_slice(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_floats_print_as_prometheus_prints_them() {
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_float(f64::NAN), "NaN");
        assert_eq!(format_float(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_float(1e21), "1000000000000000000000");
        assert_eq!(format_float(1e-7), "0.0000001");
        assert_eq!(format_float(-0.0), "-0");
        assert_eq!(format_float(2.5), "2.5");
    }

    #[test]
    fn exact_ties_round_to_even_as_go_does() {
        // 1658206780088562.25 and 1 + 2^-17 = 1.00000762939453125 sit exactly between two
        // 17-digit candidates that both read back as themselves.
        assert_eq!(
            format_float(1_658_206_780_088_562.0 + 0.25),
            "1658206780088562.2"
        );
        assert_eq!(format_float(1.0 + 2f64.powi(-17)), "1.0000076293945312");
    }

    #[test]
    fn finite_floats_print_the_shortest_digits_that_read_back() {
        // Arrange: edge values, random bit patterns, decimal-looking gauges and large fractions.
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut values = vec![
            0.1,
            0.3,
            1e-7,
            1e-5,
            1e-6,
            1.5e-5,
            123.0,
            1e15,
            1e16,
            1e21,
            1e22,
            9.5e15,
            1e300,
            5e-324,
            -0.0,
            0.0,
            -1e-7,
            f64::MAX,
            f64::MIN_POSITIVE,
            2.5,
            -2.5,
        ];
        for _ in 0..200_000 {
            let bits = f64::from_bits(next());
            if bits.is_finite() {
                values.push(bits);
            }
            let scale = [1.0, 10.0, 1000.0, 1e6][(next() % 4) as usize];
            values.push((next() % 10_000_000) as f64 / scale);
            values.push((next() >> 11) as f64 / (1u64 << (next() % 12)) as f64);
            values.push(1.0 + (next() % (1 << 20)) as f64 / (1 << 20) as f64);
        }

        for v in values {
            // Act
            let text = format_float(v);

            // Assert: it reads back, is as short as Display's, and differs only by a tie's
            // last digit rounded to even.
            let display = v.to_string();
            assert_eq!(
                text.parse::<f64>().expect("a float").to_bits(),
                v.to_bits(),
                "{v:e}"
            );
            assert_eq!(text.len(), display.len(), "{v:e}: {text} vs {display}");
            if text != display {
                let (a, b) = (text.as_bytes(), display.as_bytes());
                let last = a.len() - 1;
                assert_eq!(a[..last], b[..last], "{v:e}: {text} vs {display}");
                assert_eq!(a[last] + 1, b[last], "{v:e}: {text} vs {display}");
                assert_eq!((a[last] - b'0') % 2, 0, "{v:e}: {text} is not even");
            }
        }
    }
}
