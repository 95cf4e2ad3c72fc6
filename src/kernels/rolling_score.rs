//! The rolling score: a recurrence that rises with values above the current
//! score and decays otherwise.

use super::{ToF64, ValidMask};

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

/// Scores `values` from `state`, appending one score per row to `out`, and
/// returns the state after the last row. Rows that `mask` marks null leave the
/// state unchanged; their slot in `out` holds the unchanged state.
pub fn rolling_score<T: ToF64>(
    values: &[T],
    mask: Option<ValidMask>,
    state: f64,
    decay: Decay,
    out: &mut Vec<f64>,
) -> f64 {
    let mut prev = state;
    match mask {
        None => out.extend(values.iter().map(|&v| {
            prev = decay.step(prev, v.to_f64());
            prev
        })),
        Some(mask) => out.extend(values.iter().enumerate().map(|(i, &v)| {
            let next = decay.step(prev, v.to_f64());
            if mask.is_valid(i) {
                prev = next;
            }
            prev
        })),
    }
    prev
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
    match mask {
        None => out.extend(values.iter().zip(ids).map(|(&v, &id)| {
            let state = &mut states[id as usize];
            *state = decay.step(*state, v.to_f64());
            *state
        })),
        Some(mask) => out.extend(values.iter().zip(ids).enumerate().map(|(i, (&v, &id))| {
            let state = &mut states[id as usize];
            if mask.is_valid(i) {
                *state = decay.step(*state, v.to_f64());
            }
            *state
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_support::pack;
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

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            -1e6f64..1e6,
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(0.0),
            Just(-0.0),
            Just(f64::MIN_POSITIVE / 4.0),
            any::<f64>(),
        ]
    }

    proptest! {
        #[test]
        fn single_series_matches_reference(
            rows in prop::collection::vec((value(), any::<bool>()), 0..300),
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
            rows in prop::collection::vec((value(), 0u32..4, any::<bool>()), 0..300),
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
