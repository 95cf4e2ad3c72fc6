//! How much of the plugin's work runs in parallel, and where: the thread
//! limit, the sizes below which a thread costs more than it saves (each with
//! the measurement that set it), and the one thread pool all of it runs on.
//!
//! `python benchmarks/threads_bench.py` re-measures the thresholds (release
//! build: `./dev setup` first): its `--rows` and `--keys` options give the
//! break-even of one series and of keyed scoring, and `--groups` the cost of
//! the plugin's threads under Polars' own parallel `group_by`.

use std::sync::OnceLock;

/// Below this many rows per thread, a thread costs more than it saves. On
/// the 2-core machine, two threads broke even at 64k rows (0.96x the serial
/// kernel), gained 1.25x at 128k and 1.5x at 256k, 1.83x at 10M.
pub const MIN_ROWS_PER_THREAD: usize = 1 << 16;

/// Below this many rows per key in each thread's part, keyed scoring stays
/// serial: a key meets its speculative run only after about a hundred of its
/// own rows, and a key that does not meet is scored twice. On the 2-core
/// machine (10M rows, random keys, kernel alone), two threads gained 2.1x
/// at 5,000 rows per key and part, 1.5x at 500, 1.07x at 166 and lost at 50.
pub const MIN_ROWS_PER_KEY_PER_THREAD: usize = 256;

/// Keyed scoring reads the key column twice more than a single series (its
/// range, then the ids) and so gains less from threads, which share one
/// memory bus: end to end, with 100 or 1,000 keys on 2 threads, 0.84-1.0x
/// at 1M rows, 1.10-1.31x at 2M, 1.21-1.45x at 4M and 1.14-1.29x at 10M.
pub const MIN_KEYED_ROWS_PER_THREAD: usize = 1 << 19;

/// Below this many rows, keys that are not dense integers are grouped by
/// Polars on one thread: its parallel group-by only pays on large inputs.
pub const MIN_ROWS_FOR_PARALLEL_HASHING: usize = 1 << 20;

/// The most threads one call may use: `POLARS_SCORES_MAX_THREADS`, else
/// `POLARS_MAX_THREADS`, else the cores. The variables are read per call, so
/// a caller can change them between queries; the cores are counted once (the
/// count reads the cgroup files, about 100 µs, which `over()` would pay on
/// every group).
pub fn thread_limit() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    ["POLARS_SCORES_MAX_THREADS", "POLARS_MAX_THREADS"]
        .iter()
        .find_map(|name| std::env::var(name).ok()?.parse::<usize>().ok())
        .unwrap_or_else(|| {
            *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        })
}

/// How many threads to score `len` rows of one series on.
pub fn scoring_threads(len: usize) -> usize {
    // Short inputs (each group of an `over()`) need not ask.
    if len < 2 * MIN_ROWS_PER_THREAD {
        return 1;
    }
    series_threads(len, thread_limit())
}

/// How many threads to score `len` rows of `groups` keys on.
pub fn keyed_scoring_threads(len: usize, groups: usize) -> usize {
    if len < 2 * MIN_KEYED_ROWS_PER_THREAD {
        return 1;
    }
    keyed_threads(len, groups, thread_limit())
}

fn series_threads(len: usize, limit: usize) -> usize {
    limit.min(len / MIN_ROWS_PER_THREAD).max(1)
}

fn keyed_threads(len: usize, groups: usize, limit: usize) -> usize {
    let per_key = groups.saturating_mul(MIN_ROWS_PER_KEY_PER_THREAD).max(1);
    series_threads(len, limit)
        .min(len / MIN_KEYED_ROWS_PER_THREAD)
        .min(len / per_key)
        .max(1)
}

/// Runs `op` on the one process-wide thread pool that all of the plugin's
/// parallel work shares (the caller waits, it does not work alongside).
///
/// Polars may call the plugin from several threads at once (`group_by`,
/// `over`, concurrent queries), and each call may ask for as many threads as
/// the limit allows; on one fixed pool those requests queue instead of each
/// starting threads of their own, so the plugin never keeps more threads
/// busy than the pool has. The plugin uses the pool of its own copy of
/// polars-core (sized like Polars': `POLARS_MAX_THREADS`, else the cores),
/// since the hashed group-by of `by` keys already runs there: so there is
/// one pool, not two. It is not the host's pool (a plugin links its own
/// Polars). Without the plugin, the pure kernels use rayon's global pool.
pub fn on_pool<R: Send>(op: impl FnOnce() -> R + Send) -> R {
    #[cfg(feature = "plugin")]
    {
        polars_core::runtime::THREAD_POOL.install(op)
    }
    #[cfg(not(feature = "plugin"))]
    {
        op()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_series_goes_parallel_from_64k_rows_per_thread() {
        assert_eq!(series_threads(0, 8), 1);
        assert_eq!(series_threads(2 * MIN_ROWS_PER_THREAD - 1, 8), 1);
        assert_eq!(series_threads(2 * MIN_ROWS_PER_THREAD, 8), 2);
        assert_eq!(series_threads(100 * MIN_ROWS_PER_THREAD, 8), 8);
        assert_eq!(series_threads(100 * MIN_ROWS_PER_THREAD, 1), 1);
        assert_eq!(series_threads(100 * MIN_ROWS_PER_THREAD, 0), 1);
    }

    #[test]
    fn short_inputs_stay_on_one_thread_whatever_the_limit() {
        assert_eq!(scoring_threads(10), 1);
        assert_eq!(scoring_threads(2 * MIN_ROWS_PER_THREAD - 1), 1);
        assert_eq!(
            keyed_scoring_threads(2 * MIN_KEYED_ROWS_PER_THREAD - 1, 1),
            1
        );
    }

    #[test]
    fn keys_need_long_histories_and_long_inputs() {
        let rows = 2 * MIN_KEYED_ROWS_PER_THREAD;
        assert_eq!(keyed_threads(rows - 1, 1, 8), 1);
        assert_eq!(keyed_threads(rows, 1, 8), 2);
        assert_eq!(keyed_threads(rows, 1, 1), 1);
        // Two parts of 512k rows: 2,048 keys have 256 rows each per part.
        assert_eq!(keyed_threads(rows, 2048, 8), 2);
        assert_eq!(keyed_threads(rows, 2049, 8), 1);
        assert_eq!(keyed_threads(rows, usize::MAX, 8), 1);
    }
}
