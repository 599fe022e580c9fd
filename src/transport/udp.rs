//! The operating-system transport: a non-blocking UDP socket over `mio`.
//!
//! [`UdpSocket`] owns one `mio` UDP socket and a private `mio::Poll` that the
//! socket is registered with (readable interest only), so [`Socket::wait`] can
//! sleep until a datagram arrives without spinning. It owns no protocol state:
//! it moves bytes, hides the ICMP "port unreachable" noise some platforms
//! report as receive errors, and nothing else.
//!
//! # Draining before waiting
//!
//! `mio` readiness is edge-triggered: an event is reported when new data
//! arrives, not while data is queued. Callers must therefore drain the socket
//! with [`Socket::recv_from`] until it returns `Ok(None)` before calling
//! [`Socket::wait`]. As a safety net, unless the last receive found the socket
//! empty, `wait` first peeks the socket and returns at once if a datagram is
//! already queued, so a caller that stopped draining early loses a little
//! time, never a wake-up. After a receive that found the socket empty the
//! peek is skipped: whatever arrived since raised an event of its own.
//!
//! # Batched sends
//!
//! On Linux, [`Socket::queue_send`] gathers consecutive datagrams to one
//! destination and sends them as one segmentation-offload super-packet (see
//! `send_batch`); [`Socket::flush_sends`] sends what is gathered. A plain
//! [`Socket::send_to`] and [`Socket::wait`] send what is gathered first, so
//! order holds and nothing waits through a sleep.

use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::time::Duration;

use mio::{Events, Interest, Poll, Token};

#[cfg(target_os = "linux")]
use super::batch::RecvBatch;
#[cfg(target_os = "linux")]
use super::send_batch::SendBatch;
use super::Socket;

/// The token the socket is registered under; the poll watches nothing else.
const SOCKET_TOKEN: Token = Token(0);

/// How many consecutive ignorable receive errors (ICMP reports) one
/// `recv_from` call skips before it reports "nothing ready". Each error
/// consumes one queued report, so the bound only guards against a pathological
/// flood keeping the caller in the loop forever; `wait` peeks before
/// sleeping, so anything still queued is not lost.
const MAX_SKIPPED_ERRORS: usize = 1024;

/// A bound, non-blocking UDP socket with its own readiness poll.
#[derive(Debug)]
pub struct UdpSocket {
    socket: mio::net::UdpSocket,
    poll: Poll,
    events: Events,
    local_addr: SocketAddr,
    /// The last receive reported "nothing ready", so every datagram since
    /// has raised a readiness event and `wait` need not peek.
    drained: bool,
    /// Datagrams taken by one batched receive and not yet handed out.
    #[cfg(target_os = "linux")]
    batch: Option<RecvBatch>,
    /// Datagrams queued by `queue_send` and not yet sent.
    #[cfg(target_os = "linux")]
    sends: SendBatch,
}

