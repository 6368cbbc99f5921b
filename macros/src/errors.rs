//! Collects every error of one item, so one compile reports them all (serde's `Ctxt`).
//! An accumulator must be checked: one dropped with errors unchecked would lose them, so
//! that is a bug in the macro, and it panics (when the macro is not panicking already).

use std::fmt::Display;

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};

#[derive(Default)]
pub(crate) struct Errors {
    combined: Option<syn::Error>,
    checked: bool,
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

    /// Every error recorded, as one.
    pub(crate) fn check(mut self) -> syn::Result<()> {
        self.checked = true;
        self.combined.take().map_or(Ok(()), Err)
    }

    /// The errors recorded so far, with `error` after them: for a parse that cannot go
    /// on.
    pub(crate) fn fail(mut self, error: syn::Error) -> syn::Error {
        self.push(error);
        self.check().expect_err("an error was just pushed")
    }
}

impl Drop for Errors {
    fn drop(&mut self) {
        if !self.checked && self.combined.is_some() && !std::thread::panicking() {
            panic!("a macro dropped errors it had collected without reporting them");
        }
    }
}

/// The item as the user wrote it, followed by the errors: the rest of the crate keeps
/// compiling against the item, and only these errors are reported.
pub(crate) fn with_item(item: &TokenStream, error: syn::Error) -> TokenStream {
    let error = error.into_compile_error();
    quote!(#item #error)
}

/// An attribute macro on a function: `item` parsed as one and given to `expand`. On
/// anything else the error says `misplaced`, and with every error the item stays, so
/// that the user sees this error and not a cascade of missing names.
pub(crate) fn on_function(
    item: TokenStream,
    misplaced: impl FnOnce() -> String,
    expand: impl FnOnce(&syn::ItemFn) -> syn::Result<TokenStream>,
) -> TokenStream {
    let function = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Fn(function)) => function,
        Ok(other) => return with_item(&item, syn::Error::new_spanned(&other, misplaced())),
        Err(error) => return with_item(&item, error),
    };
    expand(&function).unwrap_or_else(|error| with_item(&item, error))
}

#[cfg(test)]
mod tests {
    use super::Errors;

    #[test]
    fn every_error_is_reported_at_once() {
        let mut errors = Errors::default();
        errors.at(quote::quote!(a), "first");
        errors.ok::<()>(Err(syn::Error::new(
            proc_macro2::Span::call_site(),
            "second",
        )));
        let combined = errors.check().unwrap_err();
        let messages: Vec<String> = combined.into_iter().map(|e| e.to_string()).collect();
        assert_eq!(messages, ["first", "second"]);
    }

    #[test]
    #[should_panic(expected = "without reporting them")]
    fn errors_dropped_unchecked_are_a_bug() {
        let mut errors = Errors::default();
        errors.at(quote::quote!(a), "lost");
    }
}
