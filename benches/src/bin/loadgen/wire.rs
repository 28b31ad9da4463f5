//! The Ingest stream as the load generator speaks it: batches are protobuf-encoded once,
//! before they are sent, and go out as bytes with only their seq written at sending time.
//! Encoding a dataset ahead of the run keeps the generator's CPU (which shares the machine
//! with the aggregator) out of the measurement, as a prepared file sent with curl is for
//! VictoriaMetrics's import; the aggregator receives exactly what `AgentMessage` encodes.

use bytes::Bytes;
use prost::Message as _;
use prost::encoding::{encode_varint, encoded_len_varint};
use sysmon_proto::v1;
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// The gRPC method of the Ingest stream.
pub(crate) const STREAM_PATH: &str = "/sysmon.v1.Ingest/Stream";

/// A `Batch` encoded without its seq (proto3 leaves a zero seq out).
#[derive(Debug, Clone)]
pub(crate) struct EncodedBatch {
    pub(crate) body: Bytes,
    pub(crate) samples: usize,
}

impl EncodedBatch {
    /// Encodes `batch`, whose seq must be 0.
    pub(crate) fn new(batch: &v1::Batch) -> Self {
        debug_assert_eq!(batch.seq, 0, "the seq is written when the batch is sent");
        let samples = batch.samples.as_ref().map_or(0, |s| s.values.len());
        Self { body: Bytes::from(batch.encode_to_vec()), samples }
    }
}

/// What an agent sends on its stream.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A message encoded as it is sent (the Hello).
    Message(Box<v1::AgentMessage>),
    /// An encoded batch under `seq`.
    Batch { seq: u64, body: Bytes },
}

/// `AgentMessage.batch` (field 2, length-delimited) and `Batch.seq` (field 1, varint).
const AGENT_MESSAGE_BATCH_TAG: u64 = (2 << 3) | 2;
const BATCH_SEQ_TAG: u64 = 1 << 3;

/// Encodes [`Outgoing`] and decodes `AggregatorMessage`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct IngestCodec;

impl Codec for IngestCodec {
    type Encode = Outgoing;
    type Decode = v1::AggregatorMessage;
    type Encoder = IngestCodec;
    type Decoder = IngestCodec;

    fn encoder(&mut self) -> Self::Encoder {
        *self
    }

    fn decoder(&mut self) -> Self::Decoder {
        *self
    }
}

impl Encoder for IngestCodec {
    type Item = Outgoing;
    type Error = Status;

    fn encode(&mut self, item: Outgoing, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        match item {
            Outgoing::Message(message) => {
                message.encode(dst).map_err(|e| Status::internal(format!("encoding a message: {e}")))
            }
            Outgoing::Batch { seq, body } => {
                write_batch(seq, &body, dst);
                Ok(())
            }
        }
    }
}

/// Writes the `AgentMessage` of an encoded batch body under `seq`. Fields may come in any
/// order; this puts the seq first, as prost does.
fn write_batch(seq: u64, body: &[u8], dst: &mut impl bytes::BufMut) {
    let seq_len = if seq == 0 { 0 } else { 1 + encoded_len_varint(seq) };
    encode_varint(AGENT_MESSAGE_BATCH_TAG, dst);
    encode_varint((seq_len + body.len()) as u64, dst);
    if seq != 0 {
        encode_varint(BATCH_SEQ_TAG, dst);
        encode_varint(seq, dst);
    }
    dst.put_slice(body);
}

impl Decoder for IngestCodec {
    type Item = v1::AggregatorMessage;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<v1::AggregatorMessage>, Status> {
        v1::AggregatorMessage::decode(src)
            .map(Some)
            .map_err(|e| Status::internal(format!("decoding the aggregator's message: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encoded_batch_with_its_seq_is_the_message_prost_encodes() {
        let batch = v1::Batch {
            seq: 0,
            strings: vec!["__name__".into(), "up".into()],
            series: vec![v1::Series { labels: vec![0, 1] }],
            samples: Some(v1::Samples { series: vec![0], timestamps_ms: vec![1_700_000_000_000], values: vec![1.0] }),
            ..Default::default()
        };
        let encoded = EncodedBatch::new(&batch);
        assert_eq!(encoded.samples, 1);
        for seq in [0, 1, 300, u64::MAX] {
            let mut buf = Vec::new();
            write_batch(seq, &encoded.body, &mut buf);
            let expected =
                v1::AgentMessage { kind: Some(v1::agent_message::Kind::Batch(v1::Batch { seq, ..batch.clone() })) };
            assert_eq!(v1::AgentMessage::decode(&buf[..]).unwrap(), expected, "seq {seq}");
            assert_eq!(buf.to_vec(), expected.encode_to_vec(), "seq {seq}");
        }
    }
}
