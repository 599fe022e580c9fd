//! Lists of event handlers: several per event, each removable by its id.
//!
//! While handlers run they are taken out of their owner (so each may borrow
//! the owner mutably); handlers added or removed meanwhile are merged back
//! afterwards.

use std::collections::HashSet;

/// Identifies a registered handler, for [`remove_handler`](crate::Client::remove_handler).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HandlerId(pub(crate) u64);

/// Handlers of one event.
pub(crate) struct HandlerList<F: ?Sized> {
    entries: Vec<(HandlerId, Box<F>)>,
}

impl<F: ?Sized> Default for HandlerList<F> {
    fn default() -> Self {
        HandlerList {
            entries: Vec::new(),
        }
    }
}

impl<F: ?Sized> HandlerList<F> {
    pub(crate) fn push(&mut self, id: HandlerId, handler: Box<F>) {
        self.entries.push((id, handler));
    }

    pub(crate) fn remove(&mut self, id: HandlerId) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(h, _)| *h != id);
        before != self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Box<F>> {
        self.entries.iter_mut().map(|(_, h)| h)
    }

    /// Puts back handlers added while this list was taken out, and drops removed ones.
    pub(crate) fn merge(&mut self, added: HandlerList<F>, removed: &HashSet<HandlerId>) {
        self.entries.extend(added.entries);
        if !removed.is_empty() {
            self.entries.retain(|(h, _)| !removed.contains(h));
        }
    }
}

/// Hands out handler ids and remembers removals made while handlers run.
#[derive(Default)]
pub(crate) struct Registry {
    next: u64,
    pub(crate) removed_while_running: HashSet<HandlerId>,
    pub(crate) running: bool,
}

impl Registry {
    pub(crate) fn next_id(&mut self) -> HandlerId {
        self.next += 1;
        HandlerId(self.next)
    }
}
