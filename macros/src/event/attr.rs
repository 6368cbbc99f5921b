//! `#[event("route", name = "…", version = N, aggregate = Type)]`.

use proc_macro2::TokenStream;
use syn::{LitStr, Path};

use crate::args::{self, Once};
use crate::errors::Errors;
use crate::symbol::{AGGREGATE, NAME, VERSION};

pub(crate) struct Options {
    pub(crate) name: Option<LitStr>,
    pub(crate) version: Option<u32>,
    /// The aggregate whose streams hold the event.
    pub(crate) aggregate: Option<Path>,
}

pub(crate) fn parse(args: TokenStream, errors: &mut Errors) -> (Option<LitStr>, Options) {
    let mut name = Once::new(NAME);
    let mut version = Once::new(VERSION);
    let mut aggregate = Once::new(AGGREGATE);
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
        } else {
            return Err(args::unknown(&meta, "event", &[AGGREGATE, NAME, VERSION]));
        }
        Ok(())
    });
    (
        route,
        Options {
            name: name.get(),
            version: version.get(),
            aggregate: aggregate.get(),
        },
    )
}
