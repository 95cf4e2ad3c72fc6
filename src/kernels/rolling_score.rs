//! The rolling score: a recurrence that rises with values above the current
//! score and decays otherwise.

use super::output::append_filled;
pub use super::scan::ParallelRun;
use super::scan::{scan_keyed_parallel, scan_parallel, Recurrence, Slots};
use super::validity::{with_validity, Validity};
use super::{prefetch, ToF64, ValidMask, PREFETCH_ROWS};

/// The recurrence's two factors.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decay {
    /// Applied to the score before adding a value that exceeds it.
    pub rise: f64,
    /// Applied to the score when a value does not exceed it.
    pub fall: f64,
}

impl Decay {
    /// One step of the reference: the same IEEE operations in the same order.
    /// Rust never contracts `a * b + c` into a fused multiply-add, so this is
    /// bit-identical to Python.
    #[inline(always)]
    pub fn step(self, prev: f64, value: f64) -> f64 {
        if value > prev {
            prev * self.rise + value
        } else {
            prev * self.fall
        }
    }
}

/// Scores `values` from `state` into `out` (one slot per value) and returns
/// the state after the last row. Rows that `mask` marks null leave the state
/// unchanged; their slot holds the unchanged state.
pub fn rolling_score_into<T: ToF64>(
    values: &[T],
    mask: Option<ValidMask>,
    state: f64,
    decay: Decay,
    out: &mut Slots,
) -> f64 {
    with_validity!(mask, |valid| {
        let mut prev = state;
        for (i, (slot, &v)) in out.iter_mut().zip(values).enumerate() {
            let next = decay.step(prev, v.to_f64());
            if valid.is_valid(i) {
                prev = next;
            }
            slot.write(prev);
        }
        prev
    })
}

/// [`rolling_score_into`], appending to `out`.
pub fn rolling_score<T: ToF64>(
    values: &[T],
    mask: Option<ValidMask>,
    state: f64,
    decay: Decay,
    out: &mut Vec<f64>,
) -> f64 {
    append_filled(out, values.len(), |slots| {
        rolling_score_into(values, mask, state, decay, slots)
    })
}

/// The rolling score's rows: values, validity and factors, as a
/// [`Recurrence`].
pub struct DecayRows<'a, T> {
    values: &'a [T],
    mask: Option<ValidMask<'a>>,
    decay: Decay,
}

impl<'a, T> DecayRows<'a, T> {
    /// The rolling score by `decay` over `values`, rows that `mask` marks
    /// null leaving the state unchanged.
    pub fn new(values: &'a [T], mask: Option<ValidMask<'a>>, decay: Decay) -> Self {
        Self {
            values,
            mask,
            decay,
        }
    }
}

impl<T: ToF64 + Sync> Recurrence for DecayRows<'_, T> {
    fn score(&self, start: usize, state: &mut [f64], out: &mut Slots) {
        let values = &self.values[start..start + out.len()];
        let mask = self.mask.map(|m| m.skip(start));
        state[0] = rolling_score_into(values, mask, state[0], self.decay, out);
    }

    fn score_keyed(&self, start: usize, ids: &[u32], states: &mut [f64], out: &mut Slots) {
        let values = &self.values[start..start + out.len()];
        let mask = self.mask.map(|m| m.skip(start));
        grouped_into(values, mask, ids, states, self.decay, out);
    }
}

/// [`rolling_score`] on up to `threads` threads, bit-identical to it, by the
/// speculative scheme of [`scan_parallel`].
pub fn rolling_score_parallel<T: ToF64 + Sync>(
    values: &[T],
    mask: Option<ValidMask>,
    state: f64,
    decay: Decay,
    threads: usize,
    out: &mut Vec<f64>,
) -> (f64, ParallelRun) {
    let rows = DecayRows {
        values,
        mask,
        decay,
    };
    let mut state = [state];
    let run = scan_parallel(&rows, values.len(), &mut state, threads, out);
    (state[0], run)
}

/// Scores `values` with one state per key: row `i` advances `states[ids[i]]`.
/// `ids` has one entry per value, each below `states.len()`.
pub fn rolling_score_grouped<T: ToF64>(
    values: &[T],
    mask: Option<ValidMask>,
    ids: &[u32],
    states: &mut [f64],
    decay: Decay,
    out: &mut Vec<f64>,
) {
    append_filled(out, values.len(), |slots| {
        grouped_into(values, mask, ids, states, decay, slots)
    });
}

