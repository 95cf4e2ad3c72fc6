//! Keys of any type as bytes, and the per-key slots found by hashing them:
//! the pure half of the streaming states in `states.rs`.
//!
//! A key (one value per key column) is written as the concatenation of its
//! columns' encodings, each self-delimiting, so any number of columns of any
//! kind make one byte string. Equal keys, as Polars groups them, have equal
//! bytes: every integer width writes the same bytes for the same number, a
//! Float32 the same as the Float64 it converts to exactly, -0.0 the same as
//! 0.0 and every NaN the same NaN. So a key keeps its state when the column's
//! dtype changes from one batch to the next (Int32 then Int64), and the bytes
//! can be hashed and compared without knowing the columns' types.

use std::cmp::Ordering;
use std::hash::BuildHasher;

use hashbrown::hash_table::Entry;
use hashbrown::HashTable;

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
/// An integer within `i128` but not `i64`, as 16 bytes.
const WIDE_INT: u8 = 2;
/// A `u128` beyond `i128::MAX`, as 16 bytes.
const HUGE_UINT: u8 = 3;
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
        Err(_) => {
            out.push(WIDE_INT);
            out.extend_from_slice(&value.to_le_bytes());
        }
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
pub fn canonical_float(value: f64) -> f64 {
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
    out.push(VALUE);
    let mut len = value.len() as u64;
    while len >= 0x80 {
        out.push((len as u8) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    if value.len() <= STUB_BYTES {
        // A fixed-size copy, then the padding dropped (see `head`).
        let end = out.len() + value.len();
        out.extend_from_slice(&head(value));
        out.truncate(end);
    } else {
        out.extend_from_slice(value);
    }
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

/// The keys of a batch's rows, written back to back.
#[derive(Debug, Default)]
pub struct EncodedRows {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl EncodedRows {
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    /// Room for `rows` more rows of about `bytes_per_row` bytes.
    pub fn reserve(&mut self, rows: usize, bytes_per_row: usize) {
        self.ends.reserve(rows);
        self.bytes.reserve(rows.saturating_mul(bytes_per_row));
    }

    /// Where the current row's bytes go: write them, then [`Self::end_row`].
    #[inline]
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }

    #[inline]
    pub fn end_row(&mut self) {
        self.ends.push(self.bytes.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Row `row`'s key; empty beyond the last row.
    #[inline]
    pub fn row(&self, row: usize) -> &[u8] {
        let start = match row.checked_sub(1) {
            Some(before) => self.ends.get(before).copied().unwrap_or(0),
            None => 0,
        };
        let end = self.ends.get(row).copied().unwrap_or(start);
        self.bytes.get(start..end).unwrap_or_default()
    }

    /// Appends, row by row, the columns of `columns` (each as long as the
    /// others), so that several key columns make one key per row.
    pub fn interleave(&mut self, columns: &[EncodedRows]) {
        let rows = columns.first().map_or(0, EncodedRows::len);
        let width: usize = columns.iter().map(|c| c.bytes.len()).sum();
        self.reserve(rows, width.div_ceil(rows.max(1)));
        for row in 0..rows {
            for column in columns {
                self.bytes.extend_from_slice(column.row(row));
            }
            self.end_row();
        }
    }
}

/// A key's first bytes and its length, kept in a hash table's entry beside
/// the key's number, so that comparing a key with an entry reads no other
/// memory when the key is short (most keys: an Int64 takes 9 bytes, a
/// 14-character string 16). Longer keys are then compared in full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stub {
    head: [u8; STUB_BYTES],
    len: u32,
}

const STUB_BYTES: usize = 16;

impl Stub {
    #[inline]
    pub fn of(key: &[u8]) -> Self {
        Self {
            head: head(key),
            len: u32::try_from(key.len()).unwrap_or(u32::MAX),
        }
    }

    /// Whether the stub holds the whole key, so that equal stubs mean
    /// equal keys.
    #[inline]
    fn is_whole(&self) -> bool {
        self.len as usize <= STUB_BYTES
    }
}

/// The first [`STUB_BYTES`] bytes of `bytes`, zero-padded.
///
/// Read as at most two overlapping little-endian words, shifted into place
/// in registers: a copy of a length known only at run time is a call into
/// the C library's `memmove`, and overlapping byte copies into the array
/// stall the next read of it (the stores cannot be forwarded); either cost
/// more than everything else done to a row.
#[inline]
fn head(bytes: &[u8]) -> [u8; STUB_BYTES] {
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

/// A hash table's entry: a key's stub and its number (group or slot).
pub type Entry32 = (Stub, u32);

/// How many shards keys are spread over by their hash (see [`ShardedKeys`]):
/// a million keys make shards of about 4,000.
pub const SHARDS: usize = 256;

/// The shard of a key with hash `hash`: bits that neither the bucket index
/// (the low bits) nor the tag (the top 7) of a hashbrown table use, so that
/// the keys of one shard still spread over its table.
#[inline]
pub fn shard(hash: u64) -> usize {
    (hash >> 40) as usize % SHARDS
}

/// A shard's table is read through before its look-ups when they number at
/// least 1/`WARM_SHARE` of its keys (see [`KeyTable::warm`]).
const WARM_SHARE: usize = 16;

/// Runs of equal consecutive keys within one batch, for a stream sorted by
/// key.
#[derive(Debug, Default)]
pub struct BatchGroups {
    /// One group per row.
    pub ids: Vec<u32>,
    /// Each group's first row.
    pub first_rows: Vec<u32>,
}

impl BatchGroups {
    pub fn len(&self) -> usize {
        self.first_rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.first_rows.is_empty()
    }

    /// Groups `rows` into runs of equal consecutive keys.
    pub fn by_runs(&mut self, rows: &EncodedRows) {
        self.ids.clear();
        self.first_rows.clear();
        self.ids.reserve(rows.len());
        let mut group = 0;
        for row in 0..rows.len() {
            if row == 0 || rows.row(row) != rows.row(row - 1) {
                group = self.first_rows.len() as u32;
                self.first_rows.push(row as u32);
            }
            self.ids.push(group);
        }
    }
}

/// Distinct keys, each with a number (given by the caller when the key is
/// first met) that indexes its state. A key that fits its entry's stub (most
/// keys) is stored only there; a longer one is stored in `long_keys`, its
/// entry's stub holding its first bytes and where it starts.
#[derive(Debug, Default)]
pub struct KeyTable {
    table: HashTable<Entry32>,
    long_keys: Vec<u8>,
}

/// The bytes of a long key's stub that hold its first bytes; the rest hold
/// where it starts in `long_keys`.
const LONG_PREFIX: usize = STUB_BYTES - 8;

impl KeyTable {
    /// The number of keys.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The number of `key` (whose hash by `hasher` is `hash`); `new`, stored
    /// with the key, if the key is new.
    pub fn number(&mut self, hash: u64, key: &[u8], hasher: &impl BuildHasher, new: u32) -> u32 {
        self.number_of_stub(hash, Stub::of(key), || key, hasher, new)
    }

    /// [`Self::number`] of the key whose stub is `stub`; `key` gives the
    /// whole key, and is called only if the stub does not hold it.
    #[inline]
    pub fn number_of_stub<'k>(
        &mut self,
        hash: u64,
        stub: Stub,
        key: impl Fn() -> &'k [u8],
        hasher: &impl BuildHasher,
        new: u32,
    ) -> u32 {
        let Self { table, long_keys } = self;
        let same = |&(other, _): &Entry32| {
            if stub.is_whole() {
                other == stub
            } else {
                other.len == stub.len
                    && other.head[..LONG_PREFIX] == stub.head[..LONG_PREFIX]
                    && stored_key(long_keys, &other) == key()
            }
        };
        let rehash = |(other, _): &Entry32| hasher.hash_one(stored_key(long_keys, other));
        match table.entry(hash, same, rehash) {
            Entry::Occupied(entry) => entry.get().1,
            Entry::Vacant(entry) => {
                let mut stored = stub;
                if !stub.is_whole() {
                    let start = long_keys.len() as u64;
                    stored.head[LONG_PREFIX..].copy_from_slice(&start.to_le_bytes());
                    long_keys.extend_from_slice(key());
                }
                entry.insert((stored, new));
                new
            }
        }
    }

    /// The bytes the table holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.table.allocation_size() + self.long_keys.capacity()
    }

    /// Reads the whole table once, in memory order, so that the many
    /// look-ups that follow find it in cache: one read that the hardware
    /// prefetches, instead of a wait on memory at almost every look-up of a
    /// table that other tables pushed out of cache since.
    pub fn warm(&self) {
        for (_, number) in self.table.iter() {
            std::hint::black_box(*number);
        }
    }
}

/// Keys of any kind, as bytes, numbered 0, 1, 2... as they are met: the
/// numbers index the keys' states. The keys are spread over [`SHARDS`]
/// tables by hash, and a batch's rows are looked up shard by shard, so that
/// each shard's table (with a million keys, about 200 KB of 50 MB) is in
/// cache for all its rows: a million keys in one table would wait on memory
/// at nearly every row.
#[derive(Debug)]
pub struct ShardedKeys {
    shards: Vec<KeyTable>,
    len: usize,
    /// Scratch space kept from batch to batch: each row's hash, then the
    /// rows in shard order with what their look-up needs.
    hashes: Vec<u64>,
    starts: Vec<usize>,
    sharded: Vec<(u64, Stub, u32)>,
}

impl Default for ShardedKeys {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| KeyTable::default()).collect(),
            len: 0,
            hashes: Vec::new(),
            starts: Vec::new(),
            sharded: Vec::new(),
        }
    }
}

