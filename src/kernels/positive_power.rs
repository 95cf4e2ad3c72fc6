//! `v ** exponent` over the positive values, row by row or summed.

use super::summation::lane_sum_one;
use super::validity::{with_validity, ValidMask, Validity};
use super::{widest_simd, ToF64};

/// `v ** exponent` for one exponent. Common exponents get exact or cheaper
/// forms: `v * sqrt(v)` vectorises where `powf` does not.
trait Power: Copy {
    fn of(self, v: f64) -> f64;
}

#[derive(Clone, Copy)]
struct One;
#[derive(Clone, Copy)]
struct Half;
#[derive(Clone, Copy)]
struct ThreeHalves;
#[derive(Clone, Copy)]
struct Square;
#[derive(Clone, Copy)]
struct General(f64);

impl Power for One {
    #[inline(always)]
    fn of(self, v: f64) -> f64 {
        v
    }
}
impl Power for Half {
    #[inline(always)]
    fn of(self, v: f64) -> f64 {
        v.sqrt()
    }
}
impl Power for ThreeHalves {
    #[inline(always)]
    fn of(self, v: f64) -> f64 {
        v * v.sqrt()
    }
}
impl Power for Square {
    #[inline(always)]
    fn of(self, v: f64) -> f64 {
        v * v
    }
}
impl Power for General {
    #[inline(always)]
    fn of(self, v: f64) -> f64 {
        v.powf(self.0)
    }
}

/// Evaluates `$body` with `$power` bound to the `Power` that computes
/// `$exponent`, so each form gets its own monomorphic loop.
macro_rules! with_power {
    ($exponent:expr, |$power:ident| $body:expr) => {
        match $exponent {
            e if e == 1.0 => {
                let $power = One;
                $body
            }
            e if e == 0.5 => {
                let $power = Half;
                $body
            }
            e if e == 1.5 => {
                let $power = ThreeHalves;
                $body
            }
            e if e == 2.0 => {
                let $power = Square;
                $body
            }
            e => {
                let $power = General(e);
                $body
            }
        }
    };
}

/// The term one value contributes: `v ** p` when `v > 0` (NaN is not), else 0.
#[inline(always)]
fn term<P: Power>(v: f64, power: P) -> f64 {
    if v > 0.0 {
        power.of(v)
    } else {
        0.0
    }
}

widest_simd! {
    /// The sum of `v ** exponent` over the non-null `v > 0`; 0.0 when there is none.
    pub fn positive_power_sum<T: ToF64>(values: &[T], mask: Option<ValidMask>, exponent: f64) -> f64 {
        with_power!(exponent, |power| with_validity!(mask, |valid| {
            lane_sum_one(values, |i, v| {
                if valid.is_valid(i) {
                    term(v.to_f64(), power)
                } else {
                    0.0
                }
            })
        }))
    }
}

widest_simd! {
    /// Appends each value's term to `out` (0.0 for values that are not > 0;
    /// null rows get a placeholder that the caller masks).
    pub fn positive_powers<T: ToF64>(values: &[T], exponent: f64, out: &mut Vec<f64>) {
        with_power!(exponent, |power| out.extend(
            values.iter().map(|&v| term(v.to_f64(), power))
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_support::pack;
    use proptest::prelude::*;

    #[test]
    fn skips_non_positive_and_nan() {
        let values = [4.0, -4.0, 0.0, f64::NAN, 9.0];
        assert_eq!(positive_power_sum(&values, None, 1.5), 8.0 + 27.0);
        assert_eq!(positive_power_sum::<f64>(&[], None, 1.5), 0.0);
    }

    #[test]
    fn skips_masked_rows() {
        let bytes = pack(&[true, false, true]);
        let sum = positive_power_sum(&[1u8, 100, 4], Some(ValidMask::new(&bytes, 0)), 2.0);
        assert_eq!(sum, 17.0);
    }

    #[test]
    fn every_exponent_path_agrees_with_powf() {
        let values: Vec<f64> = (1..200).map(|i| i as f64 * 0.37).collect();
        for exponent in [1.0, 0.5, 1.5, 2.0, 2.5, -1.0, 0.0] {
            let mut rows = Vec::new();
            positive_powers(&values, exponent, &mut rows);
            for (row, v) in rows.iter().zip(&values) {
                let want = v.powf(exponent);
                assert!(
                    (row - want).abs() <= 1e-15 * want.abs(),
                    "{v} ** {exponent}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn sum_is_close_to_a_sequential_sum(
            values in prop::collection::vec(-1e3f64..1e3, 0..5000),
            exponent in prop_oneof![Just(1.5), Just(2.0), 0.1f64..3.0],
        ) {
            let want: f64 = values.iter().filter(|&&v| v > 0.0).map(|v| v.powf(exponent)).sum();
            let got = positive_power_sum(&values, None, exponent);
            prop_assert!((got - want).abs() <= 1e-12 * want.abs().max(1e-300));
        }
    }
}
