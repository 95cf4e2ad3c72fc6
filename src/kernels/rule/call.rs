//! The one interface between Rust and a rule's generated code: the block of
//! rows a generated function reads ([`Call`], laid out as in C, with the
//! byte offsets the code loads its fields at), and the entry points that
//! call it ([`JitFns`]).

use std::mem::offset_of;

/// What a generated function reads: one block of rows. Laid out as in C,
/// so that the code can load each field at its fixed offset below.
#[repr(C)]
pub struct Call {
    /// Row 0 of the values (the block starts at row `start`).
    pub values: *const f64,
    /// Row 0 of each input column.
    pub inputs: *const *const f64,
    /// The validity bitmap (least significant bit first), null when every
    /// row is valid; row 0 is bit `mask_offset`.
    pub mask: *const u8,
    pub mask_offset: usize,
    pub start: usize,
    pub len: usize,
    /// By keys: the key id of each row of the block, indexing `states`.
    pub ids: *const u32,
    pub states: *mut f64,
    /// Where the block's scores go: for each of a state's numbers, its slot
    /// in the block's first row; row `r`'s is `out_stride * r` bytes on. So
    /// the numbers go side by side (`out_stride` a state's bytes) or each
    /// into a column of its own (`out_stride` 8).
    pub outs: *const *mut f64,
    pub out_stride: usize,
    /// One series: the state before the block, where the code leaves the
    /// state after it.
    pub state: *mut f64,
}

/// Byte offsets of [`Call`]'s fields, as the generated code loads them.
pub(super) const VALUES: i32 = offset_of!(Call, values) as i32;
pub(super) const INPUTS: i32 = offset_of!(Call, inputs) as i32;
pub(super) const MASK: i32 = offset_of!(Call, mask) as i32;
pub(super) const MASK_OFFSET: i32 = offset_of!(Call, mask_offset) as i32;
pub(super) const START: i32 = offset_of!(Call, start) as i32;
pub(super) const LEN: i32 = offset_of!(Call, len) as i32;
pub(super) const IDS: i32 = offset_of!(Call, ids) as i32;
pub(super) const STATES: i32 = offset_of!(Call, states) as i32;
pub(super) const OUTS: i32 = offset_of!(Call, outs) as i32;
pub(super) const OUT_STRIDE: i32 = offset_of!(Call, out_stride) as i32;
pub(super) const STATE: i32 = offset_of!(Call, state) as i32;

/// The distance between two pointers in `Call::inputs` and in `Call::outs`.
pub(super) const POINTER: i32 = size_of::<*const f64>() as i32;

pub(super) type Kernel = unsafe extern "C" fn(*const Call);

/// The entry points of a compiled rule: plain function pointers, which any
/// thread may call as long as the code they lead to lives.
#[derive(Clone, Copy)]
pub struct JitFns {
    pub(super) score: Kernel,
    pub(super) score_keyed: Kernel,
}

impl JitFns {
    /// Scores the block `call` describes, leaving the state after it in
    /// `call.state`.
    pub fn score(&self, call: &Call) {
        // SAFETY: the caller (`RuleRows`) builds `call` from slices that hold
        // rows `start..start + len`, each state's number's slot in each row at
        // `outs[i] + out_stride * row`, and a state at
        // `state`, and the generated code reads and writes only those.
        unsafe { (self.score)(call) }
    }

    /// Scores the block `call` describes by keys.
    pub fn score_keyed(&self, call: &Call) {
        // SAFETY: as for `score`, and every id is below the states' length.
        unsafe { (self.score_keyed)(call) };
    }
}
