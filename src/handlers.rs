//! Lists of event handlers: several per event, each removable by its id.
//!
//! While handlers run they are taken out of their owner (so each may borrow
//! the owner mutably). The [`Registry`] knows which ids are live, so a handler
//! removed from inside another stops at once, and handlers added meanwhile are
//! merged back afterwards.

use std::collections::HashSet;

/// Calls every handler of `$list` still registered in `$owner.registry`;
/// a handler removed by an earlier one in the same dispatch is skipped.
macro_rules! run_handlers {
    ($owner:ident, $list:expr, |$h:ident| $call:expr) => {
        for (id, $h) in $list.iter_mut() {
            if $owner.registry.is_live(id) {
                $call;
            }
        }
    };
}
pub(crate) use run_handlers;

/// Identifies a registered handler, for `remove_handler`.
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

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (HandlerId, &mut Box<F>)> {
        self.entries.iter_mut().map(|(id, h)| (*id, h))
    }

    /// Puts back handlers added while this list was taken out, keeping only live ones.
    pub(crate) fn merge(&mut self, added: HandlerList<F>, registry: &Registry) {
        self.entries.extend(added.entries);
        self.entries.retain(|(id, _)| registry.is_live(*id));
    }
}

/// Hands out handler ids and knows which are still registered.
#[derive(Default)]
pub(crate) struct Registry {
    next: u64,
    live: HashSet<HandlerId>,
}

impl Registry {
    pub(crate) fn register(&mut self) -> HandlerId {
        self.next += 1;
        let id = HandlerId(self.next);
        self.live.insert(id);
        id
    }

    /// Unregisters `id`; returns whether it was registered.
    pub(crate) fn unregister(&mut self, id: HandlerId) -> bool {
        self.live.remove(&id)
    }

    pub(crate) fn is_live(&self, id: HandlerId) -> bool {
        self.live.contains(&id)
    }
}
