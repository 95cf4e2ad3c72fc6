//! One key column's values as self-delimiting bytes, and those bytes read
//! back (for ordering and display).

use std::cmp::Ordering;

/// How one column's values are written, and so how they are read back for
/// ordering (hashing and equality need only the bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    Int,
    Float,
    Bool,
    Bytes,
}

/// The tag of a null, whatever the column's codec: nulls sort first.
const NULL: u8 = 0;
/// An integer within `i64`, as 8 bytes.
const NARROW_INT: u8 = 1;
/// An integer within `i128` but neither `i64` nor `u64`, as 16 bytes.
const WIDE_INT: u8 = 2;
/// A `u128` beyond `i128::MAX`, as 16 bytes.
const HUGE_UINT: u8 = 3;
/// An integer within `u64` but not `i64`, as 8 bytes: half of all UInt64
/// values (hashes, ids), which then fit a table entry's stub (see
/// `sharded.rs`) instead of being stored and compared apart as long keys.
const UNSIGNED_INT: u8 = 4;
/// A float, a string or a binary value.
const VALUE: u8 = 1;
const FALSE: u8 = 1;
const TRUE: u8 = 2;

/// Writes a null of any codec.
#[inline]
pub fn push_null(out: &mut Vec<u8>) {
    out.push(NULL);
}

/// Writes an integer (any signed width), in the fewest bytes its value needs,
/// so that each number has one encoding whatever its column's width.
#[inline]
pub fn push_int(out: &mut Vec<u8>, value: i128) {
    match i64::try_from(value) {
        Ok(narrow) => {
            out.push(NARROW_INT);
            out.extend_from_slice(&narrow.to_le_bytes());
        }
        Err(_) => match u64::try_from(value) {
            Ok(unsigned) => {
                out.push(UNSIGNED_INT);
                out.extend_from_slice(&unsigned.to_le_bytes());
            }
            Err(_) => {
                out.push(WIDE_INT);
                out.extend_from_slice(&value.to_le_bytes());
            }
        },
    }
}

/// Writes an unsigned integer of any width.
#[inline]
pub fn push_uint(out: &mut Vec<u8>, value: u128) {
    match i128::try_from(value) {
        Ok(signed) => push_int(out, signed),
        Err(_) => {
            out.push(HUGE_UINT);
            out.extend_from_slice(&value.to_le_bytes());
        }
    }
}

/// A float as Polars groups it: -0.0 is 0.0 and every NaN one NaN.
#[inline]
fn canonical_float(value: f64) -> f64 {
    if value.is_nan() {
        f64::NAN
    } else {
        // -0.0 + 0.0 is 0.0; every other value is unchanged.
        value + 0.0
    }
}

/// Writes a float (Float32 values converted exactly to f64 first).
#[inline]
pub fn push_float(out: &mut Vec<u8>, value: f64) {
    out.push(VALUE);
    out.extend_from_slice(&canonical_float(value).to_bits().to_le_bytes());
}

#[inline]
pub fn push_bool(out: &mut Vec<u8>, value: bool) {
    out.push(if value { TRUE } else { FALSE });
}

/// Writes a string's UTF-8 bytes or a binary value: its length (LEB128),
/// then the bytes.
#[inline]
pub fn push_bytes(out: &mut Vec<u8>, value: &[u8]) {
    push_length(out, value.len());
    if value.len() <= STUB_BYTES {
        // A fixed-size copy, then the padding dropped (see `head`).
        let end = out.len() + value.len();
        out.extend_from_slice(&head(value));
        out.truncate(end);
    } else {
        out.extend_from_slice(value);
    }
}

