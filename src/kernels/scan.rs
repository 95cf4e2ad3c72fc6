//! Running a recurrence (`state = f(state, row)`) over rows: serially, by
//! keys, and on threads by speculation, for any recurrence: the built-in
//! rolling score and every compiled user rule share this one scheme, and
//! [`States::advance`] is the one place that picks among those loops.

use std::mem::MaybeUninit;

use super::on_threads;
use super::output::{append_filled, filled, write_slots};
use crate::parallelism::{keyed_scoring_threads, scoring_threads};

/// One slot per row for a [`Recurrence`] to write its scores into:
/// uninitialised until written, so that no pass zeroes them first.
pub type Slots = [MaybeUninit<f64>];

/// A recurrence bound to its rows (the values and whatever else a row reads).
/// A row its validity marks null leaves the state unchanged, and its slot
/// holds the unchanged state.
pub trait Recurrence: Sync {
    /// Scores rows `start..start + out.len()` from `state`, one slot per row,
    /// and returns the state after the last of them.
    fn score(&self, start: usize, state: f64, out: &mut Slots) -> f64;

    /// Scores rows `start..start + out.len()` with one state per key: row
    /// `start + j` advances `states[ids[j]]`. `ids` has one entry per slot,
    /// each below `states.len()`.
    fn score_keyed(&self, start: usize, ids: &[u32], states: &mut [f64], out: &mut Slots);
}

/// Scores `len` rows from `state`, appending to `out`; returns the last state.
pub fn scan<R: Recurrence>(rows: &R, len: usize, state: f64, out: &mut Vec<f64>) -> f64 {
    append_filled(out, len, |slots| rows.score(0, state, slots))
}

/// Scores `ids.len()` rows by key (see [`Recurrence::score_keyed`]),
/// appending to `out`.
pub fn scan_keyed<R: Recurrence>(rows: &R, ids: &[u32], states: &mut [f64], out: &mut Vec<f64>) {
    append_filled(out, ids.len(), |slots| {
        rows.score_keyed(0, ids, states, slots)
    });
}

/// The states a run of rows advances, carried from one call of
/// [`States::advance`] to the next (a column's chunks, in order).
pub enum States<'a> {
    /// One series: a single state, row after row.
    One(f64),
    /// One state per key: row `i` of the column advances `states[ids[i]]`.
    /// `ids` covers the whole column, each id below `states.len()`.
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
            States::One(state) => {
                *state = match scoring_threads(len) {
                    1 => scan(rows, len, *state, out),
                    threads => scan_parallel(rows, len, *state, threads, out).last,
                }
            }
            States::PerKey { ids, states } => {
                let ids = &ids[offset..offset + len];
                match keyed_scoring_threads(len, states.len()) {
                    1 => scan_keyed(rows, ids, states, out),
                    threads => {
                        scan_keyed_parallel(rows, ids, states, threads, out);
                    }
                }
            }
        }
    }
}

