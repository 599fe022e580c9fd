//! A call's outcome as a `Future`, for games written with async: a shared
//! slot the call table fills and a waker it wakes. No runtime is needed;
//! the endpoint's `update` still drives everything.
//!
//! It never polls the network itself: a future whose endpoint is not
//! updated stays pending.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;

use super::command::Command;
use super::outcome::{CallError, CallId, Outcome};

/// Where the call table leaves an outcome for a future.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    outcome: Option<Outcome>,
    waker: Option<Waker>,
}

pub(crate) type SharedSlot = Arc<Mutex<Slot>>;

/// Fills the slot and wakes its future.
pub(crate) fn fulfil(slot: &SharedSlot, outcome: Outcome) {
    let waker = {
        let mut slot = slot.lock();
        slot.outcome = Some(outcome);
        slot.waker.take()
    };
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// The outcome of one call of `C`, ready once an `update` has seen it end.
#[derive(Debug)]
pub struct CallFuture<C: Command> {
    call: CallId,
    slot: SharedSlot,
    _command: PhantomData<fn() -> C>,
}

impl<C: Command> CallFuture<C> {
    pub(crate) fn new(call: CallId, slot: SharedSlot) -> Self {
        CallFuture {
            call,
            slot,
            _command: PhantomData,
        }
    }

    /// The call this future waits for.
    pub fn id(&self) -> CallId {
        self.call
    }

    /// The outcome if the call has ended, without a waker.
    pub fn try_take(&mut self) -> Option<Result<C::Reply, CallError<C::Error>>> {
        self.slot.lock().outcome.take().map(|o| o.decode::<C>())
    }
}

impl<C: Command> Future for CallFuture<C> {
    type Output = Result<C::Reply, CallError<C::Error>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.slot.lock();
        match slot.outcome.take() {
            Some(outcome) => Poll::Ready(outcome.decode::<C>()),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
