//! ns/row of the pure kernels, with and without a null mask, to compare a
//! change to a kernel loop before and after (no Polars involved):
//!
//! ```text
//! cargo bench --no-default-features --bench kernels
//! ```
//!
//! Prints the median of 15 runs over 10M rows per kernel and validity.

mod common;

use std::hint::black_box;
use std::time::Instant;

use polars_scores::kernels::dot::{dot, dot_scalar};
use polars_scores::kernels::key_range::slots;
use polars_scores::kernels::positive_power::{positive_power_sum, positive_powers};
use polars_scores::kernels::rolling_score::{rolling_score, rolling_score_grouped, Decay};
use polars_scores::kernels::ValidMask;

const ROWS: usize = 10_000_000;
const RUNS: usize = 15;

/// The median ns/row of `run` over `RUNS` runs.
fn ns_per_row(mut run: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[RUNS / 2] * 1e9 / ROWS as f64
}

fn main() {
    let mut next = common::random_u64s();
    let floats: Vec<f64> = (0..ROWS).map(|_| (next() % 2001) as f64 - 1000.0).collect();
    let ints: Vec<i64> = (0..ROWS).map(|_| (next() % 2001) as i64 - 1000).collect();
    let keys: Vec<i64> = (0..ROWS).map(|_| (next() % 1000) as i64).collect();
    // About 1 row in 16 null.
    let bitmap: Vec<u8> = (0..ROWS.div_ceil(8))
        .map(|_| match next() {
            r if r & 1 == 0 => 0xFF,
            r => !(1u8 << ((r >> 1) % 8)),
        })
        .collect();
    let other: Vec<u8> = bitmap.iter().rev().copied().collect();
    let masks = [
        ("no nulls", None, None),
        (
            "nulls",
            Some(ValidMask::new(&bitmap, 0)),
            Some(ValidMask::new(&other, 0)),
        ),
    ];
    let decay = Decay {
        rise: 0.9,
        fall: 0.5,
    };
    let mut out_f64: Vec<f64> = Vec::with_capacity(ROWS);
    let mut out_u32: Vec<u32> = Vec::with_capacity(ROWS);
    println!(
        "{:<34} {:>10} {:>10}",
        "kernel (10M rows)", "no nulls", "nulls"
    );
    let row = |name: &str, timing: &mut dyn FnMut(Option<ValidMask>, Option<ValidMask>) -> f64| {
        let cells: Vec<f64> = masks.iter().map(|&(_, a, b)| timing(a, b)).collect();
        println!("{name:<34} {:>10.3} {:>10.3}", cells[0], cells[1]);
    };
    row("dot f64 x f64", &mut |a, b| {
        ns_per_row(|| {
            black_box(dot(black_box(&floats), a, black_box(&floats), b));
        })
    });
    row("dot i64 x f64", &mut |a, b| {
        ns_per_row(|| {
            black_box(dot(black_box(&ints), a, black_box(&floats), b));
        })
    });
    row("dot i64 x f64 (first mask only)", &mut |a, _| {
        ns_per_row(|| {
            black_box(dot(black_box(&ints), a, black_box(&floats), None));
        })
    });
    row("dot_scalar f64", &mut |a, _| {
        ns_per_row(|| {
            black_box(dot_scalar(black_box(&floats), a, 1.5));
        })
    });
    row("positive_power_sum f64 ^1.5", &mut |a, _| {
        ns_per_row(|| {
            black_box(positive_power_sum(black_box(&floats), a, 1.5));
        })
    });
    row("positive_power_sum i64 ^2.5", &mut |a, _| {
        ns_per_row(|| {
            black_box(positive_power_sum(black_box(&ints), a, 2.5));
        })
    });
    row("positive_powers f64 ^1.5 (no mask)", &mut |_, _| {
        ns_per_row(|| {
            out_f64.clear();
            positive_powers(black_box(&floats), 1.5, &mut out_f64);
            black_box(&out_f64);
        })
    });
    row("slots i64", &mut |a, _| {
        ns_per_row(|| {
            out_u32.clear();
            slots(
                black_box(&keys),
                a,
                0,
                &mut out_u32.spare_capacity_mut()[..ROWS],
            );
            black_box(&out_u32);
        })
    });
    row("rolling_score f64 (untouched)", &mut |a, _| {
        ns_per_row(|| {
            out_f64.clear();
            black_box(rolling_score(
                black_box(&floats),
                a,
                0.0,
                decay,
                &mut out_f64,
            ));
        })
    });
    let ids: Vec<u32> = keys.iter().map(|&k| k as u32).collect();
    let mut states = vec![0.0; 1000];
    row("rolling_score_grouped f64, 1k keys", &mut |a, _| {
        ns_per_row(|| {
            out_f64.clear();
            rolling_score_grouped(
                black_box(&floats),
                a,
                &ids,
                &mut states,
                decay,
                &mut out_f64,
            );
            black_box(&out_f64);
        })
    });
}
