//! `#[aggregate(name = "…", snapshot_every = N, version = N)]` on the struct.

use proc_macro2::TokenStream;
use syn::LitStr;

use crate::args::{self, Once};
use crate::errors::Errors;
use crate::symbol::{NAME, SNAPSHOT_EVERY, VERSION};

pub(crate) struct Options {
    pub(crate) name: Option<LitStr>,
    pub(crate) snapshot_every: Option<u32>,
    pub(crate) version: Option<u32>,
}

pub(crate) fn parse(args: TokenStream, errors: &mut Errors) -> Options {
    let mut name = Once::new(NAME);
    let mut snapshot_every = Once::new(SNAPSHOT_EVERY);
    let mut version = Once::new(VERSION);
    let route = args::parse(args, errors, |meta, errors| {
        if meta.path.is_ident(NAME) {
            // #[aggregate(name = "user")]
            if let Some(lit) = args::name(&meta, errors)? {
                name.set(errors, &meta, lit);
            }
        } else if meta.path.is_ident(SNAPSHOT_EVERY) {
            // #[aggregate(snapshot_every = 100)]
            if let Some(n) = args::positive(
                &meta,
                errors,
                "; leave `snapshot_every` out for no snapshots",
            )? {
                snapshot_every.set(errors, &meta, n);
            }
        } else if meta.path.is_ident(VERSION) {
            // #[aggregate(version = 2)]
            if let Some(n) = args::positive(&meta, errors, "; state versions start at 1")? {
                version.set(errors, &meta, n);
            }
        } else {
            return Err(args::unknown(
                &meta,
                "aggregate",
                &[NAME, SNAPSHOT_EVERY, VERSION],
            ));
        }
        Ok(())
    });
    if let Some(route) = route {
        errors.at(route, "an aggregate has no route: its name is `name = \"…\"`, and its commands and events carry the routes");
    }
    Options {
        name: name.get(),
        snapshot_every: snapshot_every.get(),
        version: version.get(),
    }
}
