//! Events: the [`Event`] trait `#[event]` implements, the type-erased [`AnyEvent`], and
//! what a `#[handle]` method may return.

use std::any::Any;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::route::{Route, RouteError};

/// A fact that happened, kept for good. Implemented by [`#[event]`](crate::event).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a registered event",
    note = "annotate `{Self}` with `#[herald::event(\"…\")]`"
)]
pub trait Event: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The name stored with each event (defaults to the type's name).
    const NAME: &'static str;
    /// The route templates: one for a struct, one per variant for an enum.
    const ROUTES: &'static [&'static str];
    /// The payload's schema version (defaults to 1).
    const VERSION: u32;
    /// The stream type of the streams that hold it when it is recorded without an
    /// aggregate ([`Herald::record`](crate::Herald::record), or a command declared with
    /// `#[command(…, event = ThisEvent)]`): `#[event(…, stream = "notes")]`, else the
    /// event's [`NAME`](Self::NAME).
    const STREAM: &'static str = Self::NAME;

    /// The concrete route, rendered from the fields: `user.:user_id.created` with
    /// `user_id = 42` is `user.42.created`. A field value that is not a valid segment is
    /// an error, never silently changed.
    fn route(&self) -> Result<Route, RouteError>;
}

/// Any [`Event`], type-erased: what an aggregate's events are before they are stored.
pub trait AnyEvent: Any + Send + Sync {
    /// [`Event::NAME`].
    fn name(&self) -> &'static str;
    /// [`Event::VERSION`].
    fn version(&self) -> u32;
    /// [`Event::route`].
    fn render_route(&self) -> Result<Route, RouteError>;
    /// The payload as JSON.
    fn to_json(&self) -> Result<serde_json::Value, serde_json::Error>;
}

impl<E: Event> AnyEvent for E {
    fn name(&self) -> &'static str {
        E::NAME
    }

    fn version(&self) -> u32 {
        E::VERSION
    }

    fn render_route(&self) -> Result<Route, RouteError> {
        self.route()
    }

    fn to_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        crate::base::json_value::to_value(self)
    }
}

impl dyn AnyEvent {
    /// The event as `E`, if it is one.
    pub fn downcast_ref<E: Event>(&self) -> Option<&E> {
        (self as &dyn Any).downcast_ref()
    }
}

impl std::fmt::Debug for dyn AnyEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let json = self
            .to_json()
            .map_or_else(|e| format!("<{e}>"), |v| v.to_string());
        write!(f, "{} {json}", self.name())
    }
}

/// Zero or more events of possibly different types, for a `#[handle]` method whose events
/// are only known at run time.
///
/// ```
/// # use herald_doc_fixtures::*;
/// use herald::Events;
/// let mut events = Events::new();
/// events.push(Deposited { account_id: 7, amount: 10 });
/// events.push(Withdrawn { account_id: 7, amount: 3 });
/// assert_eq!(events.len(), 2);
/// ```
#[derive(Default)]
pub struct Events(Vec<Box<dyn AnyEvent>>);

impl Events {
    /// No events.
    pub fn new() -> Self {
        Events(Vec::new())
    }

    /// Adds `event`.
    pub fn push(&mut self, event: impl Event) {
        self.0.push(Box::new(event));
    }

    /// Adds `event`, builder style.
    pub fn with(mut self, event: impl Event) -> Self {
        self.push(event);
        self
    }

    /// How many events.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.0).finish()
    }
}