impl UdpSocket {
    /// Binds a UDP socket to `addr` (IPv4 or IPv6; port 0 picks a free port)
    /// and registers it for readability with a private poll.
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        let socket = mio::net::UdpSocket::bind(addr)?;
        Self::from_mio(socket)
    }

    /// Like [`bind`](Self::bind), then asks the OS for receive and send
    /// buffers of these sizes in bytes (`None`: the OS default). The OS may
    /// grant less (Linux caps them at `net.core.rmem_max`/`wmem_max`); a
    /// refusal is not an error, as the socket works with its default
    /// buffers, only with less room for bursts.
    ///
    /// With `max_datagram`, on Linux, receives are batched: one system call
    /// takes up to 32 queued datagrams of up to `max_datagram` bytes each
    /// (longer ones are truncated), and `recv_from` hands them out in order.
    pub fn bind_with_buffers(
        addr: SocketAddr,
        recv_buffer: Option<usize>,
        send_buffer: Option<usize>,
        max_datagram: Option<usize>,
    ) -> io::Result<Self> {
        let socket = mio::net::UdpSocket::bind(addr)?;
        let sock = socket2::SockRef::from(&socket);
        if let Some(bytes) = recv_buffer {
            if let Err(e) = sock.set_recv_buffer_size(bytes) {
                tracing::debug!(bytes, error = %e, "receive buffer size refused");
            }
        }
        if let Some(bytes) = send_buffer {
            if let Err(e) = sock.set_send_buffer_size(bytes) {
                tracing::debug!(bytes, error = %e, "send buffer size refused");
            }
        }
        let mut udp = Self::from_mio(socket)?;
        #[cfg(target_os = "linux")]
        {
            udp.batch = max_datagram.map(RecvBatch::new);
        }
        #[cfg(not(target_os = "linux"))]
        let _ = max_datagram;
        Ok(udp)
    }

    /// The receive and send buffer sizes the OS granted, in bytes (Linux
    /// reports twice what it grants, counting its bookkeeping).
    pub fn buffer_sizes(&self) -> io::Result<(usize, usize)> {
        let sock = socket2::SockRef::from(&self.socket);
        Ok((sock.recv_buffer_size()?, sock.send_buffer_size()?))
    }

    /// Turns send batching on or off (on Linux, where the kernel supports
    /// UDP segmentation offload; elsewhere there is none to turn on). It is
    /// on by default; off, [`Socket::queue_send`] sends each datagram at
    /// once. Whatever is queued is sent first.
    pub fn set_send_batching(&mut self, on: bool) {
        #[cfg(target_os = "linux")]
        self.sends.set_offload(&self.socket, on);
        #[cfg(not(target_os = "linux"))]
        let _ = on;
    }

    /// Whether [`Socket::queue_send`] batches: on by default where the
    /// kernel supports UDP segmentation offload, off after the kernel
    /// refused a batch on this socket.
    pub fn send_batching(&self) -> bool {
        #[cfg(target_os = "linux")]
        return self.sends.offload();
        #[cfg(not(target_os = "linux"))]
        false
    }

    /// Wraps an already bound standard-library socket, for callers that need
    /// socket options set before use (buffer sizes, `SO_REUSEADDR`, ...). The
    /// socket is switched to non-blocking mode.
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        Self::from_mio(mio::net::UdpSocket::from_std(socket))
    }

    fn from_mio(mut socket: mio::net::UdpSocket) -> io::Result<Self> {
        let local_addr = socket.local_addr()?;
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut socket, SOCKET_TOKEN, Interest::READABLE)?;
        #[cfg(target_os = "linux")]
        let sends = SendBatch::new(&socket);
        Ok(UdpSocket {
            socket,
            poll,
            // One socket, one token: a handful of slots is plenty.
            events: Events::with_capacity(4),
            local_addr,
            drained: false,
            #[cfg(target_os = "linux")]
            batch: None,
            #[cfg(target_os = "linux")]
            sends,
        })
    }

    /// The next datagram: where receives are batched, from the batch (one
    /// system call refills it when it is empty), else from one receive.
    /// `Ok(None)`: a batch came in with no datagram to hand out (senders of
    /// an unknown address family).
    fn next_datagram(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, SocketAddr)>> {
        #[cfg(target_os = "linux")]
        if let Some(batch) = self.batch.as_mut() {
            use super::batch::Mode;
            use std::os::fd::AsRawFd;
            if let Some(got) = batch.pop(buf) {
                return Ok(Some(got));
            }
            if let Mode::Plain { .. } = batch.mode() {
                // Truncated as a batch slot would truncate it.
                let keep = batch.slot_len().min(buf.len());
                let got = self.socket.recv_from(&mut buf[..keep]);
                batch.on_plain_receive(got.is_ok());
                return got.map(Some);
            }
            batch.fill(self.socket.as_raw_fd())?;
            return Ok(batch.pop(buf));
        }
        self.socket.recv_from(buf).map(Some)
    }

    /// Whether a datagram (or a pending socket error) is queued right now.
    fn something_queued(&self) -> bool {
        #[cfg(target_os = "linux")]
        if self.batch.as_ref().is_some_and(|b| b.pending() > 0) {
            return true;
        }
        let mut probe = [0u8; 1];
        match self.socket.peek_from(&mut probe) {
            Ok(_) => true,
            Err(e) if e.kind() == ErrorKind::WouldBlock => false,
            // Anything else (an ICMP report, Windows' "message too long" for
            // the one-byte probe, an interrupted call) means `recv_from` has
            // something to look at or costs one spurious wake-up at worst.
            Err(_) => true,
        }
    }
}

