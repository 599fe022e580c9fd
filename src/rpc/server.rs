//! RPC on a [`Server`]: the glue between its public API and the sans-IO
//! [`RpcCore`], so the server answers its clients' calls and calls them.
//!
//! It reads the server's events, takes the messages of the RPC channel for
//! itself and passes every other event on; it never reaches inside the
//! server, and never sends anything but RPC frames on the RPC channel.

use std::time::Duration;

use crate::{DisconnectReason, Error, PeerId, Server, ServerEvent};

use super::command::Command;
use super::config::RpcConfig;
use super::core::{RpcCore, RpcStats};
use super::future::CallFuture;
use super::outbox::Sent;
use super::outcome::{CallId, RpcError, RpcEvent};
use super::responders::PendingReply;

/// What [`RpcServer::update`] reports: the server's own events (all but the
/// messages of the RPC channel) and RPC's.
#[derive(Debug, Clone, PartialEq)]
pub enum RpcServerEvent {
    /// An event of the wrapped server.
    Server(ServerEvent),
    /// An outcome of a call, or a violation.
    Rpc(RpcEvent),
}

/// A [`Server`] whose clients it answers and calls. `S` is the game state
/// handed to responders on each [`update`](Self::update). Handlers
/// registered on the wrapped server are not called (except
/// `on_connect_request`): `update` drains the server's events and returns them.
///
/// ```
/// use std::time::Duration;
/// use lentil::rpc::{Command, RpcClient, RpcClientEvent, RpcConfig, RpcEvent, RpcServer};
/// use lentil::{Client, ClientEvent, Config, Server, SimNetwork};
///
/// struct Add;
/// impl Command for Add {
///     const NAME: &'static str = "math.add";
///     type Args = (i32, i32);
///     type Reply = i32;
///     type Error = ();
/// }
///
/// let net = SimNetwork::new(1);
/// let mut server = Server::sandbox(Config::default(), &net);
/// server.listen("127.0.0.1:9000")?;
/// let mut server = RpcServer::new(server, RpcConfig::default()).unwrap();
/// server.respond::<Add, _>(|_state: &mut (), _peer, (a, b)| Ok(a + b)).unwrap();
///
/// let mut client = Client::sandbox(Config::default(), &net);
/// client.connect("127.0.0.1:9000")?;
/// let mut client = RpcClient::new(client, RpcConfig::default()).unwrap();
/// let mut sum = None;
/// for _tick in 0..200 {
///     server.update(&mut ()).for_each(drop);
///     let events: Vec<_> = client.update(&mut ()).collect();
///     for event in events {
///         match event {
///             RpcClientEvent::Client(ClientEvent::ConnectAccepted) => {
///                 client.call::<Add>(&(2, 3), Duration::from_secs(1)).unwrap();
///             }
///             RpcClientEvent::Rpc(RpcEvent::Answered(answer)) => sum = Some(answer.decode::<Add>()),
///             _ => {}
///         }
///     }
///     net.clock().advance(Duration::from_millis(1));
/// }
/// assert_eq!(sum, Some(Ok(5)));
/// # Ok::<(), lentil::Error>(())
/// ```
#[derive(Debug)]
pub struct RpcServer<S = ()> {
    server: Server,
    core: RpcCore<S>,
    channel: u8,
    events: Vec<RpcServerEvent>,
}

super::responders::responder_methods!(RpcServer);

impl<S> RpcServer<S> {
    /// Wraps `server`; calls are timed by its transport's clock (virtual on a
    /// simulated network).
    pub fn new(server: Server, config: RpcConfig) -> Result<Self, RpcError> {
        let channel = config.validate(server.config())?;
        let mut core = RpcCore::new(config);
        for peer in server.peers() {
            core.connected(peer);
        }
        Ok(RpcServer {
            server,
            core,
            channel,
            events: Vec::new(),
        })
    }

    /// The wrapped server.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// The wrapped server, to send, listen or disconnect. Messages sent on
    /// the RPC channel by hand break the peer's RPC.
    pub fn server_mut(&mut self) -> &mut Server {
        &mut self.server
    }

    /// The RPC channel.
    pub fn channel(&self) -> u8 {
        self.channel
    }

    /// RPC's counters.
    pub fn stats(&self) -> RpcStats {
        self.core.stats()
    }

    /// Calls to `peer` waiting for their answer.
    pub fn pending_calls(&self, peer: PeerId) -> usize {
        self.core.pending_calls(peer)
    }

    /// Calls `C` on the client `peer`; the outcome comes from a later
    /// [`update`](Self::update) as [`RpcEvent::Answered`].
    pub fn call<C: Command>(
        &mut self,
        peer: PeerId,
        args: &C::Args,
        timeout: Duration,
    ) -> Result<CallId, RpcError> {
        let id = self
            .core
            .call::<C>(self.server.now(), peer, args, timeout)?;
        self.transmit();
        Ok(id)
    }

    /// Like [`call`](Self::call), with the outcome as a future.
    pub fn call_future<C: Command>(
        &mut self,
        peer: PeerId,
        args: &C::Args,
        timeout: Duration,
    ) -> Result<CallFuture<C>, RpcError> {
        let future = self
            .core
            .call_future::<C>(self.server.now(), peer, args, timeout)?;
        self.transmit();
        Ok(future)
    }

    /// Updates the server, runs responders with `state`, ends calls that
    /// were answered or timed out, and sends the answers. Returns the
    /// server's events and RPC's, the server's first.
    pub fn update(&mut self, state: &mut S) -> std::vec::Drain<'_, RpcServerEvent> {
        let now = self.server.now();
        for event in self.server.update_events() {
            match event {
                ServerEvent::Message { peer, message } if message.channel == self.channel => {
                    self.core.handle_message(peer, &message.payload, state);
                }
                ServerEvent::Connected { peer, .. } => {
                    self.core.connected(peer);
                    self.events.push(RpcServerEvent::Server(event));
                }
                ServerEvent::Error { peer, .. } | ServerEvent::Disconnected { peer, .. } => {
                    self.core.disconnected(peer);
                    self.events.push(RpcServerEvent::Server(event));
                }
                other => self.events.push(RpcServerEvent::Server(other)),
            }
        }
        self.core.handle_timeout(now);
        self.transmit();
        for (peer, violation) in self.core.drain_disconnects() {
            let reason = DisconnectReason::Custom(violation.to_string());
            self.server.disconnect_with(peer, reason);
        }
        // Answers made in this update leave now rather than a tick later.
        self.server.flush();
        self.events
            .extend(self.core.drain_events().map(RpcServerEvent::Rpc));
        self.events.drain(..)
    }

    /// Waits like [`Server::wait`], at most until the next call deadline.
    pub fn wait(&mut self, max: Duration) {
        let max = match self.core.next_deadline() {
            Some(deadline) => max.min(deadline.saturating_duration_since(self.server.now())),
            None => max,
        };
        self.server.wait(max);
    }

    fn transmit(&mut self) {
        let server = &mut self.server;
        let channel = self.channel;
        self.core
            .poll_transmit(|peer, frame| sent(server.send_on(peer, channel, frame)));
    }
}

/// What an endpoint's send result means for a frame.
pub(crate) fn sent(result: Result<(), Error>) -> Sent {
    match result {
        Ok(()) => Sent::Sent,
        Err(Error::QueueFull { .. }) => Sent::Retry,
        Err(_) => Sent::Dropped,
    }
}
