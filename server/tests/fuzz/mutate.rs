//! Mutations of valid inputs, as a coverage-less fuzzer makes them: a few edits each, at random
//! places, of bytes or of text with tokens of the input's own language.

use proptest::prelude::*;

/// One edit, its positions taken modulo the input's length when applied.
#[derive(Clone, Debug)]
enum Edit {
    /// Flip one bit.
    Flip(usize, u8),
    /// Overwrite a byte.
    Set(usize, u8),
    /// Overwrite with a boundary pattern (a varint's maximum, a zero run, a sign bit).
    Boundary(usize, usize),
    /// Insert bytes.
    Insert(usize, Vec<u8>),
    /// Insert one of the language's tokens.
    Token(usize, usize),
    /// Delete a span.
    Delete(usize, usize),
    /// Repeat a span.
    Repeat(usize, usize, usize),
    /// Cut everything from here.
    Truncate(usize),
}

const BOUNDARIES: &[&[u8]] = &[
    &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
    &[0xff, 0xff, 0xff, 0xff, 0x0f],
    &[0x80],
    &[0x00, 0x00, 0x00, 0x00],
    &[0x7f],
    &[0xff],
    &[0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x7f],
];

fn edit() -> impl Strategy<Value = Edit> {
    let at = any::<usize>();
    prop_oneof![
        (at, 0..8u8).prop_map(|(i, b)| Edit::Flip(i, b)),
        (at, any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        (at, any::<usize>()).prop_map(|(i, b)| Edit::Boundary(i, b)),
        (at, prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, b)| Edit::Insert(i, b)),
        (at, any::<usize>()).prop_map(|(i, t)| Edit::Token(i, t)),
        (at, 1..64usize).prop_map(|(i, n)| Edit::Delete(i, n)),
        (at, 1..64usize, 1..64usize).prop_map(|(i, n, k)| Edit::Repeat(i, n, k)),
        at.prop_map(Edit::Truncate),
    ]
}

/// Applies `edit` to `data`, inserting `tokens` for [`Edit::Token`].
fn apply(data: &mut Vec<u8>, edit: &Edit, tokens: &[&str]) {
    let len = data.len();
    let at = |i: usize| if len == 0 { 0 } else { i % len };
    match edit {
        Edit::Flip(i, bit) if len > 0 => data[at(*i)] ^= 1 << bit,
        Edit::Set(i, b) if len > 0 => data[at(*i)] = *b,
        Edit::Boundary(i, which) => {
            let pattern = BOUNDARIES[which % BOUNDARIES.len()];
            let start = at(*i);
            let end = (start + pattern.len()).min(len);
            data.splice(start..end, pattern.iter().copied());
        }
        Edit::Insert(i, bytes) => {
            let start = at(*i);
            data.splice(start..start, bytes.iter().copied());
        }
        Edit::Token(i, t) if !tokens.is_empty() => {
            let start = at(*i);
            let token = tokens[t % tokens.len()].as_bytes();
            data.splice(start..start, token.iter().copied());
        }
        Edit::Delete(i, n) => {
            let start = at(*i);
            data.drain(start..(start + n).min(len));
        }
        Edit::Repeat(i, n, times) => {
            let start = at(*i);
            let span = data[start..(start + n).min(len)].to_vec();
            let copies = span.repeat(*times);
            data.splice(start..start, copies);
        }
        Edit::Truncate(i) => data.truncate(at(*i)),
        _ => {}
    }
}

/// `seed` with one to eight random edits.
pub fn bytes(seed: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(edit(), 1..8).prop_map(move |edits| {
        let mut data = seed.clone();
        edits.iter().for_each(|e| apply(&mut data, e, &[]));
        data
    })
}

/// One of `seeds` with one to eight edits, some inserting `tokens`; invalid UTF-8 replaced.
pub fn text(
    seeds: &'static [&'static str],
    tokens: &'static [&'static str],
) -> BoxedStrategy<String> {
    (0..seeds.len(), prop::collection::vec(edit(), 1..8))
        .prop_map(move |(seed, edits)| {
            let mut data = seeds[seed].as_bytes().to_vec();
            edits.iter().for_each(|e| apply(&mut data, e, tokens));
            String::from_utf8_lossy(&data).into_owned()
        })
        .boxed()
}
