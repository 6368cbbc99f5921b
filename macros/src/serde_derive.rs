//! Events, commands and aggregates are serialized; the macros derive serde's traits
//! through Herald's re-export when the type does not, so users need not depend on serde.
//!
//! An attribute macro sees the attributes below it and the inert ones above it, but not a
//! `#[derive]` above it: rustc has expanded that derive already and removed it. So a
//! derive below is seen; one above is inferred from `#[serde(crate = "…")]`, which only a
//! derive of serde's reads (and which using Herald's re-export, `herald::serde`, needs):
//! with it and no derive below, the derives are taken to be above, and none is added.

use proc_macro2::TokenStream;
use quote::quote;
use syn::punctuated::Punctuated;
use syn::{Attribute, Meta, Path, Token};

/// The `#[derive]` (and `#[serde(crate)]`) attributes to add to an item with `attrs`.
pub(crate) fn missing(attrs: &[Attribute]) -> TokenStream {
    let derived = |name: &str| derives(attrs, name);
    let (serialize, deserialize) = (derived("Serialize"), derived("Deserialize"));
    let has_crate = attrs.iter().any(names_serde_crate);
    if has_crate && !serialize && !deserialize {
        // Derived above the attribute, where it cannot be seen.
        return TokenStream::new();
    }
    let mut derives = Vec::new();
    if !serialize {
        derives.push(quote!(::herald::__private::serde::Serialize));
    }
    if !deserialize {
        derives.push(quote!(::herald::__private::serde::Deserialize));
    }
    if derives.is_empty() {
        return TokenStream::new();
    }
    // The item's own `#[serde(crate = "…")]` serves these derives too (serde refuses two).
    let krate = (!has_crate).then(|| quote!(#[serde(crate = "::herald::__private::serde")]));
    quote! {
        #[derive(#(#derives),*)]
        #krate
    }
}

/// `#[serde(deny_unknown_fields)]` for a command, whose JSON comes from outside (the
/// HTTP door) and whose schema says it takes no other fields: added when the
/// `Deserialize` derive is this expansion's or below it, and no field is flattened
/// (serde cannot deny unknown fields then).
pub(crate) fn deny_unknown_fields(item: &syn::ItemStruct) -> Option<Attribute> {
    let derived_above =
        !derives(&item.attrs, "Deserialize") && item.attrs.iter().any(names_serde_crate);
    let serde_says = |attrs: &[Attribute], word: &str| {
        attrs
            .iter()
            .filter(|a| a.path().is_ident("serde"))
            .any(|a| {
                a.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
                    .is_ok_and(|metas| metas.iter().any(|m| m.path().is_ident(word)))
            })
    };
    let flattened = item.fields.iter().any(|f| serde_says(&f.attrs, "flatten"));
    if derived_above || flattened || serde_says(&item.attrs, "deny_unknown_fields") {
        return None;
    }
    Some(syn::parse_quote!(#[serde(deny_unknown_fields)]))
}

/// Whether one of `attrs` is a `#[derive]` of a trait named `name` (by its last segment).
pub(crate) fn derives(attrs: &[Attribute], name: &str) -> bool {
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
}

/// `#[serde(…, crate = "…", …)]`.
fn names_serde_crate(attr: &Attribute) -> bool {
    if !attr.path().is_ident("serde") {
        return false;
    }
    let Meta::List(list) = &attr.meta else {
        return false;
    };
    list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
        .is_ok_and(|metas| metas.iter().any(|m| m.path().is_ident("crate")))
}

#[cfg(test)]
mod tests {
    use super::missing;
    use syn::Attribute;
    use syn::parse_quote;

    fn added(attrs: &[Attribute]) -> String {
        missing(attrs).to_string()
    }

    #[test]
    fn derives_both_with_the_reexport_when_none_is_seen() {
        let out = added(&[parse_quote!(#[derive(Debug)])]);
        assert!(
            out.contains(":: herald :: __private :: serde :: Serialize"),
            "{out}"
        );
        assert!(
            out.contains(":: herald :: __private :: serde :: Deserialize"),
            "{out}"
        );
        assert!(
            out.contains("crate = \"::herald::__private::serde\""),
            "{out}"
        );
    }

    #[test]
    fn derives_nothing_when_both_are_derived_below() {
        let attrs: [Attribute; 1] = [parse_quote!(#[derive(serde::Serialize, Deserialize)])];
        assert_eq!(added(&attrs), "");
    }

    #[test]
    fn derives_the_missing_one_under_the_items_own_crate_path() {
        let attrs: [Attribute; 2] = [
            parse_quote!(#[derive(Serialize)]),
            parse_quote!(#[serde(crate = "herald::serde")]),
        ];
        let out = added(&attrs);
        assert!(out.contains("Deserialize"), "{out}");
        assert!(!out.contains("serde :: Serialize"), "{out}");
        assert!(!out.contains("crate"), "{out}");
    }

    #[test]
    fn a_crate_path_without_a_derive_below_means_a_derive_above() {
        let attrs: [Attribute; 1] =
            [parse_quote!(#[serde(rename_all = "camelCase", crate = "herald::serde")])];
        assert_eq!(added(&attrs), "");
    }

    #[test]
    fn other_serde_attributes_say_nothing_about_a_derive() {
        let attrs: [Attribute; 1] = [parse_quote!(#[serde(rename_all = "camelCase")])];
        assert!(added(&attrs).contains("Serialize"));
    }
}
