//! The bounded queue between thread handles and the endpoint that owns them.
//!
//! Handles push without waiting and learn at once when the queue is full or
//! the endpoint is gone. The endpoint side is empty until the first handle
//! is made, so an `update()` of an endpoint without handles touches no channel.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::proto::Route;
use crate::Error;

/// A message a handle queued, for the endpoint's next update; `to` says who
/// gets it (the server's recipient, or nothing on a client).
#[derive(Debug)]
pub(crate) struct Queued<T> {
    pub(crate) to: T,
    pub(crate) payload: Bytes,
    pub(crate) route: Route,
}

/// The handles' end: pushes without blocking.
#[derive(Debug)]
pub(crate) struct HandleSender<T> {
    tx: Sender<Queued<T>>,
    capacity: usize,
    /// Queued messages the endpoint could not take when it applied them.
    failed: Arc<AtomicU64>,
}

impl<T> Clone for HandleSender<T> {
    fn clone(&self) -> Self {
        HandleSender {
            tx: self.tx.clone(),
            capacity: self.capacity,
            failed: Arc::clone(&self.failed),
        }
    }
}

impl<T> HandleSender<T> {
    /// Queues one message, or says why not: the queue is full, or the
    /// endpoint was dropped.
    pub(crate) fn push(&self, to: T, payload: Bytes, route: Route) -> Result<(), Error> {
        let queued = Queued { to, payload, route };
        self.tx.try_send(queued).map_err(|e| match e {
            TrySendError::Full(_) => Error::HandleQueueFull {
                capacity: self.capacity,
            },
            TrySendError::Disconnected(_) => Error::EndpointDropped,
        })
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}

/// The endpoint's end.
#[derive(Debug)]
pub(crate) struct HandleQueue<T> {
    open: Option<Open<T>>,
}

#[derive(Debug)]
struct Open<T> {
    rx: Receiver<Queued<T>>,
    /// Kept to hand out more handles onto the same queue.
    sender: HandleSender<T>,
}

impl<T> Default for HandleQueue<T> {
    fn default() -> Self {
        HandleQueue { open: None }
    }
}

impl<T> HandleQueue<T> {
    /// The handles' end, opening the queue with room for `capacity` messages
    /// (at least one) if it is not open yet; an open queue keeps its capacity.
    pub(crate) fn sender(&mut self, capacity: usize) -> HandleSender<T> {
        let open = self.open.get_or_insert_with(|| {
            let capacity = capacity.max(1);
            let (tx, rx) = crossbeam_channel::bounded(capacity);
            Open {
                rx,
                sender: HandleSender {
                    tx,
                    capacity,
                    failed: Arc::default(),
                },
            }
        });
        open.sender.clone()
    }

    /// The messages one update applies: those queued now, at most one
    /// queue's capacity, so a thread that keeps queueing cannot hold the game
    /// loop; none, without touching a channel, while no handle was made. The
    /// iterator holds its own end of the channel, so the endpoint can send
    /// (borrow itself mutably) while it runs.
    pub(crate) fn drain(&self) -> impl Iterator<Item = Queued<T>> {
        let (rx, budget) = match &self.open {
            Some(open) => (Some(open.rx.clone()), open.sender.capacity),
            None => (None, 0),
        };
        std::iter::from_fn(move || rx.as_ref()?.try_recv().ok()).take(budget)
    }

    /// Counts a queued message the endpoint could not take.
    pub(crate) fn note_failed(&self) {
        if let Some(open) = &self.open {
            open.sender.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}
