//! Keys as bytes numbered in hash tables, spread over shards by hash.

use std::hash::BuildHasher;
use std::ops::Range;

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

/// A hash table's entry: a key's stub and its index in its table.
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

/// Distinct keys, each with an index: the order in which the table met it
/// (0, 1, 2...), and the place of its number in `numbers`. A key that fits
/// its entry's stub (most keys) is stored only there; a longer one is
/// stored in `long_keys`, its entry's stub holding its first bytes and where
/// it starts.
#[derive(Debug, Default)]
struct KeyTable {
    table: HashTable<Entry32>,
    long_keys: Vec<u8>,
    /// The numbers of the keys, by index; the keys met since the last
    /// [`Self::number_met`] have none yet.
    numbers: Vec<u32>,
}

/// The bytes of a long key's stub that hold its first bytes; the rest hold
/// where it starts in `long_keys`.
const LONG_PREFIX: usize = STUB_BYTES - 8;

impl KeyTable {
    /// The number of keys.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// The index of `key` (whose hash by `hasher` is `hash`): the next
    /// index, stored with the key, if the key is new.
    pub fn index(&mut self, hash: u64, key: &[u8], hasher: &impl BuildHasher) -> u32 {
        self.index_of_stub(hash, Stub::of(key), || key, hasher)
    }

    /// [`Self::index`] of the key whose stub is `stub`; `key` gives the
    /// whole key, and is called only if the stub does not hold it.
    #[inline]
    pub fn index_of_stub<'k>(
        &mut self,
        hash: u64,
        stub: Stub,
        key: impl Fn() -> &'k [u8],
        hasher: &impl BuildHasher,
    ) -> u32 {
        let new = self.table.len() as u32;
        let Self {
            table, long_keys, ..
        } = self;
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

    /// Numbers the keys met since the last call, in the order met, from
    /// `next` on (which they advance).
    fn number_met(&mut self, next: &mut usize) {
        let met = self.len() - self.numbers.len();
        self.numbers
            .extend((*next..*next + met).map(|number| number as u32));
        *next += met;
    }

    /// The bytes the table holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.table.allocation_size()
            + self.long_keys.capacity()
            + self.numbers.capacity() * std::mem::size_of::<u32>()
    }

    /// Room for `more` keys without growing.
    fn reserve(&mut self, more: usize, hasher: &impl BuildHasher) {
        let Self {
            table,
            long_keys,
            numbers,
        } = self;
        table.reserve(more, |(stub, _)| {
            hasher.hash_one(stored_key(long_keys, stub))
        });
        numbers.reserve(more);
    }

    /// Reads the whole table once, in memory order, so that the many
    /// look-ups that follow find it in cache: one read that the hardware
    /// prefetches, instead of a wait on memory at almost every look-up of a
    /// table that other tables pushed out of cache since.
    pub fn warm(&self) {
        for (_, index) in self.table.iter() {
            std::hint::black_box(*index);
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

/// A row's look-up: its key's hash and stub, and the row.
type Lookup = (u64, Stub, u32);

/// One thread's part of a batch's rows (scratch space kept from batch to
/// batch): each row's hash, then the rows in shard order with what their
/// look-up needs, then each one's index in its shard's table.
#[derive(Debug, Default)]
struct Part {
    hashes: Vec<u64>,
    /// Where each shard's rows start in `sharded`, and the end.
    starts: Vec<usize>,
    sharded: Vec<Lookup>,
    indexes: Vec<u32>,
}

impl Part {
    /// Hashes the keys of `batch`'s rows `rows` and orders the rows by shard
    /// (a counting sort), in row order within a shard, so that a key's rows
    /// keep their order.
    fn shard_rows(&mut self, batch: &EncodedRows, rows: Range<usize>, hasher: &impl BuildHasher) {
        let Self {
            hashes,
            starts,
            sharded,
            indexes,
        } = self;
        hashes.clear();
        hashes.extend(rows.clone().map(|row| hasher.hash_one(batch.row(row))));
        starts.clear();
        starts.resize(SHARDS + 1, 0);
        for &hash in hashes.iter() {
            starts[shard(hash) + 1] += 1;
        }
        for s in 0..SHARDS {
            starts[s + 1] += starts[s];
        }
        // Every slot is written (a row each) before it is read, so the last
        // batch's are overwritten, not cleared first: clearing made `resize`
        // write all of them once more (16 MB for half a million rows), an
        // eighth of this function's time.
        sharded.resize(hashes.len(), (0, Stub::of(&[]), 0));
        indexes.resize(hashes.len(), 0);
        let mut next = starts[..SHARDS].to_vec();
        for (row, &hash) in rows.zip(hashes.iter()) {
            let at = &mut next[shard(hash)];
            sharded[*at] = (hash, Stub::of(batch.row(row)), row as u32);
            *at += 1;
        }
    }

    /// Shard `s`'s rows, with their indexes.
    fn run(&self, s: usize) -> impl Iterator<Item = (&Lookup, &u32)> {
        let rows = self.starts[s]..self.starts[s + 1];
        self.sharded[rows.clone()].iter().zip(&self.indexes[rows])
    }
}

/// A part's rows of a run of shards, as the thread that looks them up sees
/// them.
struct PartRun<'a> {
    /// Where each shard's rows start, and the end (from the part's start).
    starts: &'a [usize],
    sharded: &'a [Lookup],
    indexes: &'a mut [u32],
}

impl PartRun<'_> {
    /// The run's `k`th shard's rows, with room for their indexes.
    fn shard(&mut self, k: usize) -> impl Iterator<Item = (&Lookup, &mut u32)> {
        let rows = self.starts[k] - self.starts[0]..self.starts[k + 1] - self.starts[0];
        self.sharded[rows.clone()]
            .iter()
            .zip(&mut self.indexes[rows])
    }

    /// How many rows the run's `k`th shard has.
    fn len_of(&self, k: usize) -> usize {
        self.starts[k + 1] - self.starts[k]
    }
}