/// What a `#[handle]` method may return inside its `Result`: an event, `Option`, `Vec`,
/// a tuple of these, `()` for none, or [`Events`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a list of events",
    note = "a `#[handle]` method or a `#[dispatcher]` returns `Result<T, Error>` where `T` is an event type, `Option<T>`, `Vec<T>`, a tuple of these, `()` or `herald::Events`"
)]
pub trait IntoEvents {
    /// Adds the names of the event types this can hold (none for [`Events`], whose
    /// types are only known at run time).
    fn event_names(names: &mut Vec<&'static str>);
    /// Moves the events into `out`, in order.
    fn into_events(self, out: &mut Vec<Box<dyn AnyEvent>>);
}

impl IntoEvents for () {
    fn event_names(_: &mut Vec<&'static str>) {}
    fn into_events(self, _: &mut Vec<Box<dyn AnyEvent>>) {}
}

impl IntoEvents for Events {
    fn event_names(_: &mut Vec<&'static str>) {}
    fn into_events(self, out: &mut Vec<Box<dyn AnyEvent>>) {
        out.extend(self.0);
    }
}

impl<T: IntoEvents> IntoEvents for Option<T> {
    fn event_names(names: &mut Vec<&'static str>) {
        T::event_names(names)
    }
    fn into_events(self, out: &mut Vec<Box<dyn AnyEvent>>) {
        if let Some(events) = self {
            events.into_events(out)
        }
    }
}

impl<T: IntoEvents> IntoEvents for Vec<T> {
    fn event_names(names: &mut Vec<&'static str>) {
        T::event_names(names)
    }
    fn into_events(self, out: &mut Vec<Box<dyn AnyEvent>>) {
        for events in self {
            events.into_events(out)
        }
    }
}

macro_rules! tuple_into_events {
    ($($t:ident),+) => {
        impl<$($t: IntoEvents),+> IntoEvents for ($($t,)+) {
            fn event_names(names: &mut Vec<&'static str>) {
                $($t::event_names(names);)+
            }
            #[allow(non_snake_case, reason = "the bindings are named after their types")]
            fn into_events(self, out: &mut Vec<Box<dyn AnyEvent>>) {
                let ($($t,)+) = self;
                $($t.into_events(out);)+
            }
        }
    };
}
tuple_into_events!(A);
tuple_into_events!(A, B);
tuple_into_events!(A, B, C);
tuple_into_events!(A, B, C, D);
tuple_into_events!(A, B, C, D, E);
tuple_into_events!(A, B, C, D, E, F);

/// A value that can be written into a route segment: the type of a field named by a
/// `:param` of a command or event route, or by a command's `id`.
///
/// Implemented for strings, integers, `bool`, `char` and [`Uuid`](uuid::Uuid). Implement it
/// for your own id types; what you write must be a valid segment (non-empty, no `.`, `*`,
/// `:`, `>`, whitespace or control characters) or rendering the route fails with an
/// error naming the parameter.
///
/// ```
/// use herald::RouteParam;
/// struct UserId(u64);
/// impl RouteParam for UserId {
///     fn write_route_segment(&self, out: &mut String) {
///         self.0.write_route_segment(out)
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be written into a route",
    note = "route parameters and command ids are strings, integers, `bool`, `char` or `Uuid`; implement `herald::RouteParam` for `{Self}` to use it"
)]
pub trait RouteParam {
    /// Appends the value's text to `out`.
    fn write_route_segment(&self, out: &mut String);
}

macro_rules! display_route_param {
    ($($t:ty),*) => {$(
        impl RouteParam for $t {
            fn write_route_segment(&self, out: &mut String) {
                use std::fmt::Write;
                let _ = write!(out, "{self}"); // writing to a String cannot fail
            }
        }
    )*};
}
display_route_param!(
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    bool,
    char,
    uuid::Uuid
);

impl RouteParam for str {
    fn write_route_segment(&self, out: &mut String) {
        out.push_str(self)
    }
}

impl RouteParam for String {
    fn write_route_segment(&self, out: &mut String) {
        out.push_str(self)
    }
}

impl RouteParam for Box<str> {
    fn write_route_segment(&self, out: &mut String) {
        out.push_str(self)
    }
}

impl RouteParam for Arc<str> {
    fn write_route_segment(&self, out: &mut String) {
        out.push_str(self)
    }
}

impl<T: RouteParam + ?Sized> RouteParam for &T {
    fn write_route_segment(&self, out: &mut String) {
        (**self).write_route_segment(out)
    }
}
