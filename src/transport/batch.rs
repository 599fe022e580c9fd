//! Batched receive on Linux: one `recvmmsg` system call takes up to
//! `BATCH` queued datagrams into fixed slots, which [`RecvBatch::pop`] then
//! hands out one by one.
//!
//! A server that reads 256 clients' datagrams per tick otherwise makes 256
//! system calls, each with its kernel entry and exit; batching makes that a
//! handful. The slots are allocated at the first receive and sized once (the
//! largest datagram the endpoint accepts, its `mtu`), so a batch costs no
//! allocation afterwards. A datagram longer than a slot is truncated, as a
//! datagram longer than the buffer of a plain receive would be.
//!
//! Batching pays only when datagrams queue up. When they come one at a time
//! (a ping-pong exchange, a client hearing one packet per tick) a batch call
//! costs more than a plain receive: the kernel tries a second datagram, and
//! the datagram is copied once more out of its slot. So [`Mode`] switches to
//! plain receives after a batch that took a single datagram, and back after
//! two plain receives in a row found one.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// Datagrams one system call takes at most.
pub(crate) const BATCH: usize = 32;

/// How the next receive is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// One `recvmmsg` for up to `BATCH` datagrams.
    Batched,
    /// One plain receive; `found` counts the receives in a row that found a
    /// datagram.
    Plain {
        /// Plain receives in a row that found a datagram.
        found: u8,
    },
}

/// Received datagrams not yet handed out, in arrival order.
pub(crate) struct RecvBatch {
    slot_len: usize,
    /// `BATCH` slots of `slot_len` bytes, one after another; empty until the
    /// first fill.
    slots: Vec<u8>,
    /// Where the kernel writes each sender's address; kept between calls so
    /// a call does not clear 4 KiB first. Empty until the first fill.
    names: Vec<libc::sockaddr_storage>,
    lens: [usize; BATCH],
    from: [Option<SocketAddr>; BATCH],
    /// Next slot to hand out, and how many the last fill took.
    next: usize,
    filled: usize,
    mode: Mode,
}

impl std::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch")
            .field("slot_len", &self.slot_len)
            .field("pending", &self.pending())
            .finish()
    }
}

impl RecvBatch {
    /// A batch whose slots hold datagrams of up to `slot_len` bytes.
    pub(crate) fn new(slot_len: usize) -> Self {
        RecvBatch {
            slot_len: slot_len.max(1),
            slots: Vec::new(),
            names: Vec::new(),
            lens: [0; BATCH],
            from: [None; BATCH],
            next: 0,
            filled: 0,
            mode: Mode::Batched,
        }
    }

    /// How the next receive should be made, once nothing is pending.
    pub(crate) fn mode(&self) -> Mode {
        self.mode
    }

    /// The longest datagram a receive keeps; longer ones are truncated.
    pub(crate) fn slot_len(&self) -> usize {
        self.slot_len
    }

    /// Records what a plain receive found: a second datagram in a row means
    /// they are queueing up, and the next receive is batched.
    pub(crate) fn on_plain_receive(&mut self, found: bool) {
        self.mode = match (self.mode, found) {
            (Mode::Plain { found: n }, true) if n >= 1 => Mode::Batched,
            (Mode::Plain { found: n }, true) => Mode::Plain { found: n + 1 },
            (_, false) => Mode::Plain { found: 0 },
            (Mode::Batched, true) => Mode::Batched,
        };
    }

    /// Datagrams received and not yet handed out.
    pub(crate) fn pending(&self) -> usize {
        self.filled - self.next
    }

    /// The senders of the rest of the batch, right after its first datagram
    /// was handed out; empty otherwise.
    pub(crate) fn new_batch_senders(&self) -> &[Option<SocketAddr>] {
        match self.next {
            1 => self.from.get(1..self.filled).unwrap_or_default(),
            _ => &[],
        }
    }

    /// Copies the next held datagram into `buf` (truncated to its length);
    /// returns its length and sender.
    pub(crate) fn pop(&mut self, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
        while self.next < self.filled {
            let i = self.next;
            self.next += 1;
            // A datagram whose sender the kernel did not name in a family
            // we know cannot be answered: skipped.
            let Some(from) = self.from[i] else { continue };
            let len = self.lens[i].min(buf.len());
            let start = i * self.slot_len;
            buf[..len].copy_from_slice(&self.slots[start..start + len]);
            return Some((len, from));
        }
        None
    }

    /// Receives what is queued on `fd`, up to `BATCH` datagrams, with one
    /// system call. Call only when nothing is pending. `Ok(0)` is never
    /// returned: an empty socket is `WouldBlock`, as for a plain receive.
    pub(crate) fn fill(&mut self, fd: RawFd) -> io::Result<usize> {
        debug_assert_eq!(self.pending(), 0);
        if self.slots.is_empty() {
            self.slots = vec![0; self.slot_len * BATCH];
            // SAFETY: all-zero bytes are a valid `sockaddr_storage`.
            self.names = vec![unsafe { zeroed() }; BATCH];
        }
        // SAFETY: all-zero bytes are a valid value of these plain C structs.
        let mut iovecs: [libc::iovec; BATCH] = unsafe { zeroed() };
        // SAFETY: as above.
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        let slots = self.slots.chunks_exact_mut(self.slot_len);
        for (((slot, iovec), header), name) in slots
            .zip(iovecs.iter_mut())
            .zip(headers.iter_mut())
            .zip(self.names.iter_mut())
        {
            iovec.iov_base = slot.as_mut_ptr().cast();
            iovec.iov_len = slot.len();
            let h = &mut header.msg_hdr;
            h.msg_name = (name as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = iovec;
            h.msg_iovlen = 1;
        }
        // SAFETY: every header points at its own name and iovec, and every
        // iovec at its own slot of `self.slots`; all of them outlive the call,
        // and the kernel writes at most the lengths given. MSG_DONTWAIT keeps
        // the call from blocking whatever the socket's mode.
        let got = unsafe {
            libc::recvmmsg(
                fd,
                headers.as_mut_ptr(),
                BATCH as _,
                libc::MSG_DONTWAIT as _,
                std::ptr::null_mut(),
            )
        };
        if got < 0 {
            return Err(io::Error::last_os_error());
        }
        let got = (got as usize).min(BATCH);
        for (i, header) in headers.iter().enumerate().take(got) {
            self.lens[i] = (header.msg_len as usize).min(self.slot_len);
            self.from[i] = socket_addr(&self.names[i], header.msg_hdr.msg_namelen);
        }
        self.next = 0;
        self.filled = got;
        if got == 1 {
            self.mode = Mode::Plain { found: 0 };
        }
        Ok(got)
    }
}

/// The address the kernel wrote into `name`, if it is IPv4 or IPv6.
fn socket_addr(name: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match i32::from(name.ss_family) {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a `sockaddr_in`, the
            // length says all of it was written, and the storage is larger
            // and suitably aligned for it.
            let a =
                unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for `sockaddr_in6`.
            let a =
                unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}