/// Writes the start of a valid value made of `len` parts (a string's bytes,
/// a list's elements, a struct's fields): the parts follow it, each
/// self-delimiting, so the whole is too, and no null is ever equal to it.
#[inline]
pub fn push_length(out: &mut Vec<u8>, len: usize) {
    out.push(VALUE);
    let mut len = len as u64;
    while len >= 0x80 {
        out.push((len as u8) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
}

/// One column's value read back from its encoding, for ordering and display.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell<'a> {
    Null,
    Int(i128),
    HugeUint(u128),
    Float(f64),
    Bool(bool),
    Bytes(&'a [u8]),
}

impl Cell<'_> {
    /// Polars' (and Spark's) ascending order: nulls first, integers by
    /// value, NaN after every other float, strings by their UTF-8 bytes.
    fn order(&self, other: &Self) -> Ordering {
        use Cell::*;
        match (self, other) {
            (Null, Null) => Ordering::Equal,
            (Null, _) => Ordering::Less,
            (_, Null) => Ordering::Greater,
            (Int(a), Int(b)) => a.cmp(b),
            (Int(_), HugeUint(_)) => Ordering::Less,
            (HugeUint(_), Int(_)) => Ordering::Greater,
            (HugeUint(a), HugeUint(b)) => a.cmp(b),
            // Canonical: NaN is positive, so it sorts after +inf.
            (Float(a), Float(b)) => a.total_cmp(b),
            (Bool(a), Bool(b)) => a.cmp(b),
            (Bytes(a), Bytes(b)) => a.cmp(b),
            // Cells of one column share a codec; this only keeps the order total.
            (a, b) => a.rank().cmp(&b.rank()),
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Cell::Null => 0,
            Cell::Int(_) | Cell::HugeUint(_) => 1,
            Cell::Float(_) => 2,
            Cell::Bool(_) => 3,
            Cell::Bytes(_) => 4,
        }
    }
}

fn take<const N: usize>(bytes: &mut &[u8]) -> Option<[u8; N]> {
    let (head, rest) = bytes.split_first_chunk::<N>()?;
    *bytes = rest;
    Some(*head)
}

/// Reads the next column of a key written with `codec`; `None` if the bytes
/// are not such an encoding.
fn next_cell<'a>(codec: Codec, bytes: &mut &'a [u8]) -> Option<Cell<'a>> {
    let [tag] = take::<1>(bytes)?;
    if tag == NULL {
        return Some(Cell::Null);
    }
    Some(match (codec, tag) {
        (Codec::Int, NARROW_INT) => Cell::Int(i64::from_le_bytes(take(bytes)?).into()),
        (Codec::Int, UNSIGNED_INT) => Cell::Int(u64::from_le_bytes(take(bytes)?).into()),
        (Codec::Int, WIDE_INT) => Cell::Int(i128::from_le_bytes(take(bytes)?)),
        (Codec::Int, HUGE_UINT) => Cell::HugeUint(u128::from_le_bytes(take(bytes)?)),
        (Codec::Float, VALUE) => Cell::Float(f64::from_bits(u64::from_le_bytes(take(bytes)?))),
        (Codec::Bool, FALSE) => Cell::Bool(false),
        (Codec::Bool, TRUE) => Cell::Bool(true),
        (Codec::Bytes, VALUE) => {
            let mut len = 0u64;
            let mut shift = 0;
            loop {
                let [byte] = take::<1>(bytes)?;
                len |= u64::from(byte & 0x7f).checked_shl(shift)?;
                shift += 7;
                if byte < 0x80 {
                    break;
                }
            }
            let (value, rest) = bytes.split_at_checked(usize::try_from(len).ok()?)?;
            *bytes = rest;
            Cell::Bytes(value)
        }
        _ => return None,
    })
}

/// A key's columns read back, one cell per codec; `None` if `key` is not
/// an encoding of that many columns.
pub fn decode<'a>(codecs: &[Codec], mut key: &'a [u8]) -> Option<Vec<Cell<'a>>> {
    let cells = codecs
        .iter()
        .map(|&codec| next_cell(codec, &mut key))
        .collect::<Option<Vec<_>>>()?;
    key.is_empty().then_some(cells)
}

/// The order of two keys, column by column (as Polars' `sort(by)` with its
/// defaults); `None` if either is not an encoding of `codecs`.
pub fn compare(codecs: &[Codec], a: &[u8], b: &[u8]) -> Option<Ordering> {
    let (a, b) = (decode(codecs, a)?, decode(codecs, b)?);
    let mut unequal = a.iter().zip(&b).map(|(a, b)| a.order(b));
    Some(unequal.find(|o| o.is_ne()).unwrap_or(Ordering::Equal))
}

/// How many of a key's first bytes a hash table's entry holds (see
/// `sharded::Stub`); strings that short are copied as a fixed-size block.
pub(super) const STUB_BYTES: usize = 16;

