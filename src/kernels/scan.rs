//! Running a recurrence (`state = f(state, row)`) over rows: serially, by
//! keys, and on threads by speculation, for any recurrence: the built-in
//! rolling score and every compiled user rule share this one scheme, and
//! [`States::advance`] is the one place that picks among those loops.
//!
//! A state is `width` numbers (a rule's named states; one for the rolling
//! score), kept side by side: a row's slots, a series' state and each key's
//! state are `width` consecutive numbers.

use std::mem::MaybeUninit;

use super::on_threads;
use super::output::{append_filled, filled, output_buffer, write_slots};
use crate::parallelism::{keyed_scoring_threads, scoring_threads};

/// `width` slots per row for a [`Recurrence`] to write its states into:
/// uninitialised until written, so that no pass zeroes them first.
pub type Slots = [MaybeUninit<f64>];

/// A recurrence bound to its rows (the values and whatever else a row reads).
/// A row its validity marks null leaves the state unchanged, and its slots
/// hold the unchanged state.
pub trait Recurrence: Sync {
    /// The numbers in one state.
    fn width(&self) -> usize {
        1
    }

    /// Scores rows `start..start + out.len() / width` from `state` (`width`
    /// numbers), `width` slots per row, and leaves in `state` the state
    /// after the last of them.
    fn score(&self, start: usize, state: &mut [f64], out: &mut Slots);

    /// Scores rows `start..start + ids.len()` with one state per key: row
    /// `start + j` advances the state at `states[ids[j] * width..]`. `out`
    /// has `width` slots per id, and each id indexes a state in `states`.
    fn score_keyed(&self, start: usize, ids: &[u32], states: &mut [f64], out: &mut Slots);

    /// [`Recurrence::score`] into a column per number of the state:
    /// `columns[i]` gets each row's number `i` (the columns as long as the
    /// rows). By default through `score`, a block at a time.
    fn score_columns(&self, start: usize, state: &mut [f64], columns: &mut [&mut Slots]) {
        columns_in_blocks(self, start, state, columns);
    }

    /// [`Recurrence::score_keyed`] into a column per number of the state.
    fn score_keyed_columns(
        &self,
        start: usize,
        ids: &[u32],
        states: &mut [f64],
        columns: &mut [&mut Slots],
    ) {
        keyed_columns_in_blocks(self, start, ids, states, columns);
    }
}

/// [`Recurrence::score_columns`] through [`Recurrence::score`], a block at
/// a time: the default, for a recurrence that writes only side by side.
pub fn columns_in_blocks<R: Recurrence + ?Sized>(
    rows: &R,
    start: usize,
    state: &mut [f64],
    columns: &mut [&mut Slots],
) {
    split_blocks(rows.width(), columns, |at, slots| {
        rows.score(start + at, state, slots)
    });
}

/// [`Recurrence::score_keyed_columns`] through
/// [`Recurrence::score_keyed`], a block at a time.
pub fn keyed_columns_in_blocks<R: Recurrence + ?Sized>(
    rows: &R,
    start: usize,
    ids: &[u32],
    states: &mut [f64],
    columns: &mut [&mut Slots],
) {
    let width = rows.width();
    split_blocks(width, columns, |at, slots| {
        let ids = &ids[at..at + slots.len() / width];
        rows.score_keyed(start + at, ids, states, slots)
    });
}

/// Fills `columns` (one per number of a `width`-number state, as long as
/// the rows) a [`BLOCK`] of rows at a time: `score(at, slots)` writes rows
/// `at..` side by side into scratch slots that stay in the cache, and they
/// are copied into the columns.
fn split_blocks(
    width: usize,
    columns: &mut [&mut Slots],
    mut score: impl FnMut(usize, &mut Slots),
) {
    let len = columns.first().map_or(0, |column| column.len());
    let mut scratch = vec![MaybeUninit::uninit(); BLOCK * width];
    for at in (0..len).step_by(BLOCK) {
        let block = BLOCK.min(len - at);
        let ((), scores) = write_slots(&mut scratch[..block * width], |slots| score(at, slots));
        for (number, column) in columns.iter_mut().enumerate() {
            let numbers = scores.iter().skip(number).step_by(width);
            for (slot, &score) in column[at..at + block].iter_mut().zip(numbers) {
                slot.write(score);
            }
        }
    }
}

