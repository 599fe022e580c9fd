//! Transports move datagrams between addresses and own nothing of the protocol.
//!
//! Two implementations share the [`Socket`] trait: [`udp::UdpSocket`] over the
//! operating system through `mio`, and [`sim::SimSocket`] on an in-memory
//! [`sim::SimNetwork`] with a seeded link conditioner and virtual time. A
//! transport never parses a datagram and never blocks unless asked to wait.

#[cfg(target_os = "linux")]
mod batch;
#[cfg(target_os = "linux")]
mod send_batch;
pub mod sim;
pub mod udp;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// A bound, non-blocking datagram socket: what the endpoints send and
/// receive through, implemented by [`UdpSocket`](udp::UdpSocket) and
/// [`SimSocket`](sim::SimSocket).
///
/// ```
/// use lentil::{SimNetwork, Socket};
///
/// /// Sends every datagram of `batch` to `to` through any transport.
/// fn send_all(socket: &mut dyn Socket, batch: &[&[u8]], to: std::net::SocketAddr) -> usize {
///     let refused_now = batch.iter().filter(|d| socket.queue_send(d, to).is_err()).count();
///     refused_now + socket.flush_sends()
/// }
///
/// let net = SimNetwork::new(0);
/// let mut a = net.bind("127.0.0.1:1".parse().unwrap())?;
/// let b = net.bind("127.0.0.1:2".parse().unwrap())?;
/// assert_eq!(send_all(&mut a, &[b"one", b"two"], b.local_addr()), 0);
/// assert_eq!(net.in_flight(), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait Socket: Send {
    /// Sends one datagram. A datagram the transport cannot take right now
    /// (a full OS buffer) is reported as `ErrorKind::WouldBlock`; the caller
    /// counts it as dropped, as the network would.
    fn send_to(&mut self, data: &[u8], to: SocketAddr) -> io::Result<()>;

    /// Sends one datagram, or holds it to leave together with the datagrams
    /// queued after it (one system call for many) at the latest at the next
    /// [`flush_sends`](Self::flush_sends). Datagrams leave in the order they
    /// were queued, also relative to [`send_to`](Self::send_to). An error is
    /// a datagram refused at once; those refused later are counted by
    /// `flush_sends`. Transports that do not batch send at once.
    fn queue_send(&mut self, data: &[u8], to: SocketAddr) -> io::Result<()> {
        self.send_to(data, to)
    }

    /// Sends every datagram [`queue_send`](Self::queue_send) holds and
    /// returns how many of those queued since the last call the transport
    /// refused; the caller counts them as dropped. Call it at the end of
    /// each transmit phase, so nothing waits in the batch for the next.
    fn flush_sends(&mut self) -> usize {
        0
    }

    /// Receives one datagram into `buf` if one is ready, returning its length
    /// and sender. `Ok(None)` means nothing is ready. A datagram longer than
    /// `buf` is truncated to `buf.len()`.
    fn recv_from(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, SocketAddr)>>;

    /// The senders of the datagrams a batched receive took in together with
    /// the one `recv_from` just returned, not yet handed out; empty unless
    /// that call began a new batch. A server looks their peers up ahead, so
    /// the memory reads for a whole batch overlap instead of each datagram
    /// waiting for its own.
    fn batch_senders(&self) -> &[Option<SocketAddr>] {
        &[]
    }

    /// The address this socket is bound to.
    fn local_addr(&self) -> SocketAddr;

    /// Waits until a datagram may be ready or `timeout` passes. The simulated
    /// transport returns at once: its time only moves when the test moves it.
    fn wait(&mut self, timeout: Duration) -> io::Result<()>;
}
