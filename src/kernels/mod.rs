//! Pure kernels: plain slices in, plain values out, no Polars types.
//!
//! Every kernel reads its input through [`ToF64`], which converts like
//! Python's `float()`, so results match the Python reference bit for bit.

pub mod dot;
pub mod key_range;
pub mod key_table;
pub mod positive_power;
pub mod rolling_score;
mod summation;

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

/// Which rows hold a value: an Arrow validity bitmap (least significant bit
/// first), starting `offset` bits into `bytes`.
#[derive(Clone, Copy, Debug)]
pub struct ValidMask<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> ValidMask<'a> {
    pub fn new(bytes: &'a [u8], offset: usize) -> Self {
        Self { bytes, offset }
    }

    /// The same mask, starting `rows` rows later.
    pub fn skip(self, rows: usize) -> Self {
        Self {
            bytes: self.bytes,
            offset: self.offset + rows,
        }
    }

    #[inline(always)]
    pub fn is_valid(&self, row: usize) -> bool {
        let bit = self.offset + row;
        (self.bytes[bit >> 3] >> (bit & 7)) & 1 == 1
    }
}

/// `work` on every piece, each on a thread of its own unless there is only
/// one; the results in the pieces' order. A panic in a piece is re-raised.
pub fn on_threads<P: Send, R: Send>(
    mut pieces: impl ExactSizeIterator<Item = P>,
    work: impl Fn(P) -> R + Sync,
) -> Vec<R> {
    if pieces.len() <= 1 {
        return pieces.map(work).collect();
    }
    std::thread::scope(|scope| {
        let work = &work;
        let handles: Vec<_> = pieces
            .by_ref()
            .map(|piece| scope.spawn(move || work(piece)))
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e))
            })
            .collect()
    })
}

/// Defines `pub fn $name` twice over: compiled for AVX2, used when the CPU
/// has it, and for the wheel's baseline (SSE2) otherwise. AVX2 doubles the
/// width of the vectorised `sqrt`; FMA stays off, so both round identically.
/// The body sits in an `#[inline(always)]` function so that it is compiled
/// inside the AVX2 one, not merely called from it.
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
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU was just found to support AVX2.
                    return unsafe { avx2($($arg),*) };
                }
            }
            portable($($arg),*)
        }
    };
}
pub(crate) use widest_simd;

#[cfg(test)]
pub(crate) mod test_support {
    use super::ValidMask;

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

    #[test]
    fn mask_reads_bits_from_an_offset() {
        let bytes = pack(&[true, false, true, true, false, false, false, false, true]);
        let mask = ValidMask::new(&bytes, 2);
        let read: Vec<bool> = (0..7).map(|i| mask.is_valid(i)).collect();
        assert_eq!(read, [true, true, false, false, false, false, true]);
        assert!(!mask.skip(2).is_valid(0));
    }
}
