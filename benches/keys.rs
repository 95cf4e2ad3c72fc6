//! ns/row of numbering string keys in the hashed store's tables (no Polars
//! involved), the step that dominates `score --by` over string keys:
//!
//! ```text
//! cargo bench --no-default-features --bench keys
//! ```
//!
//! Ten million rows of a million `user-<n>` keys in random order, in pieces
//! of `PIECE` rows as the store takes them, into tables kept from piece to
//! piece; the median of 7 passes, the first pass (every key new) apart.

mod common;

use std::hint::black_box;
use std::time::Instant;

use hashbrown::DefaultHashBuilder;
use polars_scores::kernels::key_table::{push_bytes, EncodedRows, ShardedKeys};

const ROWS: usize = 10_000_000;
const KEYS: u64 = 1_000_000;
const PIECE: usize = 1 << 19;
const PASSES: usize = 7;

fn main() {
    let mut next = common::random_u64s();
    let keys: Vec<String> = (0..ROWS)
        .map(|_| format!("user-{}", next() % KEYS))
        .collect();
    let hasher = DefaultHashBuilder::default();
    let mut table = ShardedKeys::default();
    let (mut rows, mut numbers) = (EncodedRows::default(), Vec::new());
    let (mut encode, mut number) = (Vec::new(), Vec::new());
    for _ in 0..PASSES {
        let (mut encoding, mut numbering) = (0.0, 0.0);
        for piece in keys.chunks(PIECE) {
            let start = Instant::now();
            rows.clear();
            rows.reserve(piece.len(), 9);
            for key in piece {
                push_bytes(rows.buffer(), key.as_bytes());
                rows.end_row();
            }
            let encoded = Instant::now();
            table.number_rows(&rows, &hasher, &mut numbers);
            black_box(&numbers);
            encoding += (encoded - start).as_secs_f64();
            numbering += encoded.elapsed().as_secs_f64();
        }
        encode.push(encoding * 1e9 / ROWS as f64);
        number.push(numbering * 1e9 / ROWS as f64);
    }
    println!(
        "first pass: encode {:.1} ns/row, number {:.1}",
        encode[0], number[0]
    );
    let median = |mut times: Vec<f64>| {
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    println!(
        "later passes (keys known), median: encode {:.1} ns/row, number {:.1}; {} keys",
        median(encode[1..].to_vec()),
        median(number[1..].to_vec()),
        table.len()
    );
}