impl ShardedKeys {
    /// The number of keys.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Each row's key's number, into `numbers`; keys not met before get the
    /// next numbers. The caller checks that the numbers fit: at most
    /// `u32::MAX` keys in all.
    pub fn number_rows(
        &mut self,
        rows: &EncodedRows,
        hasher: &impl BuildHasher,
        numbers: &mut Vec<u32>,
    ) {
        let n = rows.len();
        let Self {
            shards,
            len,
            hashes,
            starts,
            sharded,
        } = self;
        hashes.clear();
        hashes.extend((0..n).map(|row| hasher.hash_one(rows.row(row))));
        // The rows in shard order (a counting sort), in row order within a
        // shard, so that a key's rows keep their order.
        starts.clear();
        starts.resize(SHARDS + 1, 0);
        for &hash in hashes.iter() {
            starts[shard(hash) + 1] += 1;
        }
        for s in 0..SHARDS {
            starts[s + 1] += starts[s];
        }
        sharded.clear();
        sharded.resize(n, (0, Stub::of(&[]), 0));
        let mut next = starts[..SHARDS].to_vec();
        for (row, &hash) in hashes.iter().enumerate() {
            let at = &mut next[shard(hash)];
            sharded[*at] = (hash, Stub::of(rows.row(row)), row as u32);
            *at += 1;
        }
        numbers.clear();
        numbers.resize(n, 0);
        for (table, bounds) in shards.iter_mut().zip(starts.windows(2)) {
            let run = &sharded[bounds[0]..bounds[1]];
            if !run.is_empty() && run.len() * WARM_SHARE >= table.len() {
                table.warm();
            }
            for &(hash, stub, row) in run {
                let key = || rows.row(row as usize);
                let number = table.number_of_stub(hash, stub, key, hasher, *len as u32);
                *len += usize::from(number as usize == *len);
                numbers[row as usize] = number;
            }
        }
    }

