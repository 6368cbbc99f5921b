//! `#[channel("pattern", "pattern", …, name = "…", event = MyEvent)]` on
//! `async fn(join: &Join, reader: &mut Reader) -> Result<(), Forbidden>`: a named set of
//! live subscribers to route patterns, and the function that decides whether a subscriber
//! may join.

use herald_route::Pattern;
use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, LitStr, ReturnType, Type};

use super::{name, pattern_check, wrapper_ident};
use crate::args::{self, Once};
use crate::errors::{Errors, on_function};
use crate::symbol::{EVENT, NAME};

const SHAPE: &str = "async fn authorize(join: &Join, reader: &mut Reader) -> Result<(), Forbidden>";
const EXAMPLE: &str = "`#[channel(\"account.:account_id.*\")]`";

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    on_function(
        item,
        || format!("`#[channel]` goes on its authorization function: `{SHAPE}`"),
        |function| Channel::parse(args, function).map(|channel| channel.expand()),
    )
}

struct Channel<'a> {
    function: &'a ItemFn,
    patterns: Vec<LitStr>,
    name: String,
    /// A typed channel's event: only its events reach the subscribers.
    event: Option<Type>,
    output: &'a Type,
}

impl<'a> Channel<'a> {
    fn parse(args: TokenStream, function: &'a ItemFn) -> syn::Result<Self> {
        let mut errors = Errors::default();
        let mut given_name = Once::new(NAME);
        let mut event = Once::new(EVENT);
        let mut patterns = Vec::new();
        let mut options_seen = false;
        let mut literals = 0;
        for one in split(args) {
            if let Ok(lit) = syn::parse2::<LitStr>(one.clone()) {
                literals += 1;
                // #[channel("account.:account_id.*", "audit.*")]
                if options_seen {
                    errors.at(
                        &lit,
                        "a channel's patterns come first, before its options: `#[channel(\"a.*\", \"b.*\", name = \"…\")]`",
                    );
                }
                match Pattern::parse(&lit.value()) {
                    Ok(_) => patterns.push(lit),
                    Err(error) => errors.at(&lit, error),
                }
                continue;
            }
            options_seen = true;
            let parsed = syn::meta::parser(|meta| {
                if meta.path.is_ident(NAME) {
                    // #[channel("…", name = "accounts")]
                    if let Some(lit) = args::name(&meta, &mut errors)? {
                        given_name.set(&mut errors, &meta, lit);
                    }
                    Ok(())
                } else if meta.path.is_ident(EVENT) {
                    // #[channel("…", event = AccountOpened)]
                    let ty: Type = meta.value()?.parse()?;
                    event.set(&mut errors, &meta, ty);
                    Ok(())
                } else {
                    Err(args::unknown(&meta, "channel", &[EVENT, NAME]))
                }
            });
            let parsed = syn::parse::Parser::parse2(parsed, one);
            errors.ok(parsed);
        }
        if literals == 0 {
            errors.push(syn::Error::new(
                Span::call_site(),
                format!("a channel carries one route pattern at least: {EXAMPLE}"),
            ));
        }
        let output = signature(function, &mut errors);
        errors.check()?;
        Ok(Channel {
            function,
            patterns,
            name: name(given_name.get(), &function.sig.ident),
            event: event.get(),
            output: output.expect("checked"),
        })
    }

