//! Handler lists: several per event, each removable by its id, and the
//! dispatch that calls them.
//!
//! While handlers run they are taken out of their owner (so each may borrow
//! the owner mutably). The [`Registry`] knows which ids are live, so a handler
//! removed from inside another stops at once, and handlers added meanwhile are
//! merged back afterwards. Every handler is handed the game's context of the
//! update that runs it (`update_with(&mut ctx)`): handlers registered with an
//! `on_*_with` method reach it as their own type, plain ones ignore it.

use std::any::Any;
use std::collections::HashSet;

/// Calls every handler of `$list` still registered in `$registry`;
/// a handler removed by an earlier one in the same dispatch is skipped.
macro_rules! run_live {
    ($registry:expr, $list:expr, |$h:ident| $call:expr) => {
        for (id, $h) in $list.iter_mut() {
            if $registry.is_live(id) {
                $call;
            }
        }
    };
}
pub(crate) use run_live;

/// Defines an endpoint's handler set (one list per event) and, on `$owner`,
/// the `on_*` and `on_*_with` methods that register into it.
///
/// Each entry names the list, its two registration methods with their docs,
/// and the arguments a handler gets after the owner. A handler of the list
/// takes the owner, the update's context (`&mut dyn Any`) and those
/// arguments; `on_x(f)` stores one that ignores the context, and
/// `on_x_with::<C>(f)` one that runs only when the update's context is a `C`.
macro_rules! handler_set {
    (
        $(#[$set_meta:meta])*
        struct $set:ident [$($p:ident),*] for $owner:ty where [$($bounds:tt)*] {
            $(
                $(#[$on_meta:meta])*
                $vis:vis $field:ident: $on:ident / $on_with:ident ($($arg:ident: $ty:ty),*);
            )*
        }
    ) => {
        $(#[$set_meta])*
        pub(crate) struct $set<$($p),*> {
            $(
                pub(crate) $field: $crate::endpoint::HandlerList<
                    dyn FnMut(&mut $owner, &mut dyn std::any::Any, $($ty),*) + Send,
                >,
            )*
        }

        // Derived `Default` would ask for `M: Default`.
        impl<$($p),*> Default for $set<$($p),*> {
            fn default() -> Self {
                $set { $($field: $crate::endpoint::HandlerList::default()),* }
            }
        }

        impl<$($p),*> $crate::endpoint::HandlerSet for $set<$($p),*> {
            fn merge(&mut self, added: Self, registry: &$crate::endpoint::Registry) {
                $(self.$field.merge(added.$field, registry);)*
            }
        }

        impl<$($p),*> $owner where $($bounds)* {
            $(
                $(#[$on_meta])*
                $vis fn $on(
                    &mut self,
                    mut f: impl FnMut(&mut $owner, $($ty),*) + Send + 'static,
                ) -> $crate::HandlerId {
                    let id = $crate::endpoint::Dispatch::registry_mut(self).register();
                    $crate::endpoint::Dispatch::handler_lists(self).$field.push(
                        id,
                        Box::new(
                            move |owner: &mut $owner, _: &mut dyn std::any::Any, $($arg: $ty),*| {
                                f(owner, $($arg),*)
                            },
                        ),
                    );
                    id
                }

                #[doc = concat!(
                    "Like [`", stringify!($on), "`](Self::", stringify!($on), "), for a handler ",
                    "that also gets the game's context: it runs in ",
                    "[`update_with`](Self::update_with) calls whose context is a `Ctx`, and ",
                    "not in others (nor in `update`, whose context is `()`)."
                )]
                $vis fn $on_with<Ctx: std::any::Any>(
                    &mut self,
                    mut f: impl FnMut(&mut $owner, &mut Ctx, $($ty),*) + Send + 'static,
                ) -> $crate::HandlerId {
                    let id = $crate::endpoint::Dispatch::registry_mut(self).register();
                    $crate::endpoint::Dispatch::handler_lists(self).$field.push(
                        id,
                        Box::new(
                            move |owner: &mut $owner, ctx: &mut dyn std::any::Any, $($arg: $ty),*| {
                                if let Some(ctx) = ctx.downcast_mut::<Ctx>() {
                                    f(owner, ctx, $($arg),*)
                                }
                            },
                        ),
                    );
                    id
                }
            )*
        }
    };
}
pub(crate) use handler_set;

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

/// The handler lists of one endpoint, one per event.
pub(crate) trait HandlerSet: Default {
    /// Puts back handlers added while this set was taken out, keeping only
    /// live ones.
    fn merge(&mut self, added: Self, registry: &Registry);
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

/// An endpoint whose events reach handlers: the client, the server, and
/// their typed forms. One dispatch loop serves them all.
pub(crate) trait Dispatch: Sized {
    /// What the endpoint reports.
    type Event;
    /// Its handler lists.
    type Handlers: HandlerSet;

    /// The registry its handler ids come from.
    fn registry(&self) -> &Registry;
    /// The registry, to register a handler.
    fn registry_mut(&mut self) -> &mut Registry;
    /// Its handler lists.
    fn handler_lists(&mut self) -> &mut Self::Handlers;
    /// Calls the handlers in `handlers` (taken out of `self`) for `event`.
    fn run(&mut self, handlers: &mut Self::Handlers, ctx: &mut dyn Any, event: &Self::Event);
}

/// Calls the handlers of each of `events`, in order.
pub(crate) fn dispatch<D: Dispatch>(owner: &mut D, ctx: &mut dyn Any, events: &mut Vec<D::Event>) {
    with_handlers(owner, |owner, handlers| {
        for event in events.drain(..) {
            owner.run(handlers, ctx, &event);
        }
    });
}

/// Calls `owner`'s own handlers for one `event`: what a wrapper does before
/// running its handlers for the same event.
#[cfg(feature = "typed")]
pub(crate) fn dispatch_one<D: Dispatch>(owner: &mut D, ctx: &mut dyn Any, event: &D::Event) {
    with_handlers(owner, |owner, handlers| owner.run(handlers, ctx, event));
}

/// Runs `f` with `owner`'s handler lists taken out, so each handler may
/// borrow the owner mutably; those registered meanwhile are put back after.
fn with_handlers<D: Dispatch>(owner: &mut D, f: impl FnOnce(&mut D, &mut D::Handlers)) {
    let mut handlers = std::mem::take(owner.handler_lists());
    f(owner, &mut handlers);
    let added = std::mem::take(owner.handler_lists());
    handlers.merge(added, owner.registry());
    *owner.handler_lists() = handlers;
}

/// Unregisters `id` from `owner`; returns whether it was registered.
pub(crate) fn remove_handler<D: Dispatch>(owner: &mut D, id: HandlerId) -> bool {
    let was_registered = owner.registry_mut().unregister(id);
    // Lists taken out for a dispatch in progress drop it when merged back.
    let lists = std::mem::take(owner.handler_lists());
    let mut kept = D::Handlers::default();
    kept.merge(lists, owner.registry());
    *owner.handler_lists() = kept;
    was_registered
}