    /// The number of one key, as [`Self::number_rows`] gives it.
    pub fn number(&mut self, key: &[u8], hasher: &impl BuildHasher) -> u32 {
        let hash = hasher.hash_one(key);
        let number = self.shards[shard(hash)].number(hash, key, hasher, self.len as u32);
        self.len += usize::from(number as usize == self.len);
        number
    }

    /// The bytes the tables hold on the heap (not the scratch space).
    pub fn heap_bytes(&self) -> usize {
        let tables: usize = self.shards.iter().map(KeyTable::heap_bytes).sum();
        tables + self.shards.capacity() * std::mem::size_of::<KeyTable>()
    }
}

/// The key that a stored entry's stub stands for.
fn stored_key<'a>(long_keys: &'a [u8], stub: &'a Stub) -> &'a [u8] {
    if stub.is_whole() {
        return &stub.head[..stub.len as usize];
    }
    let mut start = [0; 8];
    start.copy_from_slice(&stub.head[LONG_PREFIX..]);
    let start = usize::try_from(u64::from_le_bytes(start)).unwrap_or(usize::MAX);
    let end = start.saturating_add(stub.len as usize);
    long_keys.get(start..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hashbrown::DefaultHashBuilder;
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
        assert_eq!(int(i128::from(u64::MAX)).len(), 17);
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
        fn stubs_hold_the_first_bytes_and_strings_are_copied_whole(
            bytes in prop::collection::vec(any::<u8>(), 0..40)
        ) {
            let n = bytes.len().min(STUB_BYTES);
            let mut want = [0; STUB_BYTES];
            want[..n].copy_from_slice(&bytes[..n]);
            prop_assert_eq!(head(&bytes), want);
            prop_assert_eq!(Stub::of(&bytes).is_whole(), bytes.len() <= STUB_BYTES);
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
            prop::option::of(any::<i128>()).prop_map(|v| (Codec::Int, v, None, None)),
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

        #[test]
        fn rows_of_equal_keys_share_a_number(
            batches in prop::collection::vec(prop::collection::vec(0i128..60, 0..300), 1..4)
        ) {
            // Odd keys are long, alike in their first 16 bytes and length.
            let encode = |key: i128, rows: &mut EncodedRows| {
                if key % 2 == 1 {
                    push_bytes(rows.buffer(), format!("{}{key}", "x".repeat(20)).as_bytes());
                } else {
                    push_int(rows.buffer(), key);
                }
                rows.end_row();
            };
            let hasher = DefaultHashBuilder::default();
            let mut keys = ShardedKeys::default();
            let mut known: std::collections::HashMap<i128, u32> = Default::default();
            let mut numbers = Vec::new();
            for batch in &batches {
                let mut rows = EncodedRows::default();
                batch.iter().for_each(|&key| encode(key, &mut rows));
                keys.number_rows(&rows, &hasher, &mut numbers);
                prop_assert_eq!(numbers.len(), batch.len());
                // A key has one number, in this batch and in earlier ones.
                for (&key, &number) in batch.iter().zip(&numbers) {
                    prop_assert_eq!(number, *known.entry(key).or_insert(number));
                }
                prop_assert_eq!(keys.len(), known.len());
                // The numbers are 0, 1, 2...: each key's, and no two keys share one.
                let mut all: Vec<u32> = known.values().copied().collect();
                all.sort_unstable();
                prop_assert!(all.iter().enumerate().all(|(i, &n)| n as usize == i));
                // One key looked up alone has the number its rows have.
                if let Some(&key) = batch.first() {
                    let mut one = EncodedRows::default();
                    encode(key, &mut one);
                    prop_assert_eq!(keys.number(one.row(0), &hasher), known[&key]);
                }
            }
        }

        #[test]
        fn runs_split_where_the_key_changes(keys in prop::collection::vec(0i128..3, 0..100)) {
            let mut rows = EncodedRows::default();
            for &key in &keys {
                push_int(rows.buffer(), key);
                rows.end_row();
            }
            let mut groups = BatchGroups::default();
            groups.by_runs(&rows);
            let mut want = Vec::new();
            let mut run = 0u32;
            for row in 0..keys.len() {
                if row > 0 && keys[row] != keys[row - 1] {
                    run += 1;
                }
                want.push(run);
            }
            prop_assert_eq!(&groups.ids, &want);
            prop_assert_eq!(groups.len(), want.last().map_or(0, |&r| r as usize + 1));
        }

        #[test]
        fn the_table_gives_each_key_one_number(
            keys in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), 0..300)
        ) {
            let hasher = DefaultHashBuilder::default();
            let mut table = KeyTable::default();
            let mut seen: Vec<Vec<u8>> = Vec::new();
            // Long keys alike in their first 16 bytes, too.
            let long: Vec<Vec<u8>> = keys.iter().map(|k| [&[7u8; 20][..], k].concat()).collect();
            let number_of = |table: &mut KeyTable, key: &[u8]| {
                let encoded = bytes(key);
                let new = table.len() as u32;
                table.number(hasher.hash_one(&encoded[..]), &encoded, &hasher, new)
            };
            for key in keys.iter().chain(&long) {
                let number = number_of(&mut table, key);
                let want = seen.iter().position(|k| k == key).unwrap_or_else(|| {
                    seen.push(key.clone());
                    seen.len() - 1
                });
                prop_assert_eq!(number as usize, want);
            }
            prop_assert_eq!(table.len(), seen.len());
            // After every growth of the table, each key still finds its number.
            for (want, key) in seen.iter().enumerate() {
                prop_assert_eq!(number_of(&mut table, key), want as u32);
            }
            prop_assert_eq!(table.len(), seen.len());
        }
    }

    #[test]
    fn rows_interleave_column_by_column() {
        let mut a = EncodedRows::default();
        let mut b = EncodedRows::default();
        for i in 0..3 {
            push_int(a.buffer(), i);
            a.end_row();
            push_bytes(b.buffer(), format!("s{i}").as_bytes());
            b.end_row();
        }
        let mut both = EncodedRows::default();
        both.interleave(&[a, b]);
        assert_eq!(both.len(), 3);
        let codecs = [Codec::Int, Codec::Bytes];
        assert_eq!(
            decode(&codecs, both.row(2)),
            Some(vec![Cell::Int(2), Cell::Bytes(b"s2")])
        );
        assert_eq!(both.row(3), &[] as &[u8]);
    }
}
