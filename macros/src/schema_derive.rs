//! Commands and events describe themselves in the HTTP door's OpenAPI document: the
//! macros derive `JsonSchema` through Herald's re-export, which is schemars' derive with
//! the `http` feature and one that writes nothing without it. A type that derives it
//! itself (seen below the attribute, or inferred from a `#[schemars(…)]` attribute, which
//! only that derive reads) gets none added.

use proc_macro2::TokenStream;
use quote::quote;
use syn::Attribute;

use crate::serde_derive::derives;

/// The `#[derive(JsonSchema)]` (and `#[schemars(crate)]`) to add to an item with `attrs`.
pub(crate) fn missing(attrs: &[Attribute]) -> TokenStream {
    let own = derives(attrs, "JsonSchema") || attrs.iter().any(|a| a.path().is_ident("schemars"));
    if own {
        return TokenStream::new();
    }
    quote! {
        #[derive(::herald::__private::JsonSchema)]
        #[schemars(crate = "::herald::__private::schemars")]
    }
}

#[cfg(test)]
mod tests {
    use super::missing;
    use syn::parse_quote;

    #[test]
    fn derives_through_the_reexport_unless_the_item_does() {
        let added = missing(&[parse_quote!(#[derive(Debug)])]).to_string();
        assert!(
            added.contains(":: herald :: __private :: JsonSchema"),
            "{added}"
        );
        assert!(missing(&[parse_quote!(#[derive(schemars::JsonSchema)])]).is_empty());
        assert!(missing(&[parse_quote!(#[schemars(rename = "Order")])]).is_empty());
    }
}
