//! Keys of any type as bytes, and the per-key slots found by hashing them:
//! the pure half of the streaming states in `src/states/`.
//!
//! A key (one value per key column) is written as the concatenation of its
//! columns' encodings, each self-delimiting, so any number of columns of any
//! kind make one byte string. Equal keys, as Polars groups them, have equal
//! bytes: every integer width writes the same bytes for the same number, a
//! Float32 the same as the Float64 it converts to exactly, -0.0 the same as
//! 0.0 and every NaN the same NaN. So a key keeps its state when the column's
//! dtype changes from one batch to the next (Int32 then Int64), and the bytes
//! can be hashed and compared without knowing the columns' types.

//! `encoding` writes and reads the keys, `rows` holds a batch's keys, and
//! `sharded` numbers them in hash tables; only what `src/states/` uses is
//! exported.

mod encoding;
mod rows;
mod sharded;

pub use encoding::{
    compare, decode, push_bool, push_bytes, push_float, push_int, push_length, push_null,
    push_uint, Cell, Codec,
};
pub use rows::{BatchGroups, EncodedRows};
pub use sharded::ShardedKeys;
