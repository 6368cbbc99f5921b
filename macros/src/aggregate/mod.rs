//! `#[aggregate(…)]` (or `#[derive(Aggregate)]` with `#[herald(…)]`) on the state
//! struct, and bare `#[aggregate]` on the `impl` block of its `#[handle]` and `#[apply]`
//! methods.

mod attr;
mod expand;
mod methods;
mod state;

use proc_macro2::TokenStream;
use syn::Item;

use crate::errors::with_item;

pub(crate) use state::derive;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Struct(s)) => state::expand(args, &s.ident, &s.generics, &s.attrs, &item),
        Ok(Item::Enum(e)) => state::expand(args, &e.ident, &e.generics, &e.attrs, &item),
        Ok(Item::Impl(block)) => methods::expand(args, block),
        Ok(other) => with_item(
            &item,
            syn::Error::new_spanned(
                &other,
                "`#[aggregate]` goes on the aggregate's struct and on the `impl` block of its `#[handle]` and `#[apply]` methods",
            ),
        ),
        Err(error) => with_item(&item, error),
    }
}
