//! RPC on a [`Client`]: the glue between its public API and the sans-IO
//! [`RpcCore`], so the client calls its server and answers the server's calls.
//!
//! It reads the client's events, takes the messages of the RPC channel for
//! itself and passes every other event on; it never reaches inside the
//! client, and never sends anything but RPC frames on the RPC channel.

use std::time::Duration;

use crate::{Client, ClientEvent, PeerId};

use super::command::Command;
use super::config::RpcConfig;
use super::core::{RpcCore, RpcStats};
use super::future::CallFuture;
use super::outcome::{CallId, RpcError, RpcEvent};
use super::responders::PendingReply;
use super::server::sent;

/// The peer id a client's RPC gives its server.
pub const SERVER: PeerId = 0;

/// What [`RpcClient::update`] reports: the client's own events (all but
/// the messages of the RPC channel) and RPC's.
#[derive(Debug, Clone, PartialEq)]
pub enum RpcClientEvent {
    /// An event of the wrapped client.
    Client(ClientEvent),
    /// An outcome of a call, or a violation.
    Rpc(RpcEvent),
}

/// A [`Client`] that calls its server and answers the server's calls. `S`
/// is the game state handed to responders on each [`update`](Self::update).
/// Its server is the peer [`SERVER`]; each connection starts with no calls,
/// and the calls of one that ended failed with connection lost. Handlers
/// registered on the wrapped client are not called: `update` drains the
/// client's events and returns them.
#[derive(Debug)]
pub struct RpcClient<S = ()> {
    client: Client,
    core: RpcCore<S>,
    channel: u8,
    events: Vec<RpcClientEvent>,
}

super::responders::responder_methods!(RpcClient);

impl<S> RpcClient<S> {
    /// Wraps `client`; calls are timed by its transport's clock (virtual on a
    /// simulated network).
    pub fn new(client: Client, config: RpcConfig) -> Result<Self, RpcError> {
        let channel = config.validate(client.config())?;
        let mut core = RpcCore::new(config);
        if client.is_connected() {
            core.connected(SERVER);
        }
        Ok(RpcClient {
            client,
            core,
            channel,
            events: Vec::new(),
        })
    }

    /// The wrapped client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The wrapped client, to connect, send or disconnect. Messages sent on
    /// the RPC channel by hand break its RPC.
    pub fn client_mut(&mut self) -> &mut Client {
        &mut self.client
    }

    /// RPC's counters.
    pub fn stats(&self) -> RpcStats {
        self.core.stats()
    }

    /// Calls waiting for their answer.
    pub fn pending_calls(&self) -> usize {
        self.core.pending_calls(SERVER)
    }

    /// Calls `C` on the server; the outcome comes from a later
    /// [`update`](Self::update) as [`RpcEvent::Answered`] with peer [`SERVER`].
    pub fn call<C: Command>(
        &mut self,
        args: &C::Args,
        timeout: Duration,
    ) -> Result<CallId, RpcError> {
        let id = self
            .core
            .call::<C>(self.client.now(), SERVER, args, timeout)?;
        self.transmit();
        Ok(id)
    }

    /// Like [`call`](Self::call), with the outcome as a future.
    pub fn call_future<C: Command>(
        &mut self,
        args: &C::Args,
        timeout: Duration,
    ) -> Result<CallFuture<C>, RpcError> {
        let future = self
            .core
            .call_future::<C>(self.client.now(), SERVER, args, timeout)?;
        self.transmit();
        Ok(future)
    }

    /// Updates the client, runs responders with `state`, ends calls that
    /// were answered or timed out, and sends the answers. Returns the
    /// client's events and RPC's, the client's first.
    pub fn update(&mut self, state: &mut S) -> std::vec::Drain<'_, RpcClientEvent> {
        let now = self.client.now();
        for event in self.client.update_events() {
            match event {
                ClientEvent::Message(message) if message.channel == self.channel => {
                    self.core.handle_message(SERVER, &message.payload, state);
                }
                ClientEvent::ConnectAccepted => {
                    self.core.connected(SERVER);
                    self.events.push(RpcClientEvent::Client(event));
                }
                ClientEvent::Error(_)
                | ClientEvent::Disconnected(_)
                | ClientEvent::ConnectRejected(_) => {
                    self.core.disconnected(SERVER);
                    self.events.push(RpcClientEvent::Client(event));
                }
                other => self.events.push(RpcClientEvent::Client(other)),
            }
        }
        self.core.handle_timeout(now);
        self.transmit();
        if self.core.drain_disconnects().next().is_some() {
            self.client.disconnect();
        }
        self.client.flush();
        self.events
            .extend(self.core.drain_events().map(RpcClientEvent::Rpc));
        self.events.drain(..)
    }

    /// Waits like [`Client::wait`], at most until the next call deadline.
    pub fn wait(&mut self, max: Duration) {
        let max = match self.core.next_deadline() {
            Some(deadline) => max.min(deadline.saturating_duration_since(self.client.now())),
            None => max,
        };
        self.client.wait(max);
    }

    fn transmit(&mut self) {
        let client = &mut self.client;
        let channel = self.channel;
        self.core
            .poll_transmit(|_, frame| sent(client.send_on(channel, frame)));
    }
}
