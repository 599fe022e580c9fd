//! The settings of RPC, kept apart from the endpoint's `Config`.
//!
//! Only numbers and their check live here; nothing reads a clock or a socket.

use crate::{Config, Delivery};

use super::RpcError;

/// Limits and defaults of RPC on one endpoint. Both sides should use the
/// same limits: a peer that sends past this side's size or in-progress
/// limits is disconnected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcConfig {
    /// The channel calls and answers ride: an index into `Config::channels`,
    /// whose mode must be reliable. The channel is reserved for RPC: any
    /// other message on it is an undecodable frame. Default `None`: the first
    /// channel of mode `Delivery::Reliable` (channel 2 of the default
    /// channels).
    pub channel: Option<u8>,
    /// Most calls this side may have waiting for an answer from one peer; a
    /// call past it fails at once with [`RpcError::TooManyPending`]. Default 64.
    pub max_pending_calls: usize,
    /// Most calls of one peer this side runs at once (answered later, or
    /// waiting to be sent); a peer past it is disconnected. Default 64.
    pub max_incoming_calls: usize,
    /// Largest encoded arguments, in bytes. A local call past it fails with
    /// [`RpcError::ArgsTooLarge`]; a peer that sends larger is disconnected.
    /// Default 64 KiB.
    pub max_args_bytes: usize,
    /// Largest encoded reply or error, in bytes. A local responder's answer
    /// past it is sent as abandoned; a peer that sends larger is
    /// disconnected. Default 64 KiB.
    pub max_reply_bytes: usize,
}

impl Default for RpcConfig {
    fn default() -> Self {
        RpcConfig {
            channel: None,
            max_pending_calls: 64,
            max_incoming_calls: 64,
            max_args_bytes: 64 * 1024,
            max_reply_bytes: 64 * 1024,
        }
    }
}

/// Room for a frame header (kind, call id, command id) on top of a body.
pub(crate) const MAX_FRAME_HEADER: usize = 1 + 5 + 4;

impl RpcConfig {
    /// Checks these settings against the endpoint's and returns the RPC channel.
    pub fn validate(&self, endpoint: &Config) -> Result<u8, RpcError> {
        let channel = match self.channel {
            Some(channel) => channel,
            None => endpoint
                .channel_for(Delivery::Reliable)
                .ok_or(RpcError::InvalidConfig(
                    "no channel of mode Delivery::Reliable",
                ))?,
        };
        match endpoint.channels.get(usize::from(channel)) {
            Some(mode) if mode.is_reliable() => {}
            Some(_) => return Err(RpcError::InvalidConfig("the rpc channel is not reliable")),
            None => return Err(RpcError::InvalidConfig("the rpc channel is not configured")),
        }
        if self.max_pending_calls == 0 || self.max_incoming_calls == 0 {
            return Err(RpcError::InvalidConfig("call limits must be at least 1"));
        }
        let largest = self.max_args_bytes.max(self.max_reply_bytes) + MAX_FRAME_HEADER;
        if largest > endpoint.max_message_size {
            return Err(RpcError::InvalidConfig(
                "max_args_bytes and max_reply_bytes must fit Config::max_message_size",
            ));
        }
        Ok(channel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_channel_is_the_first_reliable_one() {
        let config = Config::default();
        assert_eq!(RpcConfig::default().validate(&config), Ok(2));
        let ordered = RpcConfig {
            channel: Some(3),
            ..RpcConfig::default()
        };
        assert_eq!(ordered.validate(&config), Ok(3));
    }

    #[test]
    fn bad_settings_are_refused() {
        let config = Config::default();
        let unreliable = RpcConfig {
            channel: Some(0),
            ..RpcConfig::default()
        };
        assert!(unreliable.validate(&config).is_err());
        let missing = RpcConfig {
            channel: Some(9),
            ..RpcConfig::default()
        };
        assert!(missing.validate(&config).is_err());
        let huge = RpcConfig {
            max_args_bytes: config.max_message_size,
            ..RpcConfig::default()
        };
        assert!(huge.validate(&config).is_err());
        let none = RpcConfig {
            max_pending_calls: 0,
            ..RpcConfig::default()
        };
        assert!(none.validate(&config).is_err());
    }
}
