//! `#[upcast(Event, from = N)]`.

use proc_macro2::TokenStream;
use syn::parse::{ParseStream, Parser};
use syn::{LitInt, LitStr, Token, Type};

use crate::args::{self, Once};
use crate::errors::Errors;
use crate::symbol::FROM;

pub(crate) struct Args {
    pub(crate) event: Type,
    /// The schema version the function reads, with its literal (for spans).
    pub(crate) from: Option<(u32, LitInt)>,
}

/// The event type and the options; `None` when there is no event type to go on with
/// (the errors are recorded).
pub(crate) fn parse(args: TokenStream, errors: &mut Errors) -> Option<Args> {
    let (event, rest) = match split_event.parse2(args) {
        Ok(split) => split,
        Err(error) => {
            errors.push(error);
            return None;
        }
    };
    let mut from = Once::new(FROM);
    let parsed = syn::meta::parser(|meta| {
        if meta.path.is_ident(FROM) {
            // #[upcast(UserRenamed, from = 1)]
            let lit: LitInt = meta.value()?.parse()?;
            match lit.base10_parse::<u32>() {
                Ok(0) => errors.at(
                    &lit,
                    "`from` must be at least 1: schema versions start at 1",
                ),
                Ok(n) => from.set(errors, &meta, (n, lit)),
                Err(_) => errors.at(&lit, "`from` takes a whole number from 1 to 4294967295"),
            }
            Ok(())
        } else {
            Err(args::unknown(&meta, "upcast", &[FROM]))
        }
    })
    .parse2(rest);
    errors.ok(parsed);
    Some(Args {
        event,
        from: from.get(),
    })
}

/// The event type, then the options after a comma.
fn split_event(input: ParseStream<'_>) -> syn::Result<(Type, TokenStream)> {
    if input.is_empty() {
        return Err(syn::Error::new(
            proc_macro2::Span::call_site(),
            "`#[upcast]` names the event and the version it reads: `#[upcast(UserRenamed, from = 1)]`",
        ));
    }
    if input.peek(LitStr) {
        let name: LitStr = input.parse()?;
        return Err(syn::Error::new(
            name.span(),
            format!(
                "`#[upcast]` names the event type, not a string: `#[upcast({}, from = …)]`",
                name.value()
            ),
        ));
    }
    let event: Type = input.parse()?;
    if !input.is_empty() {
        input.parse::<Token![,]>()?;
    }
    Ok((event, input.parse()?))
}
