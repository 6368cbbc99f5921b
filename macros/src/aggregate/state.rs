//! The aggregate's struct: the `Aggregate` impl and the registration.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::{Attribute, Generics, Ident, LitStr};

use super::attr;
use crate::errors::{Errors, with_item};
use crate::serde_derive;
use crate::symbol::HERALD;

/// `#[aggregate(…)]` on the struct: serde's derives when it has none, the item, the
/// `Aggregate` impl and the registration.
pub(crate) fn expand(
    args: TokenStream,
    ident: &Ident,
    generics: &Generics,
    attrs: &[Attribute],
    item: &TokenStream,
) -> TokenStream {
    let mut errors = Errors::default();
    let options = attr::parse(args, &mut errors);
    match checked(options, generics, errors) {
        Ok(options) => {
            let serde = serde_derive::missing(attrs);
            let impls = impls(&options, ident);
            quote!(#serde #item #impls)
        }
        Err(error) => with_item(item, error),
    }
}

/// `#[derive(Aggregate)]`, its options in `#[herald(…)]`: the `Aggregate` impl and the
/// registration (the state derives serde's traits itself).
pub(crate) fn derive(input: TokenStream) -> TokenStream {
    let input = match syn::parse2::<syn::DeriveInput>(input) {
        Ok(input) => input,
        Err(error) => return error.into_compile_error(),
    };
    let mut errors = Errors::default();
    let mut args = TokenStream::new();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident(HERALD)) {
        match &attr.meta {
            // #[herald(name = "account", snapshot_every = 100)]
            syn::Meta::List(list) => {
                if !args.is_empty() {
                    args.extend(quote!(,));
                }
                args.extend(list.tokens.clone());
            }
            other => errors.at(
                other,
                "write the aggregate's options as `#[herald(name = \"…\", snapshot_every = N, version = N)]`",
            ),
        }
    }
    let options = attr::parse(args, &mut errors);
    match checked(options, &input.generics, errors) {
        Ok(options) => impls(&options, &input.ident),
        Err(error) => error.into_compile_error(),
    }
}

/// The options, once the item is seen not to be generic; every error at once.
fn checked(
    options: attr::Options,
    generics: &Generics,
    mut errors: Errors,
) -> syn::Result<attr::Options> {
    if !generics.params.is_empty() {
        errors.at(
            generics,
            "an aggregate cannot be generic: its streams have one type",
        );
    }
    errors.check().map(|()| options)
}

/// The `Aggregate` impl and the registration.
fn impls(options: &attr::Options, ident: &Ident) -> TokenStream {
    let name = options
        .name
        .as_ref()
        .map_or_else(|| ident.to_string(), LitStr::value);
    let snapshot_every = options.snapshot_every.unwrap_or(0);
    let version = options.version.unwrap_or(1);
    // Spanned on the name: a missing `Default` or `impl` block is reported there.
    let header = quote_spanned!(ident.span()=> impl ::herald::Aggregate for #ident);
    quote! {
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
                load: ::herald::__private::load_json::<#ident>,
            }
        }
    }
}
