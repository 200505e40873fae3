//! Structured byte mutations for fuzzing file readers with proptest.
//!
//! A fuzz test starts from a valid input and applies a few [`Mutation`]s: bit flips, byte
//! overwrites, truncation, deletion and insertion of byte runs (random bytes or tokens that
//! parsers treat specially), duplication of a run and splices of one part of the input over
//! another. Positions are [`Index`]es, so one mutation applies to an input of any length and
//! shrinks towards the start of the input; a failing case is reported as the short list of
//! mutations that breaks the reader.
//!
//! ```
//! use einet_testsuite::fuzz::{Mutation, apply};
//!
//! let cut = Mutation::Truncate { keep: 0.5 };
//! assert_eq!(apply(b"abcd", &[cut]), b"ab");
//! ```

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;

/// The proptest configuration of a fuzz test: `cases` cases, and no failure persistence. A
/// failure found is fixed and its input kept as an explicit regression case beside the test
/// (a corpus file or a byte literal), so no `proptest-regressions` files accumulate.
pub fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Byte runs that text, JSON and binary readers give a meaning: separators, quotes,
/// missing-value markers, signs, exponents, numbers at the edges of integer and float
/// ranges, brackets, NUL, invalid UTF-8 and the gzip magic.
pub const TOKENS: &[&[u8]] = &[
    b"\n",
    b"\r\n",
    b",",
    b" ",
    b"\t",
    b"\"",
    b"?",
    b"nan",
    b"NaN",
    b"-",
    b".",
    b"e",
    b"1e40",
    b"-1",
    b"0",
    b"1",
    b"65536",
    b"4294967295",
    b"4294967296",
    b"1099511627776",
    b"18446744073709551615",
    b"18446744073709551616",
    b"inf",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b"null",
    b"\0",
    b"\xff\xfe",
    b"\x1f\x8b",
];

/// One edit of a byte string.
#[derive(Clone, Debug)]
pub enum Mutation {
    /// XORs the byte at `at` with `mask` (non-zero).
    Flip {
        /// The position.
        at: Index,
        /// The bits to flip.
        mask: u8,
    },
    /// Overwrites the byte at `at`.
    Set {
        /// The position.
        at: Index,
        /// The new byte.
        value: u8,
    },
    /// Keeps the first `keep` fraction of the input (`0.0` empties it).
    Truncate {
        /// The fraction kept, in `[0, 1)`.
        keep: f64,
    },
    /// Removes up to `len` bytes from `at`.
    Delete {
        /// The first byte removed.
        at: Index,
        /// How many bytes.
        len: usize,
    },
    /// Inserts `bytes` before position `at` (which may be the end).
    Insert {
        /// The position.
        at: Index,
        /// The bytes inserted.
        bytes: Vec<u8>,
    },
    /// Inserts a copy of the run of up to `len` bytes at `from` before position `to`.
    Duplicate {
        /// The start of the copied run.
        from: Index,
        /// Its length.
        len: usize,
        /// Where the copy goes.
        to: Index,
    },
    /// Overwrites the bytes at `to` with the run of up to `len` bytes at `from` (the input
    /// grows when the run passes its end).
    Splice {
        /// The start of the copied run.
        from: Index,
        /// Its length.
        len: usize,
        /// Where it is written.
        to: Index,
    },
}

impl Mutation {
    /// Applies the edit to `bytes` in place. Every edit applies to every input, the empty
    /// one included (positions are taken modulo the length).
    pub fn apply_to(&self, bytes: &mut Vec<u8>) {
        let n = bytes.len();
        // A position in `0..n`, or `None` for an empty input.
        let byte = |at: &Index| (n > 0).then(|| at.index(n));
        // A position in `0..=n` (between bytes).
        let gap = |at: &Index| at.index(n + 1);
        match self {
            Mutation::Flip { at, mask } => {
                if let Some(i) = byte(at) {
                    bytes[i] ^= mask;
                }
            }
            Mutation::Set { at, value } => {
                if let Some(i) = byte(at) {
                    bytes[i] = *value;
                }
            }
            Mutation::Truncate { keep } => bytes.truncate((n as f64 * keep) as usize),
            Mutation::Delete { at, len } => {
                if let Some(i) = byte(at) {
                    bytes.drain(i..n.min(i + len));
                }
            }
            Mutation::Insert { at, bytes: run } => {
                let i = gap(at);
                bytes.splice(i..i, run.iter().copied());
            }
            Mutation::Duplicate { from, len, to } => {
                if let Some(i) = byte(from) {
                    let run = bytes[i..n.min(i + len)].to_vec();
                    let j = gap(to);
                    bytes.splice(j..j, run);
                }
            }
            Mutation::Splice { from, len, to } => {
                if let Some(i) = byte(from) {
                    let run = bytes[i..n.min(i + len)].to_vec();
                    let j = byte(to).unwrap_or(0);
                    let end = n.min(j + run.len());
                    bytes.splice(j..end, run);
                }
            }
        }
    }
}