/// Scores `len` rows from `state`, appending to `out`; leaves the last state
/// in `state`.
pub fn scan<R: Recurrence>(rows: &R, len: usize, state: &mut [f64], out: &mut Vec<f64>) {
    append_filled(out, len * rows.width(), |slots| rows.score(0, state, slots));
}

/// Scores `ids.len()` rows by key (see [`Recurrence::score_keyed`]),
/// appending to `out`.
pub fn scan_keyed<R: Recurrence>(rows: &R, ids: &[u32], states: &mut [f64], out: &mut Vec<f64>) {
    append_filled(out, ids.len() * rows.width(), |slots| {
        rows.score_keyed(0, ids, states, slots)
    });
}

/// Whether two states (or rows of slots) are the same bits.
fn same_bits(a: &[f64], b: &[f64]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// The states a run of rows advances, carried from one call of
/// [`States::advance`] to the next (a column's chunks, in order).
pub enum States<'a> {
    /// One series: a single state, row after row.
    One(Vec<f64>),
    /// One state per key: row `i` of the column advances the key `ids[i]`'s
    /// state in `states`. `ids` covers the whole column, each id indexing a
    /// state.
    PerKey {
        ids: &'a [u32],
        states: &'a mut [f64],
    },
}

impl States<'_> {
    /// Scores `len` rows, from row `offset` of the column, by `rows` (bound
    /// to those `len` rows), appending to `out`: serially, or on as many
    /// threads as `crate::parallelism` gives that many rows, with the same
    /// bits either way. Generic, so each recurrence gets its own loops.
    pub fn advance<R: Recurrence>(
        &mut self,
        rows: &R,
        offset: usize,
        len: usize,
        out: &mut Vec<f64>,
    ) {
        match self {
            States::One(state) => match scoring_threads(len) {
                1 => scan(rows, len, state, out),
                threads => {
                    scan_parallel(rows, len, state, threads, out);
                }
            },
            States::PerKey { ids, states } => {
                let ids = &ids[offset..offset + len];
                let keys = states.len() / rows.width().max(1);
                match keyed_scoring_threads(len, keys) {
                    1 => scan_keyed(rows, ids, states, out),
                    threads => {
                        scan_keyed_parallel(rows, ids, states, threads, out);
                    }
                }
            }
        }
    }
}

/// Rows scored at a time into scratch slots that stay in the cache, where
/// the scores are not kept whole (a fold) or are split into columns.
const BLOCK: usize = 1024;

impl States<'_> {
    /// Advances the states by `len` rows as [`States::advance`] does, but
    /// serially and keeping no scores (a fold): [`BLOCK`] rows at a time
    /// into the same scratch slots.
    pub fn skip<R: Recurrence>(&mut self, rows: &R, offset: usize, len: usize) {
        let width = rows.width();
        let mut scratch = vec![MaybeUninit::uninit(); BLOCK * width];
        for start in (0..len).step_by(BLOCK) {
            let block = BLOCK.min(len - start);
            let slots = &mut scratch[..block * width];
            match self {
                States::One(state) => rows.score(start, state, slots),
                States::PerKey { ids, states } => {
                    let ids = &ids[offset + start..offset + start + block];
                    rows.score_keyed(start, ids, states, slots);
                }
            }
        }
    }

    /// [`States::advance`] for a state of several numbers: one column of
    /// scores per number. Serially, straight into the columns
    /// ([`Recurrence::score_columns`]); on threads, the speculative runs
    /// need the states side by side, and that buffer is split.
    pub fn advance_columns<R: Recurrence>(
        &mut self,
        rows: &R,
        offset: usize,
        len: usize,
    ) -> Vec<Vec<f64>> {
        let width = rows.width();
        let threads = match self {
            States::One(_) => scoring_threads(len),
            States::PerKey { states, .. } => keyed_scoring_threads(len, states.len() / width),
        };
        if threads > 1 {
            let mut out = output_buffer(len * width);
            self.advance(rows, offset, len, &mut out);
            return (0..width)
                .map(|number| out.iter().skip(number).step_by(width).copied().collect())
                .collect();
        }
        let mut columns: Vec<Vec<f64>> = (0..width).map(|_| output_buffer(len)).collect();
        let mut slots: Vec<&mut Slots> = (columns.iter_mut())
            .map(|column| &mut column.spare_capacity_mut()[..len])
            .collect();
        match self {
            States::One(state) => rows.score_columns(0, state, &mut slots),
            States::PerKey { ids, states } => {
                rows.score_keyed_columns(0, &ids[offset..offset + len], states, &mut slots)
            }
        }
        for column in &mut columns {
            // SAFETY: `score_columns` wrote every one of the `len` slots of
            // each column (its contract, as `score`'s for its slots).
            unsafe { column.set_len(len) };
        }
        columns
    }
}