    fn expand(&self) -> TokenStream {
        let Channel {
            function,
            patterns,
            name,
            event,
            output,
        } = self;
        let ident = &function.sig.ident;
        let wrapper = wrapper_ident("channel", ident);
        let (checks, event_name) = match event {
            Some(ty) => {
                let checks = patterns.iter().map(|pattern| {
                    pattern_check(pattern, ty, quote!(<#ty as ::herald::Event>::ROUTES))
                });
                let name = quote_spanned!(ty.span()=> ::core::option::Option::Some(<#ty as ::herald::Event>::NAME));
                (quote!(#(#checks)*), name)
            }
            None => (TokenStream::new(), quote!(::core::option::Option::None)),
        };
        let decide = quote_spanned! {output.span()=>
            ::herald::channels::JoinOutput::into_decision(#ident(join, reader).await, join)
        };
        quote! {
            #function
            #checks

            #[doc(hidden)]
            fn #wrapper<'a>(
                join: &'a ::herald::channels::Join,
                reader: &'a mut ::herald::Reader,
            ) -> ::herald::BoxFuture<'a, ::core::result::Result<(), ::herald::channels::Forbidden>> {
                ::std::boxed::Box::pin(async move { #decide })
            }

            ::herald::__private::inventory::submit! {
                ::herald::__private::ChannelRow {
                    name: #name,
                    module: ::core::module_path!(),
                    patterns: &[#(#patterns),*],
                    event: #event_name,
                    authorize: #wrapper,
                }
            }
        }
    }
}

/// The arguments between top-level commas.
fn split(args: TokenStream) -> Vec<TokenStream> {
    let mut parts = vec![TokenStream::new()];
    for tree in args {
        match &tree {
            TokenTree::Punct(p) if p.as_char() == ',' => parts.push(TokenStream::new()),
            _ => parts.last_mut().expect("one at least").extend([tree]),
        }
    }
    parts.retain(|p| !p.is_empty());
    parts
}

/// Checks `async fn name(join: &Join, reader: &mut Reader) -> Output`; the output type.
fn signature<'a>(function: &'a ItemFn, errors: &mut Errors) -> Option<&'a Type> {
    let sig = &function.sig;
    let what = "a channel's authorization function";
    if sig.asyncness.is_none() {
        errors.at(sig.fn_token, format!("{what} is an `async fn`: `{SHAPE}`"));
    }
    if !sig.generics.params.is_empty() {
        errors.at(&sig.generics, format!("{what} cannot be generic"));
    }
    for (i, input) in sig.inputs.iter().enumerate() {
        match (i, input) {
            (_, FnArg::Receiver(receiver)) => {
                errors.at(receiver, format!("{what} is a free function: `{SHAPE}`"))
            }
            (0, FnArg::Typed(arg)) => check_param(&arg.ty, "Join", false, errors),
            (1, FnArg::Typed(arg)) => check_param(&arg.ty, "Reader", true, errors),
            (_, FnArg::Typed(arg)) => {
                errors.at(arg, format!("{what} takes two parameters: `{SHAPE}`"))
            }
        }
    }
    if sig.inputs.len() < 2 {
        errors.at(
            &sig.ident,
            format!("{what} takes two parameters, the join and a reader of read models: `{SHAPE}`"),
        );
    }
    match &sig.output {
        ReturnType::Default => {
            errors.at(
                &sig.ident,
                format!(
                    "{what} returns its decision, `Result<(), Forbidden>` or `bool`: `{SHAPE}`"
                ),
            );
            None
        }
        ReturnType::Type(_, ty) => Some(&**ty),
    }
}

/// A parameter that is recognizably Herald's `Join` or `Reader` but taken the wrong way;
/// another type is left to the type checker.
fn check_param(ty: &Type, expected: &str, mutable: bool, errors: &mut Errors) {
    let (reference, inner) = match ty {
        Type::Reference(r) => (Some(r), &*r.elem),
        other => (None, other),
    };
    let Type::Path(path) = inner else { return };
    let Some(last) = path.path.segments.last() else {
        return;
    };
    let found = last.ident.to_string();
    let written = match expected {
        "Join" => "join: &Join",
        _ => "reader: &mut Reader",
    };
    let other = match expected {
        "Join" => "Reader",
        _ => "Join",
    };
    if found == other {
        errors.at(
            ty,
            format!("a channel's authorization function takes the join first and the reader second: `{SHAPE}`"),
        );
        return;
    }
    if found != expected {
        return;
    }
    match reference.map(|r| r.mutability.is_some()) {
        Some(m) if m == mutable => {}
        _ => errors.at(
            ty,
            format!("a channel's authorization function takes `{written}`: `{SHAPE}`"),
        ),
    }
}
