//! `#[upcast(Event, from = N)]` on `fn(json::Value) -> json::Value`: brings a stored
//! payload of schema version N to version N + 1.

mod attr;

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, ReturnType};

use crate::errors::{Errors, on_function};

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    on_function(
        item,
        || "`#[upcast]` goes on a function `fn(herald::json::Value) -> herald::json::Value`".into(),
        |function| check(args, function).map(|(event, from)| generate(function, &event, from)),
    )
}

fn check(args: TokenStream, function: &ItemFn) -> syn::Result<(syn::Type, (u32, syn::LitInt))> {
    let mut errors = Errors::default();
    let args = attr::parse(args, &mut errors);
    let sig = &function.sig;
    if let Some(asyncness) = &sig.asyncness {
        errors.at(
            asyncness,
            "an upcaster is not async: it rewrites one JSON value",
        );
    }
    if !sig.generics.params.is_empty() {
        errors.at(&sig.generics, "an upcaster cannot be generic");
    }
    let shape = "an upcaster takes the stored payload and returns it one version newer: \
                 `fn(payload: herald::json::Value) -> herald::json::Value`";
    match (sig.inputs.len(), sig.inputs.first()) {
        (1, Some(FnArg::Typed(_))) => {}
        (_, Some(FnArg::Receiver(receiver))) => errors.at(receiver, shape),
        _ => errors.at(&sig.ident, shape),
    }
    if let ReturnType::Default = sig.output {
        errors.at(&sig.ident, shape);
    }
    if let Some(args) = args.as_ref().filter(|a| a.from.is_none()) {
        errors.at(
            &args.event,
            "`#[upcast]` needs the schema version it reads: `#[upcast(…, from = 1)]`",
        );
    }
    errors.check()?;
    let args = args.expect("checked");
    Ok((args.event, args.from.expect("checked")))
}

fn generate(function: &ItemFn, event: &syn::Type, (from, lit): (u32, syn::LitInt)) -> TokenStream {
    let ident = &function.sig.ident;
    // Spanned on the user's tokens: an event type that is not an event, a signature that
    // is not `fn(Value) -> Value` and a `from` that is not older are reported there.
    let event_name = quote_spanned!(event.span()=> <#event as ::herald::Event>::NAME);
    // A signature that is not `fn(Value) -> Value` is a type mismatch on this const,
    // spanned on the signature.
    let checked = quote::format_ident!("__HERALD_UPCAST_{}", ident);
    let typed = quote_spanned!(function.sig.span()=>
        #[allow(non_upper_case_globals)]
        const #checked: fn(::herald::json::Value) -> ::herald::json::Value = #ident;
    );
    let message = format!(
        "`#[upcast(…, from = {from})]` reads schema version {from}, which is not older than the event's `version`: an upcaster brings an older version to the next, up to the current one"
    );
    let older = quote_spanned!(lit.span()=>
        const _: () = ::core::assert!(#lit < <#event as ::herald::Event>::VERSION, #message);
    );
    quote! {
        #function
        #typed
        #older
        ::herald::__private::inventory::submit! {
            ::herald::__private::UpcasterRow {
                event: #event_name,
                event_type: ::core::any::TypeId::of::<#event>,
                to: <#event as ::herald::Event>::VERSION,
                from: #from,
                name: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#ident)),
                module: ::core::module_path!(),
                upcast: #checked,
            }
        }
    }
}
