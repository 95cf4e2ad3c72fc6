//! Keys as bytes numbered in hash tables, spread over shards by hash.

use std::hash::BuildHasher;

use hashbrown::hash_table::Entry;
use hashbrown::HashTable;

use super::encoding::{head, STUB_BYTES};
use super::rows::EncodedRows;
use crate::kernels::on_threads;
use crate::parallelism::scoring_threads;

/// A key's first bytes and its length, kept in a hash table's entry beside
/// the key's number, so that comparing a key with an entry reads no other
/// memory when the key is short (most keys: an Int64 takes 9 bytes, a
/// 14-character string 16). Longer keys are then compared in full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stub {
    head: [u8; STUB_BYTES],
    len: u32,
}

impl Stub {
    #[inline]
    fn of(key: &[u8]) -> Self {
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

/// A hash table's entry: a key's stub and its number (group or slot).
type Entry32 = (Stub, u32);

/// How many shards keys are spread over by their hash (see [`ShardedKeys`]):
/// a million keys make shards of about 4,000.
const SHARDS: usize = 256;

/// The shard of a key with hash `hash`: bits that neither the bucket index
/// (the low bits) nor the tag (the top 7) of a hashbrown table use, so that
/// the keys of one shard still spread over its table.
#[inline]
fn shard(hash: u64) -> usize {
    (hash >> 40) as usize % SHARDS
}

/// A shard's table is read through before its look-ups when they number at
/// least 1/`WARM_SHARE` of its keys (see [`KeyTable::warm`]).
const WARM_SHARE: usize = 16;

/// Distinct keys, each with a number (given by the caller when the key is
/// first met) that indexes its state. A key that fits its entry's stub (most
/// keys) is stored only there; a longer one is stored in `long_keys`, its
/// entry's stub holding its first bytes and where it starts.
#[derive(Debug, Default)]
struct KeyTable {
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

    /// Room for `more` keys without growing.
    fn reserve(&mut self, more: usize, hasher: &impl BuildHasher) {
        let Self { table, long_keys } = self;
        table.reserve(more, |(stub, _)| {
            hasher.hash_one(stored_key(long_keys, stub))
        });
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

    /// [`Self::warm`] before `lookups` look-ups, where they number at least
    /// 1/`WARM_SHARE` of the table's keys.
    fn warm_for(&self, lookups: usize) {
        if lookups > 0 && lookups * WARM_SHARE >= self.len() {
            self.warm();
        }
    }
}

/// Keys of any kind, as bytes, numbered 0, 1, 2... as they are met: the
/// numbers index the keys' states. The keys are spread over `SHARDS`
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
        self.shard_rows(rows, hasher);
        let Self {
            shards,
            len,
            starts,
            sharded,
            ..
        } = self;
        // Every row's number is written below: what the scratch held from
        // the last batch needs no clearing first.
        numbers.resize(rows.len(), 0);
        for (table, run) in shards.iter_mut().zip(shard_runs(starts, sharded)) {
            table.warm_for(run.len());
            for &(hash, stub, row) in run {
                let key = || rows.row(row as usize);
                let number = table.number_of_stub(hash, stub, key, hasher, *len as u32);
                *len += usize::from(number as usize == *len);
                numbers[row as usize] = number;
            }
        }
    }

    /// Numbers the keys of `rows`, each expected to be new, in row order:
    /// row `i`'s key gets number `len() + i` (as saved states load, so
    /// that their order is the keys' order). `Err(row)` at the first row
    /// whose key has a number already, from before or from an earlier
    /// row; the numbering is then incomplete, and the caller drops it. The
    /// caller checks that the numbers fit: at most `u32::MAX` keys in all.
    pub fn number_new_rows(
        &mut self,
        rows: &EncodedRows,
        hasher: &(impl BuildHasher + Sync),
    ) -> Result<(), usize> {
        self.shard_rows(rows, hasher);
        let Self {
            shards,
            len,
            starts,
            sharded,
            ..
        } = self;
        let first = *len;
        // Every number is known ahead, so the shards fill on threads of
        // their own, each thread a run of shards.
        let runs: Vec<&[(u64, Stub, u32)]> = shard_runs(starts, sharded).collect();
        let per_thread = SHARDS.div_ceil(scoring_threads(rows.len()));
        let pieces = shards.chunks_mut(per_thread).zip(runs.chunks(per_thread));
        let repeats = on_threads(pieces, |(tables, runs)| {
            let mut twice: Option<usize> = None;
            for (table, run) in tables.iter_mut().zip(runs) {
                table.warm_for(run.len());
                for &(hash, stub, row) in *run {
                    let key = || rows.row(row as usize);
                    let new = (first + row as usize) as u32;
                    if table.number_of_stub(hash, stub, key, hasher, new) != new {
                        // A shard's rows are in row order, so its first
                        // repeat is its earliest.
                        let row = row as usize;
                        twice = Some(twice.map_or(row, |earlier| earlier.min(row)));
                        break;
                    }
                }
            }
            twice
        });
        match repeats.into_iter().flatten().min() {
            Some(row) => Err(row),
            None => {
                *len += rows.len();
                Ok(())
            }
        }
    }

    /// Hashes the rows' keys and orders the rows by shard (a counting
    /// sort), in row order within a shard, so that a key's rows keep their
    /// order.
    fn shard_rows(&mut self, rows: &EncodedRows, hasher: &impl BuildHasher) {
        let n = rows.len();
        let Self {
            hashes,
            starts,
            sharded,
            ..
        } = self;
        hashes.clear();
        hashes.extend((0..n).map(|row| hasher.hash_one(rows.row(row))));
        starts.clear();
        starts.resize(SHARDS + 1, 0);
        for &hash in hashes.iter() {
            starts[shard(hash) + 1] += 1;
        }
        for s in 0..SHARDS {
            starts[s + 1] += starts[s];
        }
        // Every slot is written below (a row each), so the last batch's
        // entries are overwritten, not cleared first: clearing made
        // `resize` write all of them once more (16 MB for half a million
        // rows), an eighth of this function's time.
        sharded.resize(n, (0, Stub::of(&[]), 0));
        let mut next = starts[..SHARDS].to_vec();
        for (row, &hash) in hashes.iter().enumerate() {
            let at = &mut next[shard(hash)];
            sharded[*at] = (hash, Stub::of(rows.row(row)), row as u32);
            *at += 1;
        }
    }

    /// Room for about `more` keys more (spread over the shards by hash), so
    /// that tables filled at once (saved states loaded) do not grow step by
    /// step, rehashing their keys at each step.
    pub fn reserve(&mut self, more: usize, hasher: &impl BuildHasher) {
        // A shard's share varies by a few percent with a million keys.
        let share = more / SHARDS + more / SHARDS / 8;
        for table in &mut self.shards {
            table.reserve(share, hasher);
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

/// Each shard's rows, as [`ShardedKeys::shard_rows`] ordered them.
fn shard_runs<'a>(
    starts: &'a [usize],
    sharded: &'a [(u64, Stub, u32)],
) -> impl Iterator<Item = &'a [(u64, Stub, u32)]> {
    starts
        .windows(2)
        .map(|bounds| &sharded[bounds[0]..bounds[1]])
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
    use super::super::encoding::{push_bytes, push_int};
    use super::*;
    use hashbrown::DefaultHashBuilder;
    use proptest::prelude::*;

    fn bytes(value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        push_bytes(&mut out, value);
        out
    }

    #[test]
    fn a_stub_is_whole_up_to_its_bytes() {
        for n in 0..=20u8 {
            let key: Vec<u8> = (1..=n).collect();
            assert_eq!(Stub::of(&key).is_whole(), key.len() <= STUB_BYTES);
            if key.len() <= STUB_BYTES {
                assert_eq!(stored_key(&[], &Stub::of(&key)), key);
            }
        }
    }

    #[test]
    fn a_long_load_numbers_its_rows_on_threads_and_finds_its_first_repeat() {
        // Long enough for threads (`scoring_threads`): each runs its shards.
        let rows = 4 * crate::parallelism::MIN_ROWS_PER_THREAD;
        let encode = |keys: &[i128]| {
            let mut encoded = EncodedRows::default();
            for &key in keys {
                push_int(encoded.buffer(), key);
                encoded.end_row();
            }
            encoded
        };
        let hasher = DefaultHashBuilder::default();
        let distinct: Vec<i128> = (0..rows as i128).map(|key| key * 7919).collect();
        let mut keys = ShardedKeys::default();
        keys.number(encode(&[-1]).row(0), &hasher);
        assert_eq!(keys.number_new_rows(&encode(&distinct), &hasher), Ok(()));
        assert_eq!(keys.len(), rows + 1);
        for at in [0, 1, rows / 2, rows - 1] {
            let number = keys.number(encode(&distinct[at..=at]).row(0), &hasher);
            assert_eq!(number as usize, 1 + at);
        }
        // Repeats late and early, in whatever shards: the earliest is found.
        let mut repeated = distinct.clone();
        repeated[rows - 10] = repeated[3];
        repeated[rows / 3] = repeated[rows / 4];
        repeated[rows / 2] = -1;
        let mut fresh = ShardedKeys::default();
        fresh.number(encode(&[-1]).row(0), &hasher);
        assert_eq!(
            fresh.number_new_rows(&encode(&repeated), &hasher),
            Err(rows / 3)
        );
    }

    proptest! {
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
            // Room made ahead (as a load does) changes no number.
            keys.reserve(batches[0].len() * 64, &hasher);
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
        fn new_rows_are_numbered_in_row_order_or_the_first_repeat_is_found(
            earlier in prop::collection::vec(0i128..400, 0..100),
            loaded in prop::collection::vec(0i128..400, 0..300),
        ) {
            let encode = |keys: &[i128]| {
                let mut rows = EncodedRows::default();
                for &key in keys {
                    push_int(rows.buffer(), key);
                    rows.end_row();
                }
                rows
            };
            let hasher = DefaultHashBuilder::default();
            let mut keys = ShardedKeys::default();
            keys.number_rows(&encode(&earlier), &hasher, &mut Vec::new());
            let before = keys.len();
            let seen: std::collections::HashSet<i128> = earlier.iter().copied().collect();
            // The first row whose key came before, in `earlier` or in `loaded`.
            let repeat = (0..loaded.len())
                .find(|&row| seen.contains(&loaded[row]) || loaded[..row].contains(&loaded[row]));
            let result = keys.number_new_rows(&encode(&loaded), &hasher);
            prop_assert_eq!(result, repeat.map_or(Ok(()), Err));
            if repeat.is_none() {
                prop_assert_eq!(keys.len(), before + loaded.len());
                for (row, &key) in loaded.iter().enumerate() {
                    let number = keys.number(encode(&[key]).row(0), &hasher);
                    prop_assert_eq!(number as usize, before + row);
                }
            }
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
}
