//! [`SimSocket`]: a socket bound on a [`SimNetwork`](super::SimNetwork), the
//! simulated network's end of the [`Socket`] trait.

use super::*;

/// A socket bound on a [`SimNetwork`]. Dropping it unbinds the address and
/// discards the datagrams queued for it.
pub struct SimSocket {
    pub(super) network: SimNetwork,
    pub(super) addr: SocketAddr,
    /// Which binding of `addr` this is, so dropping cannot unbind another.
    pub(super) id: u64,
}

impl fmt::Debug for SimSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimSocket")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl SimSocket {
    /// The network this socket is bound on.
    pub fn network(&self) -> &SimNetwork {
        &self.network
    }
}

impl Socket for SimSocket {
    /// Never fails: whatever the network does to the datagram is silent, as
    /// on a real network.
    fn send_to(&mut self, data: &[u8], to: SocketAddr) -> io::Result<()> {
        self.network.inner.lock().send(self.addr, to, data);
        Ok(())
    }

    fn recv_from(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, SocketAddr)>> {
        Ok(self.network.inner.lock().recv(self.addr, buf))
    }

    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Returns at once: virtual time only moves when the test moves it.
    fn wait(&mut self, _timeout: Duration) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for SimSocket {
    fn drop(&mut self) {
        let mut inner = self.network.inner.lock();
        if inner
            .endpoints
            .get(&self.addr)
            .is_some_and(|e| e.id == self.id)
        {
            if let Some(endpoint) = inner.endpoints.remove(&self.addr) {
                inner.stats.dropped_no_receiver += endpoint.queue.len() as u64;
            }
        }
    }
}