/// The first [`STUB_BYTES`] bytes of `bytes`, zero-padded.
///
/// Read as at most two overlapping little-endian words, shifted into place
/// in registers: a copy of a length known only at run time is a call into
/// the C library's `memmove`, and overlapping byte copies into the array
/// stall the next read of it (the stores cannot be forwarded); either cost
/// more than everything else done to a row.
#[inline]
pub(super) fn head(bytes: &[u8]) -> [u8; STUB_BYTES] {
    let n = bytes.len();
    let word = |at: usize| {
        let mut word = [0; 8];
        word.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(word)
    };
    let half = |at: usize| {
        let mut half = [0; 4];
        half.copy_from_slice(&bytes[at..at + 4]);
        u64::from(u32::from_le_bytes(half))
    };
    // Bytes `8..n` of an `n`-byte key, `8 <= n <= 16`, are the last `n - 8`
    // of the word that ends at `n`; bytes `4..n`, `4 <= n <= 8`, likewise.
    let (low, high) = match n {
        16.. => (word(0), word(8)),
        8..=15 => (
            word(0),
            word(n - 8).checked_shr(8 * (16 - n) as u32).unwrap_or(0),
        ),
        4..=7 => (half(0) | ((half(n - 4) >> (8 * (8 - n))) << 32), 0),
        _ => {
            let mut head = [0; STUB_BYTES];
            head[..n].copy_from_slice(bytes);
            return head;
        }
    };
    let mut head = [0; STUB_BYTES];
    head[..8].copy_from_slice(&low.to_le_bytes());
    head[8..].copy_from_slice(&high.to_le_bytes());
    head
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn int(value: i128) -> Vec<u8> {
        let mut out = Vec::new();
        push_int(&mut out, value);
        out
    }

    fn float(value: f64) -> Vec<u8> {
        let mut out = Vec::new();
        push_float(&mut out, value);
        out
    }

    fn bytes(value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        push_bytes(&mut out, value);
        out
    }

    #[test]
    fn an_integer_has_one_encoding_whatever_its_width() {
        assert_eq!(int(i128::from(7i8)), int(i128::from(7i64)));
        let mut unsigned = Vec::new();
        push_uint(&mut unsigned, u128::from(u64::MAX));
        assert_eq!(unsigned, int(i128::from(u64::MAX)));
        assert_eq!(int(-1).len(), 9);
        // Every UInt64 value fits a stub (16 bytes), as a tag and 8 bytes.
        assert_eq!(int(i128::from(u64::MAX)).len(), 9);
        assert_eq!(int(i128::from(i64::MAX) + 1).len(), 9);
        assert_eq!(int(i128::from(u64::MAX) + 1).len(), 17);
        assert_eq!(int(i128::from(i64::MIN) - 1).len(), 17);
        assert_ne!(int(1), int(2));
    }

    #[test]
    fn floats_group_as_polars_groups_them() {
        assert_eq!(float(-0.0), float(0.0));
        let other_nan = f64::from_bits(f64::NAN.to_bits() ^ 0x8000_0000_0000_0001);
        assert!(other_nan.is_nan());
        assert_eq!(float(other_nan), float(f64::NAN));
        assert_eq!(float(f64::from(1.5f32)), float(1.5));
        assert_ne!(float(1.0), float(f64::INFINITY));
    }

    #[test]
    fn nulls_of_every_codec_are_one_key() {
        let mut null = Vec::new();
        push_null(&mut null);
        assert_eq!(null, [NULL]);
        for codec in [Codec::Int, Codec::Float, Codec::Bool, Codec::Bytes] {
            assert_eq!(decode(&[codec], &null), Some(vec![Cell::Null]));
        }
    }

    #[test]
    fn malformed_keys_are_refused_not_read() {
        assert_eq!(decode(&[Codec::Int], &[NARROW_INT, 1, 2]), None);
        assert_eq!(decode(&[Codec::Bytes], &[VALUE, 5, b'a']), None);
        assert_eq!(decode(&[Codec::Bool], &[9]), None);
        assert_eq!(decode(&[Codec::Int], &[]), None);
        // Trailing bytes mean the key had more columns than asked.
        assert_eq!(decode(&[Codec::Bool], &[TRUE, TRUE]), None);
        assert_eq!(compare(&[Codec::Int], &[7], &int(1)), None);
    }

    #[test]
    fn a_stub_holds_the_first_bytes_of_keys_of_every_length() {
        for n in 0..=20u8 {
            let key: Vec<u8> = (1..=n).collect();
            let mut want = [0; STUB_BYTES];
            let kept = key.len().min(STUB_BYTES);
            want[..kept].copy_from_slice(&key[..kept]);
            assert_eq!(head(&key), want, "a key of {n} bytes");
        }
    }

    proptest! {
        #[test]
        fn heads_hold_the_first_bytes_and_strings_are_copied_whole(
            bytes in prop::collection::vec(any::<u8>(), 0..40)
        ) {
            let n = bytes.len().min(STUB_BYTES);
            let mut want = [0; STUB_BYTES];
            want[..n].copy_from_slice(&bytes[..n]);
            prop_assert_eq!(head(&bytes), want);
            let mut out = vec![9];
            push_bytes(&mut out, &bytes);
            prop_assert_eq!(&out[out.len() - bytes.len()..], &bytes[..]);
            prop_assert_eq!(decode(&[Codec::Bytes], &out[1..]), Some(vec![Cell::Bytes(&bytes)]));
        }
    }

    #[test]
    fn long_strings_carry_multi_byte_lengths() {
        let long = vec![b'x'; 300];
        let encoded = bytes(&long);
        assert_eq!(&encoded[..3], &[VALUE, 0xac, 0x02]);
        assert_eq!(
            decode(&[Codec::Bytes], &encoded),
            Some(vec![Cell::Bytes(&long[..])])
        );
    }

    fn cell() -> impl Strategy<Value = (Codec, Option<i128>, Option<f64>, Option<Vec<u8>>)> {
        prop_oneof![
            // Each width of encoding: i64, u64 beyond i64, and the rest of i128.
            prop::option::of(prop_oneof![
                any::<i64>().prop_map(i128::from),
                any::<u64>().prop_map(i128::from),
                any::<i128>()
            ])
            .prop_map(|v| (Codec::Int, v, None, None)),
            prop::option::of(prop_oneof![
                any::<f64>(),
                Just(f64::NAN),
                Just(-0.0),
                Just(f64::INFINITY)
            ])
            .prop_map(|v| (Codec::Float, None, v, None)),
            prop::option::of(prop::collection::vec(any::<u8>(), 0..200)).prop_map(|v| (
                Codec::Bytes,
                None,
                None,
                v
            )),
        ]
    }

    /// One key column's values in each codec, with the order Polars sorts by.
    fn write(
        out: &mut Vec<u8>,
        (codec, i, f, b): &(Codec, Option<i128>, Option<f64>, Option<Vec<u8>>),
    ) {
        match (codec, i, f, b) {
            (Codec::Int, Some(v), _, _) => push_int(out, *v),
            (Codec::Float, _, Some(v), _) => push_float(out, *v),
            (Codec::Bytes, _, _, Some(v)) => push_bytes(out, v),
            _ => push_null(out),
        }
    }

    fn expected_order(
        a: &(Codec, Option<i128>, Option<f64>, Option<Vec<u8>>),
        b: &(Codec, Option<i128>, Option<f64>, Option<Vec<u8>>),
    ) -> Ordering {
        match a.0 {
            Codec::Int => a.1.cmp(&b.1),
            Codec::Float => match (a.2, b.2) {
                (None, None) => Ordering::Equal,
                (None, _) => Ordering::Less,
                (_, None) => Ordering::Greater,
                (Some(x), Some(y)) => match (x.is_nan(), y.is_nan()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    (false, false) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
                },
            },
            _ => a.3.cmp(&b.3),
        }
    }

    proptest! {
        #[test]
        fn keys_decode_and_order_column_by_column(
            pairs in prop::collection::vec(cell().prop_flat_map(|a| {
                let codec = a.0;
                (Just(a), cell().prop_filter("same codec", move |b| b.0 == codec))
            }), 1..4)
        ) {
            let codecs: Vec<Codec> = pairs.iter().map(|(a, _)| a.0).collect();
            let (mut left, mut right) = (Vec::new(), Vec::new());
            for (a, b) in &pairs {
                write(&mut left, a);
                write(&mut right, b);
            }
            let want = pairs
                .iter()
                .map(|(a, b)| expected_order(a, b))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal);
            prop_assert_eq!(compare(&codecs, &left, &right), Some(want));
            // Equal in order exactly when equal in bytes: the group test.
            prop_assert_eq!(want == Ordering::Equal, left == right);
            prop_assert_eq!(decode(&codecs, &left).map(|cells| cells.len()), Some(codecs.len()));
        }

    }
}