/// What a parallel run did: how many rows had to be scored a second time
/// because a speculative start was wrong.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParallelRun {
    pub rerun_rows: usize,
    /// False when the probe found that runs from different starts would not
    /// meet soon enough, and the rows were scored serially instead.
    pub speculated: bool,
}

/// [`scan`] on up to `threads` threads, bit-identical to it.
///
/// The rows are cut into one part per thread. Every part but the first is
/// scored from a guessed start (`state`) at the same time as the others. Two
/// runs of a contracting recurrence from different starts reach the very same
/// bits after a while (every number of the state), and from there on they
/// agree for good, since each step depends only on the state and the row. So,
/// part by part in order, the part is scored again from its true start (the
/// previous part's last state) only until the new states meet the
/// speculative ones bit for bit.
///
/// A recurrence whose runs never meet (`prev + value`) would score every
/// part twice; a short probe first ([`meets_soon`]) sends such rows to the
/// serial loop instead, so they cost about what [`scan`] does.
pub fn scan_parallel<R: Recurrence>(
    rows: &R,
    len: usize,
    state: &mut [f64],
    threads: usize,
    out: &mut Vec<f64>,
) -> ParallelRun {
    let parts = threads.clamp(1, len.max(1));
    let part_len = len.div_ceil(parts).max(1);
    if parts == 1 || !meets_soon(rows, part_len, len - part_len, len - part_len, state) {
        scan(rows, len, state, out);
        return ParallelRun {
            rerun_rows: 0,
            speculated: false,
        };
    }
    speculate(rows, len, state, part_len, out)
}

/// The speculative run of [`scan_parallel`], in parts of `part_len` rows,
/// without the probe.
pub(crate) fn speculate<R: Recurrence>(
    rows: &R,
    len: usize,
    state: &mut [f64],
    part_len: usize,
    out: &mut Vec<f64>,
) -> ParallelRun {
    let width = rows.width();
    let start = out.len();
    let guess: &[f64] = state;
    // The threads are joined before `on_threads` returns, and together the
    // parts write all `len` rows' slots.
    append_filled(out, len * width, |slots| {
        on_threads(
            slots.chunks_mut(part_len * width).enumerate(),
            |(part, slots)| rows.score(part * part_len, &mut guess.to_vec(), slots),
        )
    });

    let scores = &mut out[start..];
    let mut rerun_rows = 0;
    for part_start in (part_len..len).step_by(part_len) {
        let true_start = scores[(part_start - 1) * width..part_start * width].to_vec();
        let part_end = (part_start + part_len).min(len);
        rerun_rows += rescore_until_met(
            rows,
            part_start,
            true_start,
            &mut scores[part_start * width..part_end * width],
        );
    }
    if len > 0 {
        state.copy_from_slice(&scores[(len - 1) * width..]);
    }
    ParallelRun {
        rerun_rows,
        speculated: true,
    }
}

/// At most how many rows the probe of [`meets_soon`] scores from each start;
/// at most a 64th of a part, so it costs little beside the part.
const PROBE_ROWS: usize = 4096;

