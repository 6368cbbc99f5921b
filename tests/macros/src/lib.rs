//! `#[on_every_backend]` for Herald's integration tests; use it through `herald-tests`,
//! which re-exports and documents it (`herald_tests::on_every_backend`).

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, ReturnType};

/// Runs an `async fn case(test: &TestStore)` on every backend. See
/// `herald_tests::on_every_backend`.
#[proc_macro_attribute]
pub fn on_every_backend(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args.into(), item.into()).into()
}

/// The stores a case runs on: the test's name, and how `herald_tests` opens one.
const BACKENDS: [(&str, &str); 3] = [
    ("memory", "TestStore::memory()"),
    ("sqlite", "TestStore::sqlite().await"),
    ("postgres", "TestStore::postgres().await"),
];

/// The case, unchanged, and beside it a module of its name holding a `#[tokio::test]`
/// per backend. On failure, the item as it was and the errors.
fn expand(args: TokenStream2, item: TokenStream2) -> TokenStream2 {
    match check(args, item.clone()) {
        Ok(case) => tests(&case),
        Err(error) => {
            let error = error.into_compile_error();
            quote!(#item #error)
        }
    }
}

/// The case, if it is one: an `async fn` taking one argument and returning nothing.
fn check(args: TokenStream2, item: TokenStream2) -> syn::Result<ItemFn> {
    let case: ItemFn = syn::parse2(item.clone()).map_err(|_| {
        syn::Error::new_spanned(
            &item,
            "`#[on_every_backend]` goes on a case: `async fn name(test: &TestStore)`",
        )
    })?;
    let mut errors = Vec::new();
    if !args.is_empty() {
        errors.push(syn::Error::new_spanned(
            &args,
            "`#[on_every_backend]` takes no arguments; a case that needs another store is a \
             `#[tokio::test]` of its own",
        ));
    }
    let sig = &case.sig;
    if sig.asyncness.is_none() {
        errors.push(syn::Error::new_spanned(
            sig.fn_token,
            "a case is an `async fn`: write `async fn name(test: &TestStore)`",
        ));
    }
    // Spanned on what is not the store: a receiver, a second argument, or empty parentheses.
    let receiver = sig
        .inputs
        .iter()
        .find(|arg| matches!(arg, FnArg::Receiver(_)));
    let wrong = match (receiver, sig.inputs.len()) {
        (Some(receiver), _) => Some(receiver.span()),
        (None, 0) => Some(sig.paren_token.span.join()),
        (None, 1) => None,
        (None, _) => sig.inputs.iter().nth(1).map(Spanned::span),
    };
    if let Some(span) = wrong {
        errors.push(syn::Error::new(
            span,
            "a case takes the store and nothing else: `(test: &TestStore)`",
        ));
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        errors.push(syn::Error::new_spanned(
            ty,
            "a case returns nothing: it asserts, and panics when an assertion fails",
        ));
    }
    if !sig.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            "a case has no generic parameters: it takes `&TestStore`",
        ));
    }
    match errors.into_iter().reduce(|mut all, next| {
        all.combine(next);
        all
    }) {
        Some(errors) => Err(errors),
        None => Ok(case),
    }
}

/// The case, and the module of its tests.
fn tests(case: &ItemFn) -> TokenStream2 {
    let name = &case.sig.ident;
    let tests = BACKENDS.iter().map(|(backend, open)| {
        let backend = syn::Ident::new(backend, name.span());
        let open: TokenStream2 = open.parse().expect("a store's constructor parses");
        // Spanned on the case's name: an error in the call points at the case.
        quote_spanned! {name.span()=>
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn #backend() {
                use ::herald_tests::backends::TestStore;
                super::#name(&#open).await;
            }
        }
    });
    quote! {
        #case
        /// The case on each backend.
        mod #name {
            #(#tests)*
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expanded(args: TokenStream2, item: TokenStream2) -> String {
        expand(args, item).to_string()
    }

    #[test]
    fn a_case_keeps_its_function_and_gets_a_test_per_backend() {
        let out = expanded(
            quote!(),
            quote!(
                async fn appends(test: &TestStore) {
                    assert!(true)
                }
            ),
        );
        assert!(out.starts_with("async fn appends"), "{out}");
        assert!(out.contains("mod appends"), "{out}");
        for backend in ["memory", "sqlite", "postgres"] {
            assert!(out.contains(&format!("async fn {backend} ()")), "{out}");
        }
        assert!(out.contains("TestStore :: postgres () . await"), "{out}");
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn what_is_not_a_case_keeps_the_item_and_says_why() {
        let out = expanded(
            quote!(sqlite),
            quote!(
                fn appends(test: &TestStore, n: u32) -> bool {
                    true
                }
            ),
        );
        assert!(out.starts_with("fn appends"), "the item stays: {out}");
        for message in [
            "takes no arguments",
            "a case is an `async fn`",
            "takes the store and nothing else",
            "a case returns nothing",
        ] {
            assert!(out.contains(message), "{message}: {out}");
        }
        assert!(!out.contains("mod appends"), "{out}");
    }

    #[test]
    fn an_item_that_is_not_a_function_is_refused() {
        let out = expanded(
            quote!(),
            quote!(
                struct Case;
            ),
        );
        assert!(out.contains("goes on a case"), "{out}");
    }
}