/// What a parallel run did: the state after the last row, and how many rows
/// had to be scored a second time because a speculative start was wrong.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParallelRun {
    pub last: f64,
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
/// bits after a while, and from there on they agree for good, since each step
/// depends only on the state and the row. So, part by part in order, the part
/// is scored again from its true start (the previous part's last state) only
/// until the new scores meet the speculative ones bit for bit.
///
/// A recurrence whose runs never meet (`prev + value`) would score every
/// part twice; a short probe first ([`meets_soon`]) sends such rows to the
/// serial loop instead, so they cost about what [`scan`] does.
pub fn scan_parallel<R: Recurrence>(
    rows: &R,
    len: usize,
    state: f64,
    threads: usize,
    out: &mut Vec<f64>,
) -> ParallelRun {
    let parts = threads.clamp(1, len.max(1));
    let part_len = len.div_ceil(parts).max(1);
    if parts == 1 || !meets_soon(rows, part_len, len - part_len, len - part_len, state) {
        return ParallelRun {
            last: scan(rows, len, state, out),
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
    state: f64,
    part_len: usize,
    out: &mut Vec<f64>,
) -> ParallelRun {
    let start = out.len();
    // The threads are joined before `on_threads` returns, and together the
    // parts write all `len` slots.
    append_filled(out, len, |slots| {
        on_threads(slots.chunks_mut(part_len).enumerate(), |(part, slots)| {
            rows.score(part * part_len, state, slots);
        })
    });

    let scores = &mut out[start..];
    let mut rerun_rows = 0;
    for part_start in (part_len..len).step_by(part_len) {
        let true_start = scores[part_start - 1];
        let part_end = (part_start + part_len).min(len);
        rerun_rows += rescore_until_met(
            rows,
            part_start,
            true_start,
            &mut scores[part_start..part_end],
        );
    }
    ParallelRun {
        last: scores.last().copied().unwrap_or(state),
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
/// what a true start looks like. Yes if the runs met there, or if the gap
/// between them shrank by 16 bits or more and, at the rate of the probe's
/// second half, reaches one unit in the last place soon enough. A sum's gap
/// never shrinks; a contracting rule's shrinks geometrically. Only speed
/// depends on this guess, never results.
fn meets_soon<R: Recurrence>(
    rows: &R,
    part_len: usize,
    after: usize,
    budget: usize,
    state: f64,
) -> bool {
    let probe = PROBE_ROWS.min(part_len / 64).min(after).min(budget);
    if probe < 2 {
        return false;
    }
    let mut other = rows.score(0, state, &mut vec![MaybeUninit::uninit(); probe]);
    if other.to_bits() == state.to_bits() {
        other = if state == 1.0 { 0.0 } else { 1.0 };
    }
    let a = filled(probe, |slots| {
        rows.score(part_len, state, slots);
    });
    let b = filled(probe, |slots| {
        rows.score(part_len, other, slots);
    });
    if a.iter().zip(&b).any(|(x, y)| x.to_bits() == y.to_bits()) {
        return true;
    }
    let gap = |i: usize| (a[i] - b[i]).abs();
    let (first, middle, last) = (gap(0), gap(probe / 2), gap(probe - 1));
    let shrunk = last <= first * f64::powi(2.0, -16);
    let rate = (middle / last).ln() / (probe - 1 - probe / 2).max(1) as f64;
    let ulp = a[probe - 1].abs().max(b[probe - 1].abs()) * f64::EPSILON;
    let rows_needed = (last / ulp).ln().max(0.0) / rate;
    shrunk && rate > 0.0 && rows_needed < budget as f64 / 4.0
}

/// Rows the re-scoring of one part scores at a time before comparing.
const RESCORE_BLOCK: usize = 128;

/// Scores the rows from `start` on again, from `state`, over the speculative
/// `scores`, stopping at the first row whose score is already bit-identical;
/// returns the rows rewritten.
fn rescore_until_met<R: Recurrence>(
    rows: &R,
    start: usize,
    state: f64,
    scores: &mut [f64],
) -> usize {
    let mut block = [MaybeUninit::uninit(); RESCORE_BLOCK];
    let mut prev = state;
    for (done, speculative) in (0..)
        .step_by(RESCORE_BLOCK)
        .zip(scores.chunks_mut(RESCORE_BLOCK))
    {
        let fresh;
        (prev, fresh) = write_slots(&mut block[..speculative.len()], |slots| {
            rows.score(start + done, prev, slots)
        });
        for (j, (&new, old)) in fresh.iter().zip(speculative.iter_mut()).enumerate() {
            if new.to_bits() == old.to_bits() {
                return done + j;
            }
            *old = new;
        }
    }
    scores.len()
}

/// [`scan_keyed`] on up to `threads` threads, bit-identical to it: the scheme
/// of [`scan_parallel`], key by key.
///
/// Every part but the first is scored at the same time from the start states
/// `states` held on entry. Then, part by part in order, only the keys whose
/// true start (their state after the earlier parts) differs from that guess
/// are scored again, each until its new scores meet the speculative ones; the
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
    let len = ids.len();
    let parts = threads.clamp(1, len.max(1));
    let part_len = len.div_ceil(parts).max(1);
    let per_key = part_len / states.len().max(1);
    let guess_state = states.first().copied().unwrap_or(0.0);
    if parts == 1 || !meets_soon(rows, part_len, len - part_len, per_key, guess_state) {
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
    let len = ids.len();
    let guess = states.to_vec();
    let start = out.len();
    // The threads are joined before `on_threads` returns, and together the
    // parts write all `len` slots.
    let mut ends = append_filled(out, len, |slots| {
        let pieces = ids.chunks(part_len).zip(slots.chunks_mut(part_len));
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
            &mut scores[part_start..part_end],
        );
    }
    rerun_rows
}

/// Scores one part of a [`scan_keyed_parallel`] run again from the true
/// start states, key by key until each meets its speculative scores, and
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
    let mut pending: Vec<bool> = (states.iter().zip(guess))
        .map(|(truth, guess)| truth.to_bits() != guess.to_bits())
        .collect();
    let mut left = pending.iter().filter(|&&p| p).count();
    let mut rewritten = 0;
    let mut slot = [MaybeUninit::uninit()];
    for (i, &id) in ids.iter().enumerate() {
        if left == 0 {
            break;
        }
        let id = id as usize;
        if !pending[id] {
            continue;
        }
        let ((), new) = write_slots(&mut slot, |slot| {
            rows.score_keyed(start + i, &ids[i..=i], states, slot)
        });
        if scores[i].to_bits() == new[0].to_bits() {
            pending[id] = false;
            left -= 1;
        } else {
            scores[i] = new[0];
            rewritten += 1;
        }
    }
    // Keys that met (or never differed) end where the speculative run ended;
    // the others where their re-scoring did.
    for ((state, &speculative), pending) in states.iter_mut().zip(speculative).zip(pending) {
        if !pending {
            *state = speculative;
        }
    }
    rewritten
}