/// Whether two runs from different starts, over the rows from `part_len` on
/// (`after` of them), can be expected to meet within a quarter of `budget`
/// rows, so that speculation pays. A probe scores some rows from two starts:
/// `state` and the state after as many rows from the first row, which is
/// what a true start looks like. Yes if the runs met there (every number of
/// a row's state alike), or if the widest gap between them shrank by 16 bits
/// or more and, at the rate of the probe's second half, reaches one unit in
/// the last place soon enough. A sum's gap never shrinks; a contracting
/// rule's shrinks geometrically. Only speed depends on this guess, never
/// results.
fn meets_soon<R: Recurrence>(
    rows: &R,
    part_len: usize,
    after: usize,
    budget: usize,
    state: &[f64],
) -> bool {
    let width = rows.width();
    let probe = PROBE_ROWS.min(part_len / 64).min(after).min(budget);
    if probe < 2 {
        return false;
    }
    let mut other = state.to_vec();
    rows.score(
        0,
        &mut other,
        &mut vec![MaybeUninit::uninit(); probe * width],
    );
    if same_bits(&other, state) {
        for (other, &state) in other.iter_mut().zip(state) {
            *other = if state == 1.0 { 0.0 } else { 1.0 };
        }
    }
    let a = filled(probe * width, |slots| {
        rows.score(part_len, &mut state.to_vec(), slots);
    });
    let b = filled(probe * width, |slots| {
        rows.score(part_len, &mut other, slots);
    });
    let (a, b) = (a.chunks(width), b.chunks(width));
    let pairs: Vec<(&[f64], &[f64])> = a.zip(b).collect();
    if pairs.iter().any(|(x, y)| same_bits(x, y)) {
        return true;
    }
    let gap = |i: usize| {
        let (x, y) = pairs[i];
        x.iter()
            .zip(y)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    };
    let (first, middle, last) = (gap(0), gap(probe / 2), gap(probe - 1));
    let shrunk = last <= first * f64::powi(2.0, -16);
    let rate = (middle / last).ln() / (probe - 1 - probe / 2).max(1) as f64;
    let (x, y) = pairs[probe - 1];
    let largest = x.iter().chain(y).map(|v| v.abs()).fold(0.0, f64::max);
    let ulp = largest * f64::EPSILON;
    let rows_needed = (last / ulp).ln().max(0.0) / rate;
    shrunk && rate > 0.0 && rows_needed < budget as f64 / 4.0
}

/// Rows the re-scoring of one part scores at a time before comparing.
const RESCORE_BLOCK: usize = 128;

/// Scores the rows from `start` on again, from `state`, over the speculative
/// `scores` (`width` per row), stopping at the first row whose state is
/// already bit-identical; returns the rows rewritten.
fn rescore_until_met<R: Recurrence>(
    rows: &R,
    start: usize,
    mut state: Vec<f64>,
    scores: &mut [f64],
) -> usize {
    let width = rows.width();
    let mut block = vec![MaybeUninit::uninit(); RESCORE_BLOCK * width];
    for (done, speculative) in (0..)
        .step_by(RESCORE_BLOCK)
        .zip(scores.chunks_mut(RESCORE_BLOCK * width))
    {
        let ((), fresh) = write_slots(&mut block[..speculative.len()], |slots| {
            rows.score(start + done, &mut state, slots)
        });
        let rows_now = fresh.chunks(width).zip(speculative.chunks_mut(width));
        for (j, (new, old)) in rows_now.enumerate() {
            if same_bits(new, old) {
                return done + j;
            }
            old.copy_from_slice(new);
        }
    }
    scores.len() / width
}

