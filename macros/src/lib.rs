//! Herald's procedural macros. Use them through the `herald` crate, which documents them:
//! [`herald::event`](https://docs.rs/herald/latest/herald/attr.event.html),
//! [`herald::command`](https://docs.rs/herald/latest/herald/attr.command.html),
//! [`herald::aggregate`](https://docs.rs/herald/latest/herald/attr.aggregate.html) and
//! [`herald::upcast`](https://docs.rs/herald/latest/herald/attr.upcast.html).
//!
//! Each entry point is thin: parse (`attr`), check, expand. On failure an attribute
//! still returns the item with the errors, so the rest of the crate keeps compiling and
//! IDEs keep working.

use proc_macro::TokenStream;

mod aggregate;
mod args;
mod command;
mod errors;
mod event;
mod fields;
mod handler;
mod route;
mod schema_derive;
mod serde_derive;
mod symbol;
mod upcast;

/// Declares an event. See `herald::event`.
#[proc_macro_attribute]
pub fn event(args: TokenStream, item: TokenStream) -> TokenStream {
    event::expand(args.into(), item.into()).into()
}

/// Declares a command. See `herald::command`.
#[proc_macro_attribute]
pub fn command(args: TokenStream, item: TokenStream) -> TokenStream {
    command::expand(args.into(), item.into()).into()
}

/// Declares an aggregate (on its struct) or its handlers (on an `impl` block). See
/// `herald::aggregate`.
#[proc_macro_attribute]
pub fn aggregate(args: TokenStream, item: TokenStream) -> TokenStream {
    aggregate::expand(args.into(), item.into()).into()
}

/// Derives `Aggregate` for the state, its options in `#[herald(…)]`. See
/// `herald::Aggregate`.
#[proc_macro_derive(Aggregate, attributes(herald))]
pub fn derive_aggregate(input: TokenStream) -> TokenStream {
    aggregate::derive(input.into()).into()
}

/// Upcasts a stored event payload from an older schema version. See `herald::upcast`.
#[proc_macro_attribute]
pub fn upcast(args: TokenStream, item: TokenStream) -> TokenStream {
    upcast::expand(args.into(), item.into()).into()
}

/// Runs a function on commands before or after their aggregate. See `herald::hook`.
#[proc_macro_attribute]
pub fn hook(args: TokenStream, item: TokenStream) -> TokenStream {
    handler::hook(args.into(), item.into()).into()
}

/// Writes events into a read model. See `herald::projector`.
#[proc_macro_attribute]
pub fn projector(args: TokenStream, item: TokenStream) -> TokenStream {
    handler::event_handler(handler::Kind::Projector, args.into(), item.into()).into()
}

/// Dispatches follow-up commands for events. See `herald::processor`.
#[proc_macro_attribute]
pub fn processor(args: TokenStream, item: TokenStream) -> TokenStream {
    handler::event_handler(handler::Kind::Processor, args.into(), item.into()).into()
}

/// Derives side events from events. See `herald::dispatcher`.
#[proc_macro_attribute]
pub fn dispatcher(args: TokenStream, item: TokenStream) -> TokenStream {
    handler::event_handler(handler::Kind::Dispatcher, args.into(), item.into()).into()
}

/// A named set of live subscribers to route patterns, and who may join it. See
/// `herald::channel`.
#[proc_macro_attribute]
pub fn channel(args: TokenStream, item: TokenStream) -> TokenStream {
    handler::channel(args.into(), item.into()).into()
}

/// A side effect outside the database, with its compensation. See `herald::saga_step`.
#[proc_macro_attribute]
pub fn saga_step(args: TokenStream, item: TokenStream) -> TokenStream {
    handler::saga_step(args.into(), item.into()).into()
}

/// What `herald::JsonSchema` is without Herald's `http` feature: a derive that writes
/// nothing, so that code deriving it compiles with the feature and without it.
#[doc(hidden)]
#[proc_macro_derive(JsonSchema, attributes(schemars, schema))]
pub fn derive_no_json_schema(_: TokenStream) -> TokenStream {
    TokenStream::new()
}