/// The input with `mutations` applied in order.
pub fn apply(input: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    mutations.iter().for_each(|m| m.apply_to(&mut bytes));
    bytes
}

/// Bytes to insert: one of [`TOKENS`], or up to 16 random bytes.
fn insertion() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => proptest::sample::select(TOKENS).prop_map(<[u8]>::to_vec),
        1 => proptest::collection::vec(any::<u8>(), 1..16),
    ]
}

/// Lengths of deleted, duplicated and spliced runs: mostly short, sometimes long.
fn run_len() -> impl Strategy<Value = usize> {
    prop_oneof![3 => 1usize..8, 1 => 8usize..512]
}

/// Any one [`Mutation`], small edits more often than structural ones.
pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 1u8..=255).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(at, value)| Mutation::Set { at, value }),
        1 => (0.0..1.0f64).prop_map(|keep| Mutation::Truncate { keep }),
        2 => (any::<Index>(), run_len()).prop_map(|(at, len)| Mutation::Delete { at, len }),
        3 => (any::<Index>(), insertion()).prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        1 => (any::<Index>(), run_len(), any::<Index>())
            .prop_map(|(from, len, to)| Mutation::Duplicate { from, len, to }),
        1 => (any::<Index>(), run_len(), any::<Index>())
            .prop_map(|(from, len, to)| Mutation::Splice { from, len, to }),
    ]
}

/// One to `max` mutations.
pub fn mutations(max: usize) -> impl Strategy<Value = Vec<Mutation>> {
    proptest::collection::vec(mutation(), 1..=max)
}

/// Values for numeric header fields (lengths, counts, dimensions, offsets): the edges of
/// 8-, 16-, 32- and 64-bit ranges, 2^40 (a length no file holds), small numbers and any
/// `u64`.
pub fn edge_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => proptest::sample::select(EDGES),
        2 => 0u64..64,
        1 => any::<u64>(),
    ]
}

/// The special values of [`edge_u64`].
const EDGES: &[u64] = &[
    0,
    1,
    2,
    255,
    256,
    65_535,
    65_536,
    65_537,
    (1 << 31) - 1,
    1 << 31,
    u32::MAX as u64,
    1 << 32,
    1 << 40,
    (1 << 61) - 1,
    1 << 63,
    u64::MAX - 7,
    u64::MAX,
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;

    /// Position 0: `Index` has no constructor, but its strategy shrinks to 0.
    fn start() -> Index {
        any::<Index>()
            .new_tree(&mut proptest::test_runner::TestRunner::deterministic())
            .map(|mut t| {
                while t.simplify() {}
                t.current()
            })
            .unwrap()
    }

    #[test]
    fn every_mutation_applies_to_the_empty_input() {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        for _ in 0..256 {
            let m = mutation().new_tree(&mut runner).unwrap().current();
            let mut empty = Vec::new();
            m.apply_to(&mut empty);
            let mut one = vec![7];
            m.apply_to(&mut one);
        }
    }

    #[test]
    fn edits_at_the_start() {
        let first = start();
        let cases = [
            (Mutation::Flip { at: first, mask: 1 }, &b"`bc"[..]),
            (
                Mutation::Set {
                    at: first,
                    value: b'x',
                },
                b"xbc",
            ),
            (Mutation::Truncate { keep: 0.4 }, b"a"),
            (Mutation::Delete { at: first, len: 2 }, b"c"),
            (
                Mutation::Insert {
                    at: first,
                    bytes: b"--".to_vec(),
                },
                b"--abc",
            ),
            (
                Mutation::Duplicate {
                    from: first,
                    len: 2,
                    to: first,
                },
                b"ababc",
            ),
            (
                Mutation::Splice {
                    from: first,
                    len: 9,
                    to: first,
                },
                b"abc",
            ),
        ];
        for (m, expected) in cases {
            assert_eq!(apply(b"abc", std::slice::from_ref(&m)), expected, "{m:?}");
        }
    }
}
