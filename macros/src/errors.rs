//! Collects every error of one item, so one compile reports them all (serde's `Ctxt`).

use std::fmt::Display;

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};

#[derive(Default)]
pub(crate) struct Errors {
    combined: Option<syn::Error>,
}

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.combined {
            Some(combined) => combined.combine(error),
            None => self.combined = Some(error),
        }
    }

    /// An error spanned on `tokens`.
    pub(crate) fn at(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// Keeps the error of `result`, if any, and its value otherwise.
    pub(crate) fn ok<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|error| self.push(error)).ok()
    }

    pub(crate) fn check(self) -> syn::Result<()> {
        self.combined.map_or(Ok(()), Err)
    }
}

/// The item as the user wrote it, followed by the errors: the rest of the crate keeps
/// compiling against the item, and only these errors are reported.
pub(crate) fn with_item(item: &TokenStream, error: syn::Error) -> TokenStream {
    let error = error.into_compile_error();
    quote!(#item #error)
}
