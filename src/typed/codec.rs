//! The encoding of typed messages: the [`Codec`] trait a game may implement
//! for its own format, and the default, [`Bincode`]: bincode's standard
//! configuration through serde, with a decode that a hostile peer cannot
//! make allocate wildly.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Error, PeerId};

/// Turns a game's messages of type `M` into bytes and back, for
/// [`TypedClient`](crate::TypedClient) and [`TypedServer`](crate::TypedServer).
///
/// A decode sees bytes a hostile peer chose: it must fail with an error,
/// never panic, and never allocate more than the input justifies.
///
/// ```
/// use bytes::Bytes;
/// use lentil::{Codec, Error};
///
/// /// Messages that are UTF-8 text, as they are.
/// #[derive(Debug, Clone, Copy, Default)]
/// struct Text;
///
/// impl Codec<String> for Text {
///     fn encode(&self, value: &String) -> Result<Bytes, Error> {
///         Ok(Bytes::copy_from_slice(value.as_bytes()))
///     }
///     fn decode(&self, bytes: &[u8]) -> Result<String, Error> {
///         String::from_utf8(bytes.to_vec()).map_err(|e| Error::Codec(e.to_string()))
///     }
/// }
///
/// let server: lentil::TypedServer<String, Text> =
///     lentil::TypedServer::with_codec(lentil::Server::new(lentil::Config::default()), Text);
/// # drop(server);
/// ```
pub trait Codec<M>: Send + 'static {
    /// The bytes of `value`.
    fn encode(&self, value: &M) -> Result<Bytes, Error>;
    /// The message in `bytes`; an error names what was wrong with them.
    fn decode(&self, bytes: &[u8]) -> Result<M, Error>;
}

/// The default codec: bincode 2's standard configuration through serde.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bincode;

impl<M: Serialize + DeserializeOwned> Codec<M> for Bincode {
    fn encode(&self, value: &M) -> Result<Bytes, Error> {
        encode(value)
    }

    fn decode(&self, bytes: &[u8]) -> Result<M, Error> {
        decode(bytes)
    }
}

/// Encodes `value` as a typed message.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Bytes, Error> {
    bincode::serde::encode_to_vec(value, bincode::config::standard())
        .map(Bytes::from)
        .map_err(|e| Error::Codec(e.to_string()))
}

/// Decodes bytes made by [`encode`]; trailing bytes are an error.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let (value, used) = decode_prefix(bytes).map_err(|e| Error::Codec(e.to_string()))?;
    if used != bytes.len() {
        return Err(Error::Codec(format!(
            "{} trailing bytes",
            bytes.len() - used
        )));
    }
    Ok(value)
}

/// A codec's failure to decode a message from `peer` (`None`: the server),
/// as the game is told of it.
pub(crate) fn decode_error(error: Error, peer: Option<PeerId>) -> Error {
    Error::Decode {
        peer,
        reason: match error {
            Error::Codec(reason) => reason,
            other => other.to_string(),
        },
    }
}

/// How much bincode may claim per input byte. bincode allocates a string's
/// buffer from its length prefix before reading it, so without a limit ten
/// hostile bytes could ask for exabytes and abort the process. It also
/// claims the in-memory size of every number it decodes (at most 16 bytes,
/// for a `u128` encoded in one byte), so a limit of 32 times the input never
/// refuses a well-formed message.
const CLAIM_PER_BYTE: usize = 32;

/// Decodes the start of `bytes`, with a byte limit that grows with the input
/// (bincode takes it as a type parameter, hence the steps).
fn decode_prefix<T: DeserializeOwned>(
    bytes: &[u8],
) -> Result<(T, usize), bincode::error::DecodeError> {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * KIB;
    match bytes.len() {
        len if len <= 4 * KIB => limited::<T, { 4 * KIB * CLAIM_PER_BYTE }>(bytes),
        len if len <= 256 * KIB => limited::<T, { 256 * KIB * CLAIM_PER_BYTE }>(bytes),
        len if len <= 4 * MIB => limited::<T, { 4 * MIB * CLAIM_PER_BYTE }>(bytes),
        _ => limited::<T, { 32 * MIB * CLAIM_PER_BYTE }>(bytes),
    }
}

fn limited<T: DeserializeOwned, const LIMIT: usize>(
    bytes: &[u8],
) -> Result<(T, usize), bincode::error::DecodeError> {
    let config = bincode::config::standard().with_limit::<LIMIT>();
    bincode::serde::decode_from_slice(bytes, config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    enum Msg {
        Say(String),
        Numbers(Vec<u64>),
        Wide(Vec<u128>),
    }

    #[test]
    fn round_trips_and_rejects_trailing_bytes() {
        let msg = Msg::Say("hello".into());
        let bytes = encode(&msg).unwrap();
        assert_eq!(decode::<Msg>(&bytes).unwrap(), msg);
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(matches!(decode::<Msg>(&longer), Err(Error::Codec(e)) if e.contains("trailing")));
    }

    #[test]
    fn a_huge_length_prefix_fails_without_allocating() {
        // Variant 0 (Say), then a varint length of u64::MAX and no body.
        let mut hostile = vec![0u8, 0xFF];
        hostile.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode::<Msg>(&hostile).is_err());
        // A length just under the limit of its step also fails, on the missing bytes.
        let mut near = vec![0u8, 0xFC];
        near.extend_from_slice(&(100_000u32).to_le_bytes());
        assert!(decode::<Msg>(&near).is_err());
    }

    #[test]
    fn numbers_that_claim_more_than_they_take_still_decode() {
        // Each small number takes one byte on the wire but claims its full width.
        for len in [10, 5_000, 300_000] {
            let wide = Msg::Wide(vec![1; len]);
            assert_eq!(decode::<Msg>(&encode(&wide).unwrap()).unwrap(), wide);
            let narrow = Msg::Numbers(vec![7; len]);
            assert_eq!(decode::<Msg>(&encode(&narrow).unwrap()).unwrap(), narrow);
        }
    }
}
