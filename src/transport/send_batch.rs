//! Batched send on Linux: consecutive datagrams to one destination leave as
//! one UDP segmentation offload ("GSO") super-packet.
//!
//! An endpoint streaming to one peer otherwise makes one `sendto` per
//! datagram, and each walks the whole stack: routing, netfilter, the device
//! queue. With `UDP_SEGMENT` the kernel takes one buffer of equal-sized
//! segments (the last may be shorter) with one `sendmsg`, walks the stack
//! once, and cuts the segments apart as late as it can (on loopback, at the
//! receiving socket). The receiver sees ordinary datagrams.
//!
//! [`SendBatch`] owns the run being gathered: its destination, its segment
//! size, and the bytes, in a buffer allocated once at construction so a send
//! costs no allocation. A run ends when the destination changes, a datagram
//! is longer than the run's segments, a shorter one has already closed it,
//! or it holds as many segments or bytes as one super-packet may. A run of
//! one datagram is sent plainly.
//!
//! Kernels before 4.18 do not know `UDP_SEGMENT`; [`SendBatch::new`] asks
//! the socket and sends every datagram plainly where it is unknown. A kernel
//! that knows it may still refuse a super-packet (`EIO` where the device
//! cannot checksum it, `EINVAL` where checksums are off or a segment exceeds
//! the path's MTU): the run is then sent plainly, datagram by datagram, and
//! offload stays off for the socket.

use std::io::{self, ErrorKind};
use std::mem::{size_of, zeroed};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use socket2::SockAddr;

/// Segments one super-packet carries at most (the kernel's
/// `UDP_MAX_SEGMENTS`).
pub(crate) const MAX_SEGMENTS: usize = 64;

/// Bytes one super-packet carries at most: the largest UDP payload over
/// IPv4 (IPv6 allows a little more).
pub(crate) const MAX_BYTES: usize = 65_507;

/// Room for one control message carrying a `u16`, aligned as `cmsghdr` is.
#[repr(C, align(8))]
struct Control([u8; 32]);

/// One run of datagrams being gathered for a single super-packet.
pub(crate) struct SendBatch {
    /// The run's datagrams, back to back; capacity `MAX_BYTES`, never grown.
    bytes: Vec<u8>,
    to: Option<SocketAddr>,
    /// The length of the run's first datagram; every later one is as long
    /// except the last, which may be shorter.
    segment: usize,
    count: usize,
    /// A datagram shorter than `segment` ended the run.
    closed: bool,
    /// Datagrams the kernel refused since [`take_refused`](Self::take_refused).
    refused: usize,
    /// The kernel takes super-packets on this socket.
    offload: bool,
}

impl std::fmt::Debug for SendBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendBatch")
            .field("offload", &self.offload)
            .field("pending", &self.count)
            .finish()
    }
}

impl SendBatch {
    /// A batch for `socket`, with offload on where its kernel knows
    /// `UDP_SEGMENT`.
    pub(crate) fn new(socket: &mio::net::UdpSocket) -> Self {
        SendBatch {
            bytes: Vec::with_capacity(MAX_BYTES),
            to: None,
            segment: 0,
            count: 0,
            closed: false,
            refused: 0,
            offload: offload_supported(socket),
        }
    }

    /// Whether runs leave as super-packets (else every datagram is sent
    /// plainly).
    pub(crate) fn offload(&self) -> bool {
        self.offload
    }

    /// Turns offload off (or back on, where the kernel knows it) for later
    /// runs; what is pending is sent first.
    pub(crate) fn set_offload(&mut self, socket: &mio::net::UdpSocket, on: bool) {
        self.flush(socket);
        self.offload = on && offload_supported(socket);
    }

