//! Events, commands and aggregates are serialized; the macros derive serde's traits
//! through Herald's re-export when the type does not, so users need not depend on serde.

use proc_macro2::TokenStream;
use quote::quote;
use syn::punctuated::Punctuated;
use syn::{Attribute, Path, Token};

/// The `#[derive]` (and `#[serde(crate)]`) attributes to add to an item with `attrs`.
pub(crate) fn missing(attrs: &[Attribute]) -> TokenStream {
    let derived = |name: &str| {
        attrs
            .iter()
            .filter(|a| a.path().is_ident("derive"))
            .any(|a| {
                a.parse_args_with(Punctuated::<Path, Token![,]>::parse_terminated)
                    .is_ok_and(|paths| {
                        paths
                            .iter()
                            .any(|p| p.segments.last().is_some_and(|s| s.ident == name))
                    })
            })
    };
    let mut derives = Vec::new();
    if !derived("Serialize") {
        derives.push(quote!(::herald::__private::serde::Serialize));
    }
    if !derived("Deserialize") {
        derives.push(quote!(::herald::__private::serde::Deserialize));
    }
    if derives.is_empty() {
        return TokenStream::new();
    }
    quote! {
        #[derive(#(#derives),*)]
        #[serde(crate = "::herald::__private::serde")]
    }
}
