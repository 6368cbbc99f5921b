//! The aggregate's struct: the `Aggregate` impl and the registration.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::{Attribute, Generics, Ident};

use super::attr;
use crate::errors::{Errors, with_item};
use crate::serde_derive;

pub(crate) fn expand(
    args: TokenStream,
    ident: &Ident,
    generics: &Generics,
    attrs: &[Attribute],
    item: &TokenStream,
) -> TokenStream {
    let mut errors = Errors::default();
    let options = attr::parse(args, &mut errors);
    if !generics.params.is_empty() {
        errors.at(
            generics,
            "an aggregate cannot be generic: its streams have one type",
        );
    }
    if let Err(error) = errors.check() {
        return with_item(item, error);
    }
    let serde = serde_derive::missing(attrs);
    let name = options
        .name
        .map_or_else(|| ident.to_string(), |lit| lit.value());
    let snapshot_every = options.snapshot_every.unwrap_or(0);
    let version = options.version.unwrap_or(1);
    // Spanned on the name: a missing `Default` or `impl` block is reported there.
    let header = quote_spanned!(ident.span()=> impl ::herald::Aggregate for #ident);
    quote! {
        #serde
        #item

        #[automatically_derived]
        #header {
            const NAME: &'static str = #name;
            const SNAPSHOT_EVERY: u32 = #snapshot_every;
            const VERSION: u32 = #version;
        }

        ::herald::__private::inventory::submit! {
            ::herald::__private::AggregateRow {
                name: #name,
                type_name: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#ident)),
                module: ::core::module_path!(),
                snapshot_every: #snapshot_every,
                version: #version,
                applies: <#ident as ::herald::Apply>::APPLIES,
            }
        }
    }
}
