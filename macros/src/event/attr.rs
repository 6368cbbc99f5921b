//! `#[event("route", name = "…", version = N)]`.

use proc_macro2::TokenStream;
use syn::LitStr;

use crate::args::{self, Once};
use crate::errors::Errors;
use crate::symbol::{NAME, VERSION};

pub(crate) struct Options {
    pub(crate) name: Option<LitStr>,
    pub(crate) version: Option<u32>,
}

pub(crate) fn parse(args: TokenStream, errors: &mut Errors) -> (Option<LitStr>, Options) {
    let mut name = Once::new(NAME);
    let mut version = Once::new(VERSION);
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
        } else {
            return Err(args::unknown(&meta, "event", &[NAME, VERSION]));
        }
        Ok(())
    });
    (
        route,
        Options {
            name: name.get(),
            version: version.get(),
        },
    )
}
