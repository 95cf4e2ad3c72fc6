//! Output buffers: the one place that allocates them and that writes into
//! uninitialised memory.

use std::mem::MaybeUninit;

/// An empty output buffer with room for `len` values.
///
/// A fresh large buffer costs more in page faults than the kernels cost in
/// arithmetic (one fault per 4 KiB page), so large buffers ask the kernel for
/// transparent huge pages, one fault per 2 MiB, as numpy does for its arrays.
pub fn output_buffer<T>(len: usize) -> Vec<T> {
    let buffer = Vec::with_capacity(len);
    #[cfg(target_os = "linux")]
    {
        const HUGE_PAGE: usize = 2 << 20;
        let bytes = len.saturating_mul(std::mem::size_of::<T>());
        if bytes >= 2 * HUGE_PAGE {
            let start = buffer.as_ptr() as usize;
            let aligned = start.next_multiple_of(HUGE_PAGE);
            let end = (start + bytes) / HUGE_PAGE * HUGE_PAGE;
            if end > aligned {
                // SAFETY: the range lies inside the buffer's allocation, and
                // MADV_HUGEPAGE is advice that changes no contents; a refusal
                // (THP disabled) just leaves normal pages.
                unsafe {
                    libc::madvise(
                        aligned as *mut libc::c_void,
                        end - aligned,
                        libc::MADV_HUGEPAGE,
                    );
                }
            }
        }
    }
    buffer
}

/// Appends `len` values to `out` without initialising them first: `fill`
/// gets the `len` new slots, uninitialised, and must write every one of them
/// (the kernels' `*_into` writers do: one slot per input row). Its result is
/// returned.
///
/// Writing each slot once, instead of zeroing the buffer and then writing it
/// again, saves a pass over memory that costs as much as a fast kernel.
pub fn append_filled<T, R>(
    out: &mut Vec<T>,
    len: usize,
    fill: impl FnOnce(&mut [MaybeUninit<T>]) -> R,
) -> R {
    let start = out.len();
    out.reserve(len);
    let result = fill(&mut out.spare_capacity_mut()[..len]);
    // SAFETY: `fill` wrote every one of the `len` slots after `start` (its
    // contract above); a panic inside it leaves `out` as it was.
    unsafe { out.set_len(start + len) };
    result
}

/// A new buffer of `len` values, written by `fill` as in [`append_filled`].
pub fn filled<T>(len: usize, fill: impl FnOnce(&mut [MaybeUninit<T>])) -> Vec<T> {
    let mut out = output_buffer(len);
    append_filled(&mut out, len, fill);
    out
}

/// Has `fill` write every one of `slots` (as in [`append_filled`]), and
/// returns its result and the values written: for scratch space that is
/// written again and again, such as a block on the stack.
pub fn write_slots<T, R>(
    slots: &mut [MaybeUninit<T>],
    fill: impl FnOnce(&mut [MaybeUninit<T>]) -> R,
) -> (R, &[T]) {
    let result = fill(slots);
    // SAFETY: `fill` wrote every slot (its contract), and MaybeUninit<T> has
    // the layout of T.
    let values = unsafe { &*(slots as *const [MaybeUninit<T>] as *const [T]) };
    (result, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_after_what_is_there() {
        let mut out = vec![1u32, 2];
        let returned = append_filled(&mut out, 3, |slots| {
            for (i, slot) in slots.iter_mut().enumerate() {
                slot.write(10 + i as u32);
            }
            slots.len()
        });
        assert_eq!(returned, 3);
        assert_eq!(out, [1, 2, 10, 11, 12]);
    }

    #[test]
    fn written_slots_read_back() {
        let mut block = [MaybeUninit::uninit(); 4];
        let (sum, values) = write_slots(&mut block[..3], |slots| {
            for (i, slot) in slots.iter_mut().enumerate() {
                slot.write(i as u32 * 2);
            }
            slots.len()
        });
        assert_eq!((sum, values), (3, &[0, 2, 4][..]));
    }

    #[test]
    fn large_buffers_have_room_for_every_value() {
        for len in [0, 1, 1 << 20, (4 << 20) + 3] {
            let out = filled(len, |slots| {
                slots.iter_mut().for_each(|slot| {
                    slot.write(7u64);
                })
            });
            assert_eq!(out.len(), len);
            assert!(out.iter().all(|&v| v == 7));
        }
    }
}
