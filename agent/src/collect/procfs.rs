//! Small, allocation-light helpers for the line formats of `/proc`, `/sys` and cgroupfs.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::CollectError;

/// Reads `path` into `buf` (cleared first), reusing its allocation.
pub fn read_into(path: &Path, buf: &mut String) -> Result<(), CollectError> {
    buf.clear();
    let mut file = std::fs::File::open(path).map_err(|e| CollectError::read(path, e))?;
    file.read_to_string(buf)
        .map_err(|e| CollectError::read(path, e))?;
    Ok(())
}

/// Reads `path` into a new string.
pub fn read(path: &Path) -> Result<String, CollectError> {
    let mut buf = String::new();
    read_into(path, &mut buf)?;
    Ok(buf)
}

/// Reads a file holding one number (`memory.current`, `nf_conntrack_max`); `max` reads as
/// `f64::INFINITY`, as cgroup v2 limits do.
pub fn read_number(path: &Path, buf: &mut String) -> Result<f64, CollectError> {
    read_into(path, buf)?;
    parse_number(buf.trim()).ok_or_else(|| {
        CollectError::parse(path, 1, format!("not a number: {:?}", short(buf.trim())))
    })
}

/// Parses an unsigned integer or `max`.
pub fn parse_number(s: &str) -> Option<f64> {
    if s == "max" {
        return Some(f64::INFINITY);
    }
    if let Ok(v) = s.parse::<u64>() {
        return Some(v as f64);
    }
    // Some files hold signed values (v1 `memory.limit_in_bytes` on old kernels is -1 for none).
    s.parse::<i64>().ok().map(|v| v as f64)
}

/// Splits `s` at the first `byte` (ASCII), which is dropped: `split_once` for one byte, as a
/// plain loop. The kernel's lines are short, and `split_once(char)` costs a `memchr` and a
/// `memcmp` call per line, which showed in the profile of 500 containers.
pub fn split_byte(s: &str, byte: u8) -> Option<(&str, &str)> {
    debug_assert!(byte.is_ascii());
    let at = s.bytes().position(|b| b == byte)?;
    // An ASCII byte is a character boundary on both sides.
    Some((s.get(..at)?, s.get(at + 1..)?))
}

/// The lines of `text` without their `\n`, as [`str::lines`] gives them for kernel files (no
/// `\r`), split with [`split_byte`].
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (line, tail) = split_byte(rest, b'\n').unwrap_or((rest, ""));
        rest = tail;
        Some(line)
    })
}

/// Iterates over `key value` lines (`memory.stat`, `cpu.stat`, `memory.events`), skipping lines
/// that do not have that shape. Yields the 1-based line number with the pair.
pub fn key_values(text: &str) -> impl Iterator<Item = (usize, &str, Option<f64>)> {
    text.lines().enumerate().filter_map(|(i, line)| {
        let mut parts = line.split_ascii_whitespace();
        let key = parts.next()?;
        let value = parts.next().and_then(parse_number);
        Some((i + 1, key, value))
    })
}

/// Looks up `key` in a `key value` file, with a parse error naming the file when it is missing.
pub fn require(text: &str, key: &str, path: &Path) -> Result<f64, CollectError> {
    key_values(text)
        .find(|(_, k, _)| *k == key)
        .and_then(|(_, _, v)| v)
        .ok_or_else(|| CollectError::parse(path, 0, format!("no numeric `{key}` entry")))
}

/// A PSI file (`/proc/pressure/cpu`, `cpu.pressure`): the `total` stall microseconds of its
/// `some` and `full` lines, as seconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Pressure {
    /// Seconds during which at least one task stalled.
    pub some: f64,
    /// Seconds during which all non-idle tasks stalled (absent for the host's cpu before 5.13).
    pub full: Option<f64>,
}

/// Parses a PSI file; `path` names it in an error, built only then.
pub fn parse_pressure(text: &str, path: impl Fn() -> PathBuf) -> Result<Pressure, CollectError> {
    let mut some = None;
    let mut full = None;
    for (i, line) in text.lines().enumerate() {
        let mut parts = line.split_ascii_whitespace();
        let kind = parts.next();
        let total = parts
            .find_map(|p| p.strip_prefix("total="))
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| CollectError::parse(&path(), i + 1, "PSI line without total="))?;
        let secs = total as f64 / 1e6;
        match kind {
            Some("some") => some = Some(secs),
            Some("full") => full = Some(secs),
            _ => {
                return Err(CollectError::parse(
                    &path(),
                    i + 1,
                    "PSI line is neither some nor full",
                ));
            }
        }
    }
    let some = some.ok_or_else(|| CollectError::parse(&path(), 0, "no `some` line"))?;
    Ok(Pressure { some, full })
}

/// Undoes the octal escapes of mount tables (`\040` for a space, `\011` for a tab).
pub fn unescape_octal(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|_| bytes[i] == b'\\');
        match octal.and_then(|o| u8::from_str_radix(std::str::from_utf8(o).ok()?, 8).ok()) {
            Some(b) => {
                out.push(b);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The first 40 characters of `s`, for error messages about garbage input.
pub fn short(s: &str) -> &str {
    match s.char_indices().nth(40) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_split_byte_match_the_standard_library_on_kernel_text() {
        for text in ["", "a 1\nb 2\n", "a 1\n\nb", "\n", "x"] {
            let ours: Vec<&str> = lines(text).collect();
            assert_eq!(ours, text.lines().collect::<Vec<_>>(), "{text:?}");
        }
        assert_eq!(split_byte("8:16", b':'), Some(("8", "16")));
        assert_eq!(split_byte("é 1", b' '), Some(("é", "1")));
        assert_eq!(split_byte("none", b' '), None);
    }

    #[test]
    fn numbers_read_max_as_infinity_and_reject_garbage() {
        assert_eq!(parse_number("max"), Some(f64::INFINITY));
        assert_eq!(parse_number("42"), Some(42.0));
        assert_eq!(parse_number("-1"), Some(-1.0));
        assert_eq!(parse_number("4x2"), None);
    }

    #[test]
    fn pressure_reads_some_and_full_totals_as_seconds() {
        let text = "some avg10=0.00 avg60=0.00 avg300=0.00 total=1500000\n\
                    full avg10=0.00 avg60=0.00 avg300=0.00 total=250\n";
        let p = parse_pressure(text, || "cpu.pressure".into()).unwrap();
        assert_eq!(p.some, 1.5);
        assert_eq!(p.full, Some(0.00025));
    }

    #[test]
    fn a_truncated_pressure_file_names_the_file_and_line() {
        let err = parse_pressure("some avg10=0.00 avg6", || "/x/cpu.pressure".into()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/x/cpu.pressure:1: PSI line without total="
        );
    }
}
