//! Summation shared by the aggregating kernels.

const LANES: usize = 8;
const BLOCK: usize = 256 * LANES;

/// Sums `term(i)` for `i` in `0..len`.
///
/// Eight independent accumulators let the loop vectorise without reassociating
/// one long chain, and block totals go into an outer sum, so the rounding error
/// grows with the block count rather than the row count.
#[inline(always)]
pub fn lane_sum(len: usize, term: impl Fn(usize) -> f64) -> f64 {
    let mut total = 0.0;
    let mut start = 0;
    while start < len {
        let end = (start + BLOCK).min(len);
        let mut acc = [0.0f64; LANES];
        let mut row = start;
        while row + LANES <= end {
            for (lane, a) in acc.iter_mut().enumerate() {
                *a += term(row + lane);
            }
            row += LANES;
        }
        let mut tail = 0.0;
        for i in row..end {
            tail += term(i);
        }
        let halves = [
            acc[0] + acc[4],
            acc[1] + acc[5],
            acc[2] + acc[6],
            acc[3] + acc[7],
        ];
        total += ((halves[0] + halves[2]) + (halves[1] + halves[3])) + tail;
        start = end;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_every_term_once() {
        for len in [0, 1, 7, 8, 9, BLOCK - 1, BLOCK, BLOCK + 3, 3 * BLOCK + 17] {
            let got = lane_sum(len, |i| i as f64);
            let want = (len * len.saturating_sub(1) / 2) as f64;
            assert_eq!(got, want, "len {len}");
        }
    }
}
