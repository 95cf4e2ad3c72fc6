//! Summation shared by the aggregating kernels.

const LANES: usize = 8;
const BLOCK: usize = 256 * LANES;

/// Sums `term(i, a[i], b[i])` over the rows both slices have.
///
/// Eight independent accumulators let the loop vectorise without reassociating
/// one long chain, and block totals go into an outer sum, so the rounding error
/// grows with the block count rather than the row count. Whole rows of eight
/// come from `as_chunks`, so the loop carries no bounds checks.
#[inline(always)]
pub fn lane_sum<A: Copy, B: Copy>(a: &[A], b: &[B], term: impl Fn(usize, A, B) -> f64) -> f64 {
    let len = a.len().min(b.len());
    let mut total = 0.0;
    for start in (0..len).step_by(BLOCK) {
        let end = (start + BLOCK).min(len);
        let (a_rows, a_tail) = a[start..end].as_chunks::<LANES>();
        let (b_rows, b_tail) = b[start..end].as_chunks::<LANES>();
        let mut acc = [0.0f64; LANES];
        for (r, (a_row, b_row)) in a_rows.iter().zip(b_rows).enumerate() {
            let row = start + r * LANES;
            for lane in 0..LANES {
                acc[lane] += term(row + lane, a_row[lane], b_row[lane]);
            }
        }
        let tail_start = end - a_tail.len();
        let mut tail = 0.0;
        for (j, (&x, &y)) in a_tail.iter().zip(b_tail).enumerate() {
            tail += term(tail_start + j, x, y);
        }
        let halves = [
            acc[0] + acc[4],
            acc[1] + acc[5],
            acc[2] + acc[6],
            acc[3] + acc[7],
        ];
        total += ((halves[0] + halves[2]) + (halves[1] + halves[3])) + tail;
    }
    total
}

/// [`lane_sum`] over one slice: `term(i, values[i])`.
#[inline(always)]
pub fn lane_sum_one<T: Copy>(values: &[T], term: impl Fn(usize, T) -> f64) -> f64 {
    lane_sum(values, values, |i, v, _| term(i, v))
}

/// Neumaier's compensated sum: the rounding error of each addition is kept
/// apart and added back at the end, so a total over any number of terms is
/// within a few units in the last place of the exact sum (what `math.fsum`
/// gives), whatever the order and the batches the terms come in.
#[derive(Clone, Copy, Debug, Default)]
pub struct Compensated {
    sum: f64,
    error: f64,
}

impl Compensated {
    #[inline(always)]
    pub fn add(&mut self, term: f64) {
        let sum = self.sum + term;
        self.error += if self.sum.abs() >= term.abs() {
            (self.sum - sum) + term
        } else {
            (term - sum) + self.sum
        };
        self.sum = sum;
    }

    /// The total: an infinite sum stays infinite (its error term is NaN).
    pub fn value(self) -> f64 {
        if self.sum.is_finite() {
            self.sum + self.error
        } else {
            self.sum
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_every_term_once() {
        for len in [0, 1, 7, 8, 9, BLOCK - 1, BLOCK, BLOCK + 3, 3 * BLOCK + 17] {
            let rows: Vec<u32> = (0..len as u32).collect();
            let got = lane_sum_one(&rows, |i, v| {
                assert_eq!(i, v as usize);
                f64::from(v)
            });
            let want = (len * len.saturating_sub(1) / 2) as f64;
            assert_eq!(got, want, "len {len}");
        }
    }

    #[test]
    fn stops_at_the_shorter_slice() {
        assert_eq!(lane_sum(&[1.0; 20], &[2.0; 11], |_, a, b| a * b), 22.0);
    }

    #[test]
    fn a_compensated_sum_keeps_what_plain_addition_loses() {
        let mut total = Compensated::default();
        for term in [1e100, 1.0, -1e100, 1.0] {
            total.add(term);
        }
        assert_eq!(total.value(), 2.0);
        assert_eq!(Compensated::default().value(), 0.0);
        let mut infinite = Compensated::default();
        infinite.add(f64::INFINITY);
        infinite.add(1.0);
        assert_eq!(infinite.value(), f64::INFINITY);
    }
}