/// [`scan_keyed`] on up to `threads` threads, bit-identical to it: the scheme
/// of [`scan_parallel`], key by key.
///
/// Every part but the first is scored at the same time from the start states
/// `states` held on entry. Then, part by part in order, only the keys whose
/// true start (their state after the earlier parts) differs from that guess
/// are scored again, each until its new states meet the speculative ones; the
/// re-scoring walks the part's rows until no key is left to meet. It pays when
/// every key has many rows in each part; a key with few rows there never
/// meets, and the walk then reads the whole part (cheaply: the rows of keys
/// already met are skipped). The same probe as [`scan_parallel`]'s, over the
/// rows regardless of keys, sends a recurrence whose runs do not meet to the
/// serial loop. Returns the rows scored a second time.
pub fn scan_keyed_parallel<R: Recurrence>(
    rows: &R,
    ids: &[u32],
    states: &mut [f64],
    threads: usize,
    out: &mut Vec<f64>,
) -> usize {
    let width = rows.width();
    let len = ids.len();
    let parts = threads.clamp(1, len.max(1));
    let part_len = len.div_ceil(parts).max(1);
    let per_key = part_len / (states.len() / width).max(1);
    let guess_state = states
        .get(..width)
        .map_or(vec![0.0; width], <[f64]>::to_vec);
    if parts == 1 || !meets_soon(rows, part_len, len - part_len, per_key, &guess_state) {
        scan_keyed(rows, ids, states, out);
        return 0;
    }
    speculate_keyed(rows, ids, states, part_len, out)
}

/// The speculative run of [`scan_keyed_parallel`], in parts of `part_len`
/// rows, without the probe.
pub(crate) fn speculate_keyed<R: Recurrence>(
    rows: &R,
    ids: &[u32],
    states: &mut [f64],
    part_len: usize,
    out: &mut Vec<f64>,
) -> usize {
    let width = rows.width();
    let len = ids.len();
    let guess = states.to_vec();
    let start = out.len();
    // The threads are joined before `on_threads` returns, and together the
    // parts write all `len` rows' slots.
    let mut ends = append_filled(out, len * width, |slots| {
        let pieces = ids.chunks(part_len).zip(slots.chunks_mut(part_len * width));
        on_threads(pieces.enumerate(), |(part, (ids, slots))| {
            let mut states = guess.clone();
            rows.score_keyed(part * part_len, ids, &mut states, slots);
            states
        })
    });
    // The first part started from the true states, so it ended at them.
    let speculative = if ends.is_empty() {
        ends
    } else {
        states.copy_from_slice(&ends[0]);
        ends.split_off(1)
    };
    let scores = &mut out[start..];
    let mut rerun_rows = 0;
    for (part, part_states) in speculative.iter().enumerate() {
        let part_start = (part + 1) * part_len;
        let part_end = (part_start + part_len).min(len);
        rerun_rows += rescore_keys_until_met(
            rows,
            part_start,
            &ids[part_start..part_end],
            (states, &guess, part_states),
            &mut scores[part_start * width..part_end * width],
        );
    }
    rerun_rows
}

/// Scores one part of a [`scan_keyed_parallel`] run again from the true
/// start states, key by key until each meets its speculative states, and
/// leaves in `states` the true states after the part. `states` holds the true
/// starts, `guess` the starts the speculative run used, and `speculative` the
/// states it ended with. Returns the rows rewritten.
fn rescore_keys_until_met<R: Recurrence>(
    rows: &R,
    start: usize,
    ids: &[u32],
    (states, guess, speculative): (&mut [f64], &[f64], &[f64]),
    scores: &mut [f64],
) -> usize {
    let width = rows.width();
    let mut pending: Vec<bool> = (states.chunks(width).zip(guess.chunks(width)))
        .map(|(truth, guess)| !same_bits(truth, guess))
        .collect();
    let mut left = pending.iter().filter(|&&p| p).count();
    let mut rewritten = 0;
    let mut slots = vec![MaybeUninit::uninit(); width];
    for (i, &id) in ids.iter().enumerate() {
        if left == 0 {
            break;
        }
        let id = id as usize;
        if !pending[id] {
            continue;
        }
        let ((), new) = write_slots(&mut slots, |slots| {
            rows.score_keyed(start + i, &ids[i..=i], states, slots)
        });
        let old = &mut scores[i * width..(i + 1) * width];
        if same_bits(old, new) {
            pending[id] = false;
            left -= 1;
        } else {
            old.copy_from_slice(new);
            rewritten += 1;
        }
    }
    // Keys that met (or never differed) end where the speculative run ended;
    // the others where their re-scoring did.
    let keys = states.chunks_mut(width).zip(speculative.chunks(width));
    for ((state, speculative), pending) in keys.zip(pending) {
        if !pending {
            state.copy_from_slice(speculative);
        }
    }
    rewritten
}
