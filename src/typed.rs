//! Typed messages: any `serde` type, encoded with bincode's standard config.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::Error;

/// Encodes `value` for `send_typed`.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Bytes, Error> {
    bincode::serde::encode_to_vec(value, bincode::config::standard())
        .map(Bytes::from)
        .map_err(|e| Error::Codec(e.to_string()))
}

/// Decodes bytes made by [`encode`]; trailing bytes are an error.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let (value, used) = bincode::serde::decode_from_slice(bytes, bincode::config::standard())
        .map_err(|e| Error::Codec(e.to_string()))?;
    if used != bytes.len() {
        return Err(Error::Codec(format!(
            "{} trailing bytes",
            bytes.len() - used
        )));
    }
    Ok(value)
}
