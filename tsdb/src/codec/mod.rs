//! Sample encodings: the bit stream, Gorilla's delta-of-delta and XOR streams, scaled-decimal
//! integer sequences, and the sealed chunk format that picks the smallest of them.

mod bits;
mod chunk;
mod decimal;
mod floats;
mod gorilla;
mod intseq;
mod varint;

pub(crate) use chunk::{ChunkEncoder, decode_chunk, read_header};
pub(crate) use decimal::{POW10, from_scaled, to_scaled};
pub(crate) use floats::{decode_float_column, encode_float_column};
pub(crate) use gorilla::{GorillaEncoder, GorillaStreams};
pub(crate) use intseq::{decode_int_column, encode_int_column};
pub(crate) use varint::{get_uvarint, get_zigzag, put_uvarint, put_zigzag};