/// Errors a receive reports that concern an earlier datagram or nothing at
/// all, not the socket: skip them and read the next datagram.
fn is_skippable(e: &io::Error) -> bool {
    match e.kind() {
        // Interrupted by a signal before anything was read: retry.
        ErrorKind::Interrupted => true,
        // An ICMP "port unreachable" for an earlier send to a peer that has
        // gone away (Linux reports it on the next receive, Windows as a
        // reset). The socket itself is fine.
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset => true,
        _ => is_truncated_on_windows(e),
    }
}

/// Windows reports a datagram longer than the buffer as `WSAEMSGSIZE` and
/// loses the sender address with it; such a datagram cannot be returned, so
/// it is dropped like any oversized datagram would be.
#[cfg(windows)]
fn is_truncated_on_windows(e: &io::Error) -> bool {
    const WSAEMSGSIZE: i32 = 10040;
    e.raw_os_error() == Some(WSAEMSGSIZE)
}

#[cfg(not(windows))]
fn is_truncated_on_windows(_e: &io::Error) -> bool {
    false
}

impl Socket for UdpSocket {
    fn send_to(&mut self, data: &[u8], to: SocketAddr) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        self.sends.flush(&self.socket);
        loop {
            match self.socket.send_to(data, to) {
                // UDP sends whole datagrams or nothing; the count carries no
                // information.
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // Includes `WouldBlock`: the caller counts it as a drop.
                Err(e) => return Err(e),
            }
        }
    }

    #[cfg(target_os = "linux")]
    fn queue_send(&mut self, data: &[u8], to: SocketAddr) -> io::Result<()> {
        self.sends.push(&self.socket, data, to)
    }

    #[cfg(target_os = "linux")]
    fn flush_sends(&mut self) -> usize {
        self.sends.flush(&self.socket);
        self.sends.take_refused()
    }

    fn recv_from(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, SocketAddr)>> {
        self.drained = false;
        for _ in 0..MAX_SKIPPED_ERRORS {
            match self.next_datagram(buf) {
                Ok(Some(got)) => return Ok(Some(got)),
                // A batch held no datagram to hand out: read on.
                Ok(None) => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.drained = true;
                    return Ok(None);
                }
                Err(e) if is_skippable(&e) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    fn batch_senders(&self) -> &[Option<SocketAddr>] {
        #[cfg(target_os = "linux")]
        if let Some(batch) = self.batch.as_ref() {
            return batch.new_batch_senders();
        }
        &[]
    }

    fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Sleeps until the socket becomes readable or `timeout` passes. Callers
    /// drain with `recv_from` until `Ok(None)` first (see the module docs);
    /// a datagram already queued makes this return at once regardless.
    fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        // A caller that forgot `flush_sends` must not hold datagrams through
        // the sleep; their refusals are reported by the next flush.
        #[cfg(target_os = "linux")]
        self.sends.flush(&self.socket);
        if !self.drained && self.something_queued() {
            return Ok(());
        }
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => Ok(()),
            // A signal woke us early: the contract allows a spurious return.
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Instant;

    fn localhost_v4() -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
    }

    /// Waits and drains until one datagram arrives or a generous deadline
    /// passes; loopback delivery is fast but not synchronous.
    fn recv_one(socket: &mut UdpSocket, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match socket.recv_from(buf) {
                Ok(Some(got)) => return Some(got),
                Ok(None) => socket.wait(Duration::from_millis(100)).ok()?,
                Err(_) => return None,
            }
        }
        None
    }

    #[test]
    fn two_sockets_exchange_a_datagram() {
        let mut a = UdpSocket::bind(localhost_v4()).expect("bind a");
        let mut b = UdpSocket::bind(localhost_v4()).expect("bind b");
        assert_ne!(a.local_addr().port(), 0);

        a.send_to(b"ping", b.local_addr()).expect("send ping");
        let mut buf = [0u8; 64];
        let (len, from) = recv_one(&mut b, &mut buf).expect("b receives ping");
        assert_eq!(&buf[..len], b"ping");
        assert_eq!(from, a.local_addr());

        b.send_to(b"pong", from).expect("send pong");
        let (len, from) = recv_one(&mut a, &mut buf).expect("a receives pong");
        assert_eq!(&buf[..len], b"pong");
        assert_eq!(from, b.local_addr());
    }

    /// The OS grants the buffers asked for, up to its cap: on Linux the
    /// larger of the request and the cap's worth, doubled for bookkeeping.
    #[cfg(target_os = "linux")]
    #[test]
    fn asks_the_os_for_larger_buffers() {
        let read_cap = |name: &str| -> usize {
            std::fs::read_to_string(format!("/proc/sys/net/core/{name}"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0)
        };
        let (recv_cap, send_cap) = (read_cap("rmem_max"), read_cap("wmem_max"));
        let default = UdpSocket::bind(localhost_v4()).expect("bind");
        let (default_recv, _) = default.buffer_sizes().expect("sizes");
        let asked = 3 * 1024 * 1024;
        let sized = UdpSocket::bind_with_buffers(localhost_v4(), Some(asked), Some(asked), None)
            .expect("bind with buffers");
        let (recv, send) = sized.buffer_sizes().expect("sizes");
        assert!(
            recv >= asked.min(recv_cap),
            "receive buffer {recv}, cap {recv_cap}"
        );
        assert!(
            send >= asked.min(send_cap),
            "send buffer {send}, cap {send_cap}"
        );
        if recv_cap > default_recv {
            assert!(
                recv > default_recv,
                "{recv} not above the default {default_recv}"
            );
        }
    }

    /// A batched socket hands out every datagram of a burst larger than one
    /// batch, in order, with its sender and bytes, truncating one longer than
    /// a slot; then reports the socket drained and waits for the next.
    #[cfg(target_os = "linux")]
    #[test]
    fn batched_receive_delivers_a_burst_in_order() {
        let mut a = UdpSocket::bind(localhost_v4()).expect("bind a");
        let mut c = UdpSocket::bind(localhost_v4()).expect("bind c");
        let mut b =
            UdpSocket::bind_with_buffers(localhost_v4(), None, None, Some(64)).expect("bind b");
        let count = 3 * super::super::batch::BATCH + 5;
        for i in 0..count {
            let from = if i % 3 == 0 { &mut c } else { &mut a };
            let body = vec![i as u8; 1 + i % 40];
            from.send_to(&body, b.local_addr()).expect("send");
        }
        a.send_to(&[0xee; 100], b.local_addr()).expect("send long");
        let mut buf = [0u8; 256];
        for i in 0..count {
            let (len, from) = recv_one(&mut b, &mut buf).expect("datagram");
            let ahead = b.batch_senders();
            if i == 0 {
                let batch = super::super::batch::BATCH;
                assert_eq!(ahead.len(), batch - 1, "the rest of the first batch");
                assert_eq!(ahead[0], Some(a.local_addr()), "datagram 1's sender");
                assert_eq!(ahead[2], Some(c.local_addr()), "datagram 3's sender");
            } else if i % super::super::batch::BATCH != 0 {
                assert!(ahead.is_empty(), "told once per batch");
            }
            let sender = if i % 3 == 0 {
                c.local_addr()
            } else {
                a.local_addr()
            };
            assert_eq!(from, sender, "datagram {i}");
            assert_eq!(&buf[..len], &vec![i as u8; 1 + i % 40][..], "datagram {i}");
        }
        let (len, _) = recv_one(&mut b, &mut buf).expect("long datagram");
        assert_eq!(len, 64, "truncated to the slot");
        assert!(b.recv_from(&mut buf).expect("recv").is_none());
        a.send_to(b"late", b.local_addr()).expect("send late");
        b.wait(Duration::from_secs(2)).expect("wait");
        let (len, _) = recv_one(&mut b, &mut buf).expect("late datagram");
        assert_eq!(&buf[..len], b"late");
    }

    /// A lone datagram turns batching off (plain receives cost less then),
    /// two found in a row turn it back on; either way a datagram longer than
    /// a slot is truncated alike and a burst arrives whole and in order.
    #[cfg(target_os = "linux")]
    #[test]
    fn receive_mode_follows_the_traffic() {
        use super::super::batch::{Mode, BATCH};
        let mut a = UdpSocket::bind(localhost_v4()).expect("bind a");
        let mut b =
            UdpSocket::bind_with_buffers(localhost_v4(), None, None, Some(64)).expect("bind b");
        let mode = |b: &UdpSocket| b.batch.as_ref().expect("batched socket").mode();
        let mut buf = [0u8; 256];
        a.send_to(b"one", b.local_addr()).expect("send");
        b.wait(Duration::from_secs(2)).expect("wait");
        let (len, _) = recv_one(&mut b, &mut buf).expect("lone datagram");
        assert_eq!(&buf[..len], b"one");
        assert_eq!(mode(&b), Mode::Plain { found: 0 }, "a batch of one");
        a.send_to(&[0xee; 100], b.local_addr()).expect("send long");
        b.wait(Duration::from_secs(2)).expect("wait");
        let (len, _) = recv_one(&mut b, &mut buf).expect("long datagram");
        assert_eq!(len, 64, "truncated to the slot by a plain receive too");
        assert!(b.recv_from(&mut buf).expect("recv").is_none());
        assert_eq!(mode(&b), Mode::Plain { found: 0 }, "an empty socket");
        let count = 2 * BATCH + 3;
        for i in 0..count {
            a.send_to(&[i as u8; 8], b.local_addr()).expect("send");
        }
        for i in 0..count {
            let (len, from) = recv_one(&mut b, &mut buf).expect("datagram");
            assert_eq!(from, a.local_addr());
            assert_eq!(&buf[..len], &[i as u8; 8], "datagram {i}");
            if i == 1 {
                assert_eq!(mode(&b), Mode::Batched, "two in a row");
            }
        }
    }

    /// Sends `datagrams` (length, destination index) through the batched
    /// path from `a`, then checks each receiver got its own whole and in
    /// order, and that nothing was refused.
    fn batched_burst(a: &mut UdpSocket, to: &mut [UdpSocket], datagrams: &[(usize, usize)]) {
        for (i, &(len, dest)) in datagrams.iter().enumerate() {
            let addr = to[dest].local_addr();
            a.queue_send(&vec![i as u8; len], addr).expect("queue");
        }
        assert_eq!(a.flush_sends(), 0, "nothing refused");
        let mut buf = vec![0u8; 2048];
        for (dest, socket) in to.iter_mut().enumerate() {
            for (i, &(len, _)) in datagrams.iter().enumerate().filter(|(_, d)| d.1 == dest) {
                let (got, from) = recv_one(socket, &mut buf).expect("datagram");
                assert_eq!(from, a.local_addr());
                assert_eq!(got, len, "datagram {i} to {dest}");
                assert!(buf[..got].iter().all(|&b| b == i as u8), "datagram {i}");
            }
            assert!(socket.recv_from(&mut buf).expect("recv").is_none());
        }
    }

    fn receivers(n: usize) -> Vec<UdpSocket> {
        (0..n)
            .map(|_| {
                UdpSocket::bind_with_buffers(localhost_v4(), Some(1 << 20), None, Some(2048))
                    .expect("bind")
            })
            .collect()
    }

    /// A burst longer than a super-packet holds arrives whole and in order.
    #[test]
    fn batched_burst_longer_than_a_batch_arrives_in_order() {
        let mut a = UdpSocket::bind(localhost_v4()).expect("bind a");
        let mut to = receivers(1);
        let burst: Vec<_> = (0..150).map(|_| (1200, 0)).collect();
        batched_burst(&mut a, &mut to, &burst);
    }

    /// Mixed lengths (a shorter datagram ends a run, a longer one starts a
    /// new one) and alternating destinations all arrive as sent.
    #[test]
    fn batched_mixed_sizes_and_destinations_arrive_as_sent() {
        let mut a = UdpSocket::bind(localhost_v4()).expect("bind a");
        let mut to = receivers(3);
        let mut burst = Vec::new();
        for i in 0..200usize {
            let len = [100, 100, 100, 40, 1400, 1400, 7][i % 7];
            let dest = (i / 5) % 3;
            burst.push((len, dest));
        }
        batched_burst(&mut a, &mut to, &burst);
    }

    /// A plain send after queued ones leaves after them.
    #[test]
    fn plain_send_keeps_order_after_queued_sends() {
        let mut a = UdpSocket::bind(localhost_v4()).expect("bind a");
        let mut b = UdpSocket::bind(localhost_v4()).expect("bind b");
        a.queue_send(b"one", b.local_addr()).expect("queue");
        a.queue_send(b"two", b.local_addr()).expect("queue");
        a.send_to(b"three", b.local_addr()).expect("send");
        assert_eq!(a.flush_sends(), 0);
        let mut buf = [0u8; 16];
        for want in [&b"one"[..], b"two", b"three"] {
            let (len, _) = recv_one(&mut b, &mut buf).expect("datagram");
            assert_eq!(&buf[..len], want);
        }
    }

    /// With batching turned off every datagram still arrives.
    #[test]
    fn unbatched_sends_arrive_as_sent() {
        let mut a = UdpSocket::bind(localhost_v4()).expect("bind a");
        a.set_send_batching(false);
        assert!(!a.send_batching());
        let mut to = receivers(2);
        let burst: Vec<_> = (0..100).map(|i| (300 - i, i % 2)).collect();
        batched_burst(&mut a, &mut to, &burst);
    }

    /// A kernel that refuses super-packets (here: checksums turned off,
    /// which segmentation requires) gets the run datagram by datagram,
    /// nothing lost, and batching stays off for the socket.
    #[cfg(target_os = "linux")]
    #[test]
    fn refused_offload_falls_back_to_plain_sends() {
        let mut a = UdpSocket::bind(localhost_v4()).expect("bind a");
        if !a.send_batching() {
            // A kernel without segmentation offload: nothing to fall back from.
            return;
        }
        super::super::send_batch::disable_checksums(&a.socket).expect("SO_NO_CHECK");
        let mut to = receivers(1);
        let burst: Vec<_> = (0..80).map(|_| (500, 0)).collect();
        batched_burst(&mut a, &mut to, &burst);
        assert!(!a.send_batching(), "off after the refusal");
        assert_eq!(a.sends.pending(), 0);
        batched_burst(&mut a, &mut to, &burst);
    }

    #[test]
    fn ipv6_loopback_exchange() {
        let any_v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, 0));
        // Hosts without IPv6 (some containers, CI runners) cannot run this.
        let Ok(mut a) = UdpSocket::bind(any_v6) else {
            return;
        };
        let Ok(mut b) = UdpSocket::bind(any_v6) else {
            return;
        };
        a.send_to(b"six", b.local_addr()).expect("send over ::1");
        let mut buf = [0u8; 16];
        let (len, from) = recv_one(&mut b, &mut buf).expect("b receives over ::1");
        assert_eq!(&buf[..len], b"six");
        assert_eq!(from, a.local_addr());
    }

    #[test]
    fn recv_on_empty_socket_returns_none() {
        let mut a = UdpSocket::bind(localhost_v4()).expect("bind");
        let mut buf = [0u8; 16];
        assert!(matches!(a.recv_from(&mut buf), Ok(None)));
    }

    #[test]
    fn wait_times_out_on_empty_socket() {
        let mut a = UdpSocket::bind(localhost_v4()).expect("bind");
        let start = Instant::now();
        a.wait(Duration::from_millis(20)).expect("wait");
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn wait_returns_at_once_when_data_is_left_queued() {
        let mut a = UdpSocket::bind(localhost_v4()).expect("bind a");
        let mut b = UdpSocket::bind(localhost_v4()).expect("bind b");
        a.send_to(b"one", b.local_addr()).expect("send one");
        a.send_to(b"two", b.local_addr()).expect("send two");
        // Let both arrive, then consume the readiness edge with one `wait`
        // and read only the first datagram, leaving the second queued with
        // no new edge to come: `wait` must not sleep on it.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut buf = [0u8; 16];
        while b.socket.peek_from(&mut buf).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(20));
        b.wait(Duration::from_secs(1)).expect("first wait");
        let (len, _) = b.recv_from(&mut buf).expect("recv").expect("first");
        assert_eq!(&buf[..len], b"one");
        let start = Instant::now();
        b.wait(Duration::from_secs(3)).expect("second wait");
        assert!(start.elapsed() < Duration::from_secs(2));
        let (len, _) = b.recv_from(&mut buf).expect("recv").expect("second");
        assert_eq!(&buf[..len], b"two");
    }

    #[test]
    fn wait_wakes_for_a_datagram_that_arrives_after_draining() {
        let mut a = UdpSocket::bind(localhost_v4()).expect("bind a");
        let mut b = UdpSocket::bind(localhost_v4()).expect("bind b");
        let mut buf = [0u8; 16];
        // Drained: `wait` now skips the peek and relies on the readiness
        // event the next datagram raises.
        assert!(matches!(b.recv_from(&mut buf), Ok(None)));
        a.send_to(b"late", b.local_addr()).expect("send");
        let start = Instant::now();
        b.wait(Duration::from_secs(3)).expect("wait");
        assert!(start.elapsed() < Duration::from_secs(2));
        let (len, _) = recv_one(&mut b, &mut buf).expect("receive");
        assert_eq!(&buf[..len], b"late");
    }

    #[test]
    fn unreachable_peer_does_not_surface_as_error() {
        let mut a = UdpSocket::bind(localhost_v4()).expect("bind a");
        // Bind and drop a socket to get a port that is (almost surely) closed.
        // Windows reports the ICMP answer to an unconnected socket as a
        // reset on the next receive; Linux does not, so there this only
        // checks nothing else surfaces.
        let closed = UdpSocket::bind(localhost_v4())
            .expect("bind b")
            .local_addr();
        a.send_to(b"anyone?", closed).expect("send");
        std::thread::sleep(Duration::from_millis(20));
        let mut buf = [0u8; 16];
        assert!(matches!(a.recv_from(&mut buf), Ok(None)));
    }

    #[test]
    fn long_datagram_is_truncated_to_buffer() {
        let mut a = UdpSocket::bind(localhost_v4()).expect("bind a");
        let mut b = UdpSocket::bind(localhost_v4()).expect("bind b");
        a.send_to(&[7u8; 100], b.local_addr()).expect("send");
        let mut buf = [0u8; 10];
        if cfg!(windows) {
            // Windows drops it instead (see `is_truncated_on_windows`).
            return;
        }
        let (len, _) = recv_one(&mut b, &mut buf).expect("receive");
        assert_eq!(len, 10);
        assert_eq!(buf, [7u8; 10]);
    }
}