    /// Datagrams gathered and not yet sent.
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.count
    }

    /// How many datagrams the kernel refused since the last call.
    pub(crate) fn take_refused(&mut self) -> usize {
        std::mem::take(&mut self.refused)
    }

    /// Adds `data` for `to` to the run, sending the run first if `data`
    /// cannot join it. A datagram that cannot be gathered at all (offload
    /// off, empty, too long for a super-packet) is sent at once and its
    /// refusal returned.
    pub(crate) fn push(
        &mut self,
        socket: &mio::net::UdpSocket,
        data: &[u8],
        to: SocketAddr,
    ) -> io::Result<()> {
        if !self.offload || data.is_empty() || data.len() > MAX_BYTES / 2 {
            self.flush(socket);
            return send_plain(socket, data, to);
        }
        let joins = self.count > 0
            && self.to == Some(to)
            && !self.closed
            && data.len() <= self.segment
            && self.count < MAX_SEGMENTS
            && self.bytes.len() + data.len() <= MAX_BYTES;
        if !joins {
            self.flush(socket);
            self.to = Some(to);
            self.segment = data.len();
        }
        self.bytes.extend_from_slice(data);
        self.count += 1;
        self.closed = data.len() < self.segment;
        Ok(())
    }

    /// Sends the pending run, counting what the kernel refuses.
    pub(crate) fn flush(&mut self, socket: &mio::net::UdpSocket) {
        let Some(to) = self.to.take() else {
            return;
        };
        let count = std::mem::take(&mut self.count);
        if count == 1 {
            if send_plain(socket, &self.bytes, to).is_err() {
                self.refused += 1;
            }
        } else {
            match send_segmented(socket, &self.bytes, self.segment, to) {
                Ok(()) => {}
                Err(e) if refuses_offload(&e) => {
                    tracing::debug!(error = %e, "segmentation offload refused; sending plainly");
                    self.offload = false;
                    self.send_each(socket, to);
                }
                // Too long for the path as one packet: each datagram may
                // still pass, as it would have without offload.
                Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => self.send_each(socket, to),
                // A full buffer takes none of the run: each is a drop.
                Err(_) => self.refused += count,
            }
        }
        self.bytes.clear();
        self.closed = false;
    }

    /// Sends the pending run's datagrams one by one.
    fn send_each(&mut self, socket: &mio::net::UdpSocket, to: SocketAddr) {
        for datagram in self.bytes.chunks(self.segment.max(1)) {
            if send_plain(socket, datagram, to).is_err() {
                self.refused += 1;
            }
        }
    }
}

/// Errors by which a kernel that knows `UDP_SEGMENT` refuses to segment on
/// this socket or path, not this datagram.
fn refuses_offload(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EIO | libc::EINVAL | libc::ENOPROTOOPT | libc::EOPNOTSUPP)
    )
}

/// One datagram with one system call; an interrupted call is retried.
fn send_plain(socket: &mio::net::UdpSocket, data: &[u8], to: SocketAddr) -> io::Result<()> {
    loop {
        match socket.send_to(data, to) {
            // UDP sends whole datagrams or nothing; the count carries no
            // information.
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Whether the kernel knows `UDP_SEGMENT` (Linux 4.18 and later): reading
/// the option fails where it does not.
fn offload_supported(socket: &mio::net::UdpSocket) -> bool {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live locals of the sizes given; the
    // kernel writes at most `len` bytes into `value`.
    let got = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_UDP,
            libc::UDP_SEGMENT,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    got == 0
}

/// `data`, segments of `segment` bytes back to back (the last may be
/// shorter), as one super-packet to `to`.
fn send_segmented(
    socket: &mio::net::UdpSocket,
    data: &[u8],
    segment: usize,
    to: SocketAddr,
) -> io::Result<()> {
    let segment =
        u16::try_from(segment).map_err(|_| io::Error::from_raw_os_error(libc::EMSGSIZE))?;
    let name = SockAddr::from(to);
    let mut iov = libc::iovec {
        iov_base: data.as_ptr().cast_mut().cast(),
        iov_len: data.len(),
    };
    let mut control = Control([0; 32]);
    // SAFETY: a pure computation on a length.
    let space = unsafe { libc::CMSG_SPACE(size_of::<u16>() as libc::c_uint) } as usize;
    debug_assert!(space <= control.0.len());
    // SAFETY: all-zero bytes are a valid `msghdr`.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = name.as_ptr().cast_mut().cast();
    msg.msg_namelen = name.len();
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = space.min(control.0.len()) as _;
    // SAFETY: `msg_control` points at `control`, 8-byte aligned and at least
    // `CMSG_SPACE(2)` bytes long, so the first header and its two data bytes
    // lie inside it; CMSG_FIRSTHDR returns non-null as the buffer holds a
    // whole header. The data pointer may be unaligned for `u16`, hence the
    // unaligned write.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_UDP;
        (*cmsg).cmsg_type = libc::UDP_SEGMENT;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as libc::c_uint) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>(), segment);
    }
    loop {
        // SAFETY: `msg` points at `name`, `iov` (and through it `data`) and
        // `control`, all alive for the call; the kernel only reads them.
        // MSG_DONTWAIT keeps the call from blocking whatever the socket's
        // mode.
        let sent = unsafe { libc::sendmsg(socket.as_raw_fd(), &msg, libc::MSG_DONTWAIT) };
        if sent >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Turns UDP checksums off on `socket`, which makes a kernel that knows
/// `UDP_SEGMENT` refuse every super-packet with `EINVAL`: how tests reach
/// the fallback path.
#[cfg(test)]
pub(crate) fn disable_checksums(socket: &mio::net::UdpSocket) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: `on` is a live `c_int`, the length given is its size.
    let got = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_NO_CHECK,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if got == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
