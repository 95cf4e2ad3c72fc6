//! Pure kernels: plain slices in, plain values out, no Polars types.
//!
//! Every kernel reads its input through [`ToF64`], which converts like
//! Python's `float()`, so results match the Python reference bit for bit.

pub mod dot;
pub mod key_range;
pub mod key_table;
pub mod output;
pub mod positive_power;
pub mod rolling_score;
pub mod rule;
pub mod scan;
pub mod summation;
pub mod validity;

use rayon::prelude::*;

pub use validity::ValidMask;

/// A numeric value the kernels read as `f64`, rounding like Python's `float()`.
pub trait ToF64: Copy {
    fn to_f64(self) -> f64;
}

macro_rules! impl_to_f64 {
    ($($t:ty),*) => {
        $(impl ToF64 for $t {
            #[inline(always)]
            fn to_f64(self) -> f64 {
                // `as` rounds integers to the nearest float, ties to even, as Python does.
                self as f64
            }
        })*
    };
}
impl_to_f64!(i8, i16, i32, i64, i128, u8, u16, u32, u64, u128, f32, f64);

/// `work` on every piece, on the plugin's one thread pool unless there is
/// only one piece (then on the caller's thread); the results in the pieces'
/// order. A panic in a piece is re-raised.
pub fn on_threads<P: Send, R: Send>(
    pieces: impl ExactSizeIterator<Item = P>,
    work: impl Fn(P) -> R + Sync,
) -> Vec<R> {
    if pieces.len() <= 1 {
        return pieces.map(work).collect();
    }
    let pieces: Vec<P> = pieces.collect();
    let work = &work;
    // One task per piece: each is a large share of the rows.
    crate::parallelism::on_pool(|| pieces.into_par_iter().with_max_len(1).map(work).collect())
}

/// How many rows ahead the per-key kernels ask for a row's state
/// ([`prefetch`]): about as many as the memory can fetch at once.
pub const PREFETCH_ROWS: usize = 16;

/// Asks the CPU to bring `slice[at]` into cache, if `at` is in bounds, for
/// loops that update states at random places in arrays larger than the
/// cache (a million keys' states: 8 MB), a few rows ahead. A hint only: it
/// changes no value, and is nothing on other CPUs than x86-64.
#[inline(always)]
pub fn prefetch<T>(slice: &[T], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(item) = slice.get(at) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch cannot fault, reads nothing the program sees,
        // and is given an address in bounds.
        unsafe { _mm_prefetch::<_MM_HINT_T0>((item as *const T).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (slice, at);
}

/// The environment variable that, set to anything but `0` or nothing, keeps
/// the AVX2 copies of [`widest_simd!`] unused: the code a CPU without AVX2
/// runs, so that the tests can check it gives the same bits on any machine.
pub const NO_AVX2_VARIABLE: &str = "POLARS_SCORES_NO_AVX2";

/// No AVX2 outside x86-64.
#[cfg(not(target_arch = "x86_64"))]
pub fn avx2_enabled() -> bool {
    false
}

/// Whether the AVX2 copies run: the CPU has AVX2 and [`NO_AVX2_VARIABLE`]
/// does not forbid it. Decided once per process, at the first call.
#[cfg(target_arch = "x86_64")]
pub fn avx2_enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| {
        let forbidden =
            std::env::var_os(NO_AVX2_VARIABLE).is_some_and(|v| !v.is_empty() && v != "0");
        !forbidden && std::is_x86_feature_detected!("avx2")
    })
}

/// Defines `pub fn $name` twice over: compiled for AVX2, used when
/// [`avx2_enabled`], and for the wheel's baseline (SSE2) otherwise. AVX2
/// doubles the width of the vectorised `sqrt`; FMA stays off, so both round
/// identically. The body sits in an `#[inline(always)]` function so that it
/// is compiled inside the AVX2 one, not merely called from it.
macro_rules! widest_simd {
    ($(#[$doc:meta])* pub fn $name:ident<T: $bound:path>($($arg:ident: $ty:ty),*) $(-> $ret:ty)? $body:block) => {
        $(#[$doc])*
        pub fn $name<T: $bound>($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn portable<T: $bound>($($arg: $ty),*) $(-> $ret)? $body

            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                fn avx2<T: $bound>($($arg: $ty),*) $(-> $ret)? {
                    portable($($arg),*)
                }
                if $crate::kernels::avx2_enabled() {
                    // SAFETY: `avx2_enabled` found that the CPU supports AVX2.
                    return unsafe { avx2($($arg),*) };
                }
            }
            portable($($arg),*)
        }
    };
}
pub(crate) use widest_simd;

#[cfg(test)]
mod tests {
    use super::on_threads;

    #[test]
    fn pieces_run_on_the_pool_and_keep_their_order() {
        let squares = on_threads(0..50u32, |i| {
            (u64::from(i).pow(2), rayon::current_thread_index())
        });
        assert!(squares.iter().all(|(_, thread)| thread.is_some()));
        let values: Vec<u64> = squares.into_iter().map(|(v, _)| v).collect();
        assert_eq!(values, (0..50u64).map(|i| i * i).collect::<Vec<_>>());
        // One piece stays on the caller's thread.
        assert_eq!(on_threads(0..1, |_| rayon::current_thread_index()), [None]);
    }

    #[test]
    fn a_panic_in_a_piece_reaches_the_caller() {
        let run = std::panic::catch_unwind(|| on_threads(0..4, |i| assert_ne!(i, 2, "piece 2")));
        let message = run.expect_err("the panic is re-raised");
        let text = message
            .downcast_ref::<String>()
            .map(String::as_str)
            .unwrap_or("");
        assert!(text.contains("piece 2"), "{text}");
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use proptest::prelude::*;

    /// Any float, drawn often at the edges: NaN, the infinities, both zeros,
    /// a subnormal, the halves and a value near overflow.
    pub fn number() -> impl Strategy<Value = f64> {
        prop_oneof![
            -1e6f64..1e6,
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(0.0),
            Just(-0.0),
            Just(-0.5),
            Just(0.5),
            Just(f64::MIN_POSITIVE / 4.0),
            Just(1e308),
            any::<f64>(),
        ]
    }

    /// Packs booleans into an Arrow-style bitmap.
    pub fn pack(valid: &[bool]) -> Vec<u8> {
        let mut bytes = vec![0u8; valid.len().div_ceil(8)];
        for (i, &ok) in valid.iter().enumerate() {
            if ok {
                bytes[i >> 3] |= 1 << (i & 7);
            }
        }
        bytes
    }
}
