//! `#[event("route", name = "…", version = N, aggregate = Type, stream = "…")]`.

use proc_macro2::TokenStream;
use syn::{LitStr, Path};

use crate::args::{self, Once};
use crate::errors::Errors;
use crate::symbol::{AGGREGATE, NAME, STREAM, VERSION};

pub(crate) struct Options {
    pub(crate) name: Option<LitStr>,
    pub(crate) version: Option<u32>,
    /// The aggregate whose streams hold the event.
    pub(crate) aggregate: Option<Path>,
    /// The stream type it is recorded in without an aggregate.
    pub(crate) stream: Option<LitStr>,
}

pub(crate) fn parse(args: TokenStream, errors: &mut Errors) -> (Option<LitStr>, Options) {
    let mut name = Once::new(NAME);
    let mut version = Once::new(VERSION);
    let mut aggregate = Once::new(AGGREGATE);
    let mut stream = Once::new(STREAM);
    let route = args::parse(args, errors, |meta, errors| {
        if meta.path.is_ident(NAME) {
            // #[event("…", name = "user-created")]
            if let Some(lit) = args::name(&meta, errors)? {
                name.set(errors, &meta, lit);
            }
        } else if meta.path.is_ident(VERSION) {
            // #[event("…", version = 2)]
            if let Some(n) = args::positive(&meta, errors, "; schema versions start at 1")? {
                version.set(errors, &meta, n);
            }
        } else if meta.path.is_ident(AGGREGATE) {
            // #[event("…", aggregate = Account)]
            let value = meta.value()?;
            if let Ok(lit) = value.parse::<LitStr>() {
                errors.at(
                    &lit,
                    "`aggregate` takes the aggregate's type, not its name: `aggregate = MyAggregate`",
                );
            } else {
                aggregate.set(errors, &meta, value.parse::<Path>()?);
            }
        } else if meta.path.is_ident(STREAM) {
            // #[event("…", stream = "notes")]
            if let Some(lit) = args::name(&meta, errors)? {
                stream.set(errors, &meta, lit);
            }
        } else {
            return Err(args::unknown(
                &meta,
                "event",
                &[AGGREGATE, NAME, STREAM, VERSION],
            ));
        }
        Ok(())
    });
    let (aggregate, stream) = (aggregate.get(), stream.get());
    if let (Some(aggregate), Some(stream)) = (&aggregate, &stream) {
        // Reported at both: either one is the one to remove.
        let message = "an event has one kind of stream: `aggregate` puts it in the aggregate's streams, `stream` in streams of that name without an aggregate; remove one";
        errors.at(aggregate, message);
        errors.at(stream, message);
    }
    (
        route,
        Options {
            name: name.get(),
            version: version.get(),
            aggregate,
            stream,
        },
    )
}