/// Keys of any kind, as bytes, numbered 0, 1, 2... as they are met: the
/// numbers index the keys' states. The keys are spread over `SHARDS`
/// tables by hash, and a batch's rows are looked up shard by shard, so that
/// each shard's table (with a million keys, about 200 KB of 50 MB) is in
/// cache for all its rows: a million keys in one table would wait on memory
/// at nearly every row. A long batch is hashed and sorted by shard in parts
/// on threads, and its shards looked up in runs on threads; the keys a
/// batch meets first are numbered after, shard by shard, so that the numbers
/// do not depend on the threads.
#[derive(Debug)]
pub struct ShardedKeys {
    shards: Vec<KeyTable>,
    len: usize,
    parts: Vec<Part>,
}

impl Default for ShardedKeys {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| KeyTable::default()).collect(),
            len: 0,
            parts: Vec::new(),
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
    /// next numbers (shard by shard, and in row order within a shard). The
    /// caller checks that the numbers fit: at most `u32::MAX` keys in all.
    pub fn number_rows(
        &mut self,
        rows: &EncodedRows,
        hasher: &(impl BuildHasher + Sync),
        numbers: &mut Vec<u32>,
    ) {
        self.shard_rows(rows, hasher);
        let Self { shards, len, parts } = self;
        let runs = shard_runs(shards, parts);
        on_threads(runs.into_iter(), |(tables, mut part_runs)| {
            for (k, table) in tables.iter_mut().enumerate() {
                table.warm_for(part_runs.iter().map(|run| run.len_of(k)).sum());
                for run in &mut part_runs {
                    for (&(hash, stub, row), index) in run.shard(k) {
                        let key = || rows.row(row as usize);
                        *index = table.index_of_stub(hash, stub, key, hasher);
                    }
                }
            }
        });
        // Every row's number is written below: what the scratch held from
        // the last batch needs no clearing first.
        numbers.resize(rows.len(), 0);
        for (s, table) in shards.iter_mut().enumerate() {
            table.number_met(len);
            for part in parts.iter() {
                for (&(_, _, row), &index) in part.run(s) {
                    numbers[row as usize] = table.numbers[index as usize];
                }
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
        let Self { shards, len, parts } = self;
        let first = *len;
        // Every number is known ahead, so the shards fill on threads.
        let runs = shard_runs(shards, parts);
        let repeats = on_threads(runs.into_iter(), |(tables, mut part_runs)| {
            let mut twice: Option<usize> = None;
            for (k, table) in tables.iter_mut().enumerate() {
                table.warm_for(part_runs.iter().map(|run| run.len_of(k)).sum());
                // A shard's rows are in row order, part after part, so its
                // first repeat is its earliest.
                'shard: for run in &mut part_runs {
                    for (&(hash, stub, row), _) in run.shard(k) {
                        let key = || rows.row(row as usize);
                        let index = table.index_of_stub(hash, stub, key, hasher);
                        if index as usize != table.numbers.len() {
                            let row = row as usize;
                            twice = Some(twice.map_or(row, |earlier| earlier.min(row)));
                            break 'shard;
                        }
                        table.numbers.push((first + row as usize) as u32);
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

    /// Hashes the rows' keys and orders them by shard, in parts of
    /// consecutive rows, one per thread.
    fn shard_rows(&mut self, rows: &EncodedRows, hasher: &(impl BuildHasher + Sync)) {
        let n = rows.len();
        let threads = scoring_threads(n);
        let size = n.div_ceil(threads);
        self.parts.resize_with(threads, Part::default);
        let parts = self.parts.iter_mut().enumerate();
        on_threads(parts, |(p, part)| {
            part.shard_rows(rows, (p * size).min(n)..((p + 1) * size).min(n), hasher);
        });
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
        let table = &mut self.shards[shard(hash)];
        let index = table.index(hash, key, hasher);
        table.number_met(&mut self.len);
        table.numbers[index as usize]
    }

    /// The bytes the tables hold on the heap (not the scratch space).
    pub fn heap_bytes(&self) -> usize {
        let tables: usize = self.shards.iter().map(KeyTable::heap_bytes).sum();
        tables + self.shards.capacity() * std::mem::size_of::<KeyTable>()
    }
}

/// The shards cut in as many runs as the batch has parts (one per thread,
/// see [`ShardedKeys::shard_rows`]), each with every part's rows of its
/// shards: what each thread looks up.
fn shard_runs<'a>(
    shards: &'a mut [KeyTable],
    parts: &'a mut [Part],
) -> Vec<(&'a mut [KeyTable], Vec<PartRun<'a>>)> {
    let per_thread = SHARDS.div_ceil(parts.len().max(1));
    let mut runs: Vec<_> = shards
        .chunks_mut(per_thread)
        .map(|tables| (tables, Vec::with_capacity(parts.len())))
        .collect();
    for part in parts.iter_mut() {
        let Part {
            starts,
            sharded,
            indexes,
            ..
        } = part;
        let mut rest = &mut indexes[..];
        for (r, (_, part_runs)) in runs.iter_mut().enumerate() {
            let bounds = &starts[r * per_thread..=((r + 1) * per_thread).min(SHARDS)];
            let (first, end) = (bounds[0], bounds[bounds.len() - 1]);
            let (mine, others) = rest.split_at_mut(end - first);
            rest = others;
            part_runs.push(PartRun {
                starts: bounds,
                sharded: &sharded[first..end],
                indexes: mine,
            });
        }
    }
    runs
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

    #[test]
    fn a_long_batch_is_numbered_on_threads_as_on_one() {
        // Long enough for threads (`scoring_threads`): parts of rows, runs
        // of shards. Keys repeat, some are long, some were met before.
        let rows = 4 * crate::parallelism::MIN_ROWS_PER_THREAD + 3;
        let key = |i: usize| {
            let n = (i * 7919) % (rows / 3);
            let mut out = Vec::new();
            if n.is_multiple_of(5) {
                push_bytes(&mut out, format!("a long key, number {n}").as_bytes());
            } else {
                push_int(&mut out, n as i128);
            }
            out
        };
        let mut batch = EncodedRows::default();
        for i in 0..rows {
            batch.buffer().extend_from_slice(&key(i));
            batch.end_row();
        }
        let hasher = DefaultHashBuilder::default();
        let mut keys = ShardedKeys::default();
        let mut want: std::collections::HashMap<Vec<u8>, u32> = Default::default();
        for i in [5, 6, 10, rows - 1] {
            want.insert(key(i), keys.number(&key(i), &hasher));
        }
        let mut numbers = Vec::new();
        keys.number_rows(&batch, &hasher, &mut numbers);
        // New keys are numbered shard by shard, in row order within a shard.
        let mut order: Vec<usize> = (0..rows).collect();
        order.sort_by_key(|&row| shard(hasher.hash_one(batch.row(row))));
        let mut next = want.len() as u32;
        for row in order {
            want.entry(batch.row(row).to_vec()).or_insert_with(|| {
                next += 1;
                next - 1
            });
        }
        assert_eq!(keys.len(), want.len());
        for (row, &number) in numbers.iter().enumerate() {
            assert_eq!(number, want[batch.row(row)], "row {row}");
        }
        // The next batch, short (one thread), finds the same numbers.
        let mut again = Vec::new();
        let mut short = EncodedRows::default();
        for i in (0..rows).step_by(997) {
            short.buffer().extend_from_slice(&key(i));
            short.end_row();
        }
        keys.number_rows(&short, &hasher, &mut again);
        for (row, &number) in again.iter().enumerate() {
            assert_eq!(number, want[short.row(row)]);
        }
        assert_eq!(keys.len(), want.len());
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
                table.index(hasher.hash_one(&encoded[..]), &encoded, &hasher)
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