/// [`rolling_score_grouped`] on up to `threads` threads, bit-identical to it,
/// by the scheme of [`scan_keyed_parallel`]. Returns the rows scored twice.
pub fn rolling_score_grouped_parallel<T: ToF64 + Sync>(
    values: &[T],
    mask: Option<ValidMask>,
    ids: &[u32],
    states: &mut [f64],
    decay: Decay,
    threads: usize,
    out: &mut Vec<f64>,
) -> usize {
    let rows = DecayRows {
        values,
        mask,
        decay,
    };
    scan_keyed_parallel(&rows, &ids[..values.len()], states, threads, out)
}

/// [`rolling_score_grouped`] into `out`, one slot per value.
fn grouped_into<T: ToF64>(
    values: &[T],
    mask: Option<ValidMask>,
    ids: &[u32],
    states: &mut [f64],
    decay: Decay,
    out: &mut Slots,
) {
    with_validity!(mask, |valid| {
        for (i, ((slot, &v), &id)) in out.iter_mut().zip(values).zip(ids).enumerate() {
            if let Some(&ahead) = ids.get(i + PREFETCH_ROWS) {
                prefetch(states, ahead as usize);
            }
            let state = &mut states[id as usize];
            if valid.is_valid(i) {
                *state = decay.step(*state, v.to_f64());
            }
            slot.write(*state);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::scan::{speculate, speculate_keyed};
    use crate::kernels::test_support::{number, pack};
    use proptest::prelude::*;

    const DECAY: Decay = Decay {
        rise: 0.9,
        fall: 0.5,
    };

    /// The Python reference, transcribed loop for loop, with nulls skipped.
    fn reference(values: &[Option<f64>], initial: f64, decay: Decay) -> Vec<f64> {
        let mut prev = initial;
        values
            .iter()
            .map(|v| {
                if let Some(v) = *v {
                    prev = if v > prev {
                        prev * decay.rise + v
                    } else {
                        prev * decay.fall
                    };
                }
                prev
            })
            .collect()
    }

    fn bits(xs: &[f64]) -> Vec<u64> {
        xs.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn matches_hand_computed_steps() {
        let mut out = Vec::new();
        let last = rolling_score(&[1.0, 0.5, 3.0], None, 0.0, DECAY, &mut out);
        // 0 -> 1; 0.5 <= 1 -> 0.5; 3 > 0.5 -> 0.45 + 3
        assert_eq!(out, [1.0, 0.5, 0.5 * 0.9 + 3.0]);
        assert_eq!(last, out[2]);
    }

    #[test]
    fn integers_convert_like_python_float() {
        let big = (1i64 << 53) + 1;
        let mut out = Vec::new();
        rolling_score(&[big], None, 0.0, DECAY, &mut out);
        assert_eq!(out, [9007199254740992.0]);
    }

    #[test]
    fn nan_poisons_the_state_as_in_python() {
        let mut out = Vec::new();
        rolling_score(&[f64::NAN, 5.0], None, 1.0, DECAY, &mut out);
        assert_eq!(out[0], 0.5);
        let mut out = Vec::new();
        rolling_score(&[1.0, 2.0], None, f64::NAN, DECAY, &mut out);
        assert!(out.iter().all(|x| x.is_nan()));
    }

    fn serial(values: &[f64], mask: Option<ValidMask>, initial: f64, decay: Decay) -> Vec<f64> {
        let mut out = Vec::new();
        rolling_score(values, mask, initial, decay, &mut out);
        out
    }

    fn parallel(
        values: &[f64],
        mask: Option<ValidMask>,
        initial: f64,
        threads: usize,
    ) -> (Vec<f64>, f64, ParallelRun) {
        let mut out = Vec::new();
        let (last, run) = rolling_score_parallel(values, mask, initial, DECAY, threads, &mut out);
        (out, last, run)
    }

    #[test]
    fn parallel_meets_early_on_random_data() {
        let values: Vec<f64> = (0..40_000u64)
            .map(|i| {
                ((i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64 / (1u64 << 53) as f64) - 0.3
            })
            .collect();
        let (out, last, run) = parallel(&values, None, 0.0, 4);
        assert_eq!(bits(&out), bits(&serial(&values, None, 0.0, DECAY)));
        assert!(run.rerun_rows < 3 * 300, "rerun {}", run.rerun_rows);
        assert_eq!(last, *out.last().unwrap());
    }

    /// The speculative scheme alone, without the probe that would send
    /// rows whose runs do not meet to the serial loop.
    fn speculated(values: &[f64], initial: f64, threads: usize) -> (Vec<f64>, ParallelRun) {
        let rows = DecayRows {
            values,
            mask: None,
            decay: DECAY,
        };
        let mut out = Vec::new();
        let part_len = values.len().div_ceil(threads).max(1);
        let run = speculate(&rows, values.len(), &mut [initial], part_len, &mut out);
        (out, run)
    }

    #[test]
    fn parallel_never_meets_on_a_pure_decay() {
        // All values negative: both runs only halve, and from starts 1.0 and
        // 0.0 they never share bits until the true one underflows, far beyond
        // these 200 rows: speculation would score every part but the first
        // twice, so the probe keeps the run serial.
        let values = vec![-1.0; 200];
        let want = serial(&values, None, 1.0, DECAY);
        let (out, _, run) = parallel(&values, None, 1.0, 4);
        assert_eq!(bits(&out), bits(&want));
        assert_eq!((run.speculated, run.rerun_rows), (false, 0));
        let (out, run) = speculated(&values, 1.0, 4);
        assert_eq!(bits(&out), bits(&want));
        assert_eq!(run.rerun_rows, 150);
    }

    #[test]
    fn parallel_meets_late_when_the_decay_underflows() {
        // Halving 1.0 reaches 0.0 after about 1075 steps, where it meets the
        // speculative run, which started at 0.0 and stayed there.
        let values = vec![-1.0; 4000];
        let (out, run) = speculated(&values, 1.0, 2);
        assert_eq!(bits(&out), bits(&serial(&values, None, 1.0, DECAY)));
        assert!(
            run.rerun_rows > 1000 && run.rerun_rows < 2000,
            "rerun {}",
            run.rerun_rows
        );
    }

    #[test]
    fn parallel_handles_fewer_rows_than_threads() {
        for len in 0..6 {
            let values: Vec<f64> = (0..len).map(|i| i as f64).collect();
            let (out, last, _) = parallel(&values, None, 0.5, 8);
            assert_eq!(bits(&out), bits(&serial(&values, None, 0.5, DECAY)));
            assert_eq!(last, out.last().copied().unwrap_or(0.5));
        }
    }

    fn grouped(
        values: &[f64],
        mask: Option<ValidMask>,
        ids: &[u32],
        starts: &[f64],
        threads: Option<usize>,
    ) -> (Vec<f64>, Vec<f64>, usize) {
        let mut states = starts.to_vec();
        let mut out = Vec::new();
        let rerun = match threads {
            None => {
                rolling_score_grouped(values, mask, ids, &mut states, DECAY, &mut out);
                0
            }
            Some(threads) => rolling_score_grouped_parallel(
                values,
                mask,
                ids,
                &mut states,
                DECAY,
                threads,
                &mut out,
            ),
        };
        (out, states, rerun)
    }

    #[test]
    fn grouped_parallel_meets_early_on_random_data() {
        let values: Vec<f64> = (0..60_000u64)
            .map(|i| ((i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) % 1000) as f64 - 300.0)
            .collect();
        let ids: Vec<u32> = (0..60_000u32)
            .map(|i| i.wrapping_mul(2_654_435_761) >> 29)
            .collect();
        let starts = vec![0.0; 8];
        let want = grouped(&values, None, &ids, &starts, None);
        let (out, states, rerun) = grouped(&values, None, &ids, &starts, Some(3));
        assert_eq!(bits(&out), bits(&want.0));
        assert_eq!(bits(&states), bits(&want.1));
        assert!(rerun > 0 && rerun < 2 * 8 * 300, "rerun {rerun}");
    }

    #[test]
    fn grouped_parallel_rescores_a_key_that_never_meets() {
        // Key 0 only halves (negative values), from 1.0 on the true run and
        // from 1.0 again in the guessed second half: they never share bits.
        // Key 1 appears in the second half only, so its guess is right.
        let values = vec![-1.0; 300];
        let ids: Vec<u32> = (0..300)
            .map(|i| u32::from(i >= 150 && i % 2 == 0))
            .collect();
        let starts = [1.0, 2.0];
        let want = grouped(&values, None, &ids, &starts, None);
        // The probe sees runs that do not meet and stays serial.
        let (out, states, rerun) = grouped(&values, None, &ids, &starts, Some(2));
        assert_eq!(bits(&out), bits(&want.0));
        assert_eq!(bits(&states), bits(&want.1));
        assert_eq!(rerun, 0);
        let rows = DecayRows {
            values: &values,
            mask: None,
            decay: DECAY,
        };
        let mut states = starts.to_vec();
        let mut out = Vec::new();
        let rerun = speculate_keyed(&rows, &ids, &mut states, 150, &mut out);
        assert_eq!(bits(&out), bits(&want.0));
        assert_eq!(bits(&states), bits(&want.1));
        assert_eq!(rerun, 75);
    }

    fn shaped_values() -> impl Strategy<Value = Vec<f64>> {
        prop_oneof![
            prop::collection::vec(number(), 0..400),
            (number(), 0usize..400).prop_map(|(v, n)| vec![v; n]),
            (-1e3f64..-1e-3, 0usize..400).prop_map(|(v, n)| vec![v; n]),
            (number(), number(), 0usize..400)
                .prop_map(|(a, b, n)| (0..n).map(|i| if i % 2 == 0 { a } else { b }).collect()),
        ]
    }

    proptest! {
        #[test]
        fn parallel_is_bit_identical_to_serial(
            values in shaped_values(),
            nulls in prop::collection::vec(any::<bool>(), 400),
            with_mask in any::<bool>(),
            initial in prop_oneof![-5.0f64..5.0, Just(0.0), Just(f64::NAN)],
            threads in 1usize..9,
        ) {
            let bytes = pack(&nulls);
            let mask = with_mask.then(|| ValidMask::new(&bytes, 0));
            let want = serial(&values, mask, initial, DECAY);
            let (got, last, _) = parallel(&values, mask, initial, threads);
            prop_assert_eq!(bits(&got), bits(&want));
            prop_assert_eq!(last.to_bits(), want.last().copied().unwrap_or(initial).to_bits());
        }

        #[test]
        fn grouped_parallel_is_bit_identical_to_serial(
            values in shaped_values(),
            keys in prop::collection::vec(0u32..4, 400),
            groups in 1u32..5,
            nulls in prop::collection::vec(any::<bool>(), 400),
            with_mask in any::<bool>(),
            starts in prop::collection::vec(prop_oneof![-5.0f64..5.0, Just(0.0), Just(f64::NAN)], 4),
            threads in 1usize..9,
        ) {
            let ids: Vec<u32> = keys[..values.len()].iter().map(|k| k % groups).collect();
            let bytes = pack(&nulls);
            let mask = with_mask.then(|| ValidMask::new(&bytes, 0));
            let starts = &starts[..groups as usize];
            let want = grouped(&values, mask, &ids, starts, None);
            let got = grouped(&values, mask, &ids, starts, Some(threads));
            prop_assert_eq!(bits(&got.0), bits(&want.0));
            prop_assert_eq!(bits(&got.1), bits(&want.1));
        }

        #[test]
        fn single_series_matches_reference(
            rows in prop::collection::vec((number(), any::<bool>()), 0..300),
            initial in -10.0f64..10.0,
            rise in -2.0f64..2.0,
            fall in -2.0f64..2.0,
        ) {
            let decay = Decay { rise, fall };
            let values: Vec<f64> = rows.iter().map(|r| r.0).collect();
            let valid: Vec<bool> = rows.iter().map(|r| r.1).collect();
            let with_nulls: Vec<Option<f64>> = rows.iter().map(|&(v, ok)| ok.then_some(v)).collect();
            let bytes = pack(&valid);
            let mut out = Vec::new();
            rolling_score(&values, Some(ValidMask::new(&bytes, 0)), initial, decay, &mut out);
            prop_assert_eq!(bits(&out), bits(&reference(&with_nulls, initial, decay)));

            let dense: Vec<Option<f64>> = values.iter().map(|&v| Some(v)).collect();
            let mut out = Vec::new();
            rolling_score(&values, None, initial, decay, &mut out);
            prop_assert_eq!(bits(&out), bits(&reference(&dense, initial, decay)));
        }

        #[test]
        fn grouped_equals_each_key_alone(
            rows in prop::collection::vec((number(), 0u32..4, any::<bool>()), 0..300),
        ) {
            let values: Vec<f64> = rows.iter().map(|r| r.0).collect();
            let ids: Vec<u32> = rows.iter().map(|r| r.1).collect();
            let bytes = pack(&rows.iter().map(|r| r.2).collect::<Vec<_>>());
            let mut states = vec![0.25; 4];
            let mut out = Vec::new();
            rolling_score_grouped(&values, Some(ValidMask::new(&bytes, 0)), &ids, &mut states, DECAY, &mut out);
            for key in 0..4 {
                let rows_of_key: Vec<usize> = (0..rows.len()).filter(|&i| ids[i] == key).collect();
                let alone: Vec<Option<f64>> = rows_of_key.iter().map(|&i| rows[i].2.then_some(values[i])).collect();
                let want = reference(&alone, 0.25, DECAY);
                let got: Vec<f64> = rows_of_key.iter().map(|&i| out[i]).collect();
                prop_assert_eq!(bits(&got), bits(&want));
            }
        }
    }
}
