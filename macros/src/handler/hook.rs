//! `#[hook(before | after, "pattern", priority = N, name = "…")]` on
//! `async fn(command: &mut MyCommand, cx: &mut Cx<'_>)`.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Ident, ItemFn, LitStr, Token, Type};

use super::{Common, Context, finish, name, pattern, pattern_check, signature, wrapper_ident};
use crate::args;
use crate::errors::{Errors, on_function};
use crate::symbol::{NAME, PRIORITY};

const SHAPE: &str =
    "async fn check(command: &mut MyCommand, cx: &mut Cx<'_>) -> Result<(), MyError>";
const EXAMPLE: &str = "`#[hook(before, \"create.user\")]`";

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    on_function(
        item,
        || format!("`#[hook]` goes on a function: `{SHAPE}`"),
        |function| Hook::parse(args, function).map(|hook| hook.expand()),
    )
}

struct Hook<'a> {
    function: &'a ItemFn,
    when: Ident,
    pattern: LitStr,
    name: String,
    priority: i32,
    command: &'a Type,
    by_mut: bool,
    sig: super::Signature<'a>,
}

impl<'a> Hook<'a> {
    fn parse(args: TokenStream, function: &'a ItemFn) -> syn::Result<Self> {
        let mut errors = Errors::default();
        let (when, rest) = split_when.parse2(args)?;
        let mut common = Common::new();
        let lit = args::parse(rest, &mut errors, |meta, errors| {
            if common.parse(&meta, errors)? {
                Ok(())
            } else {
                Err(args::unknown(&meta, "hook", &[NAME, PRIORITY]))
            }
        });
        let pattern = pattern(lit, &mut errors, EXAMPLE);
        let sig = signature(function, "a hook", SHAPE, Context::Cx, &mut errors);
        let command = match sig.first {
            Some(Type::Reference(r)) => Some((&*r.elem, r.mutability.is_some())),
            Some(other) => {
                let text = other.to_token_stream().to_string().replace(' ', "");
                errors.at(
                    other,
                    format!("a hook takes the command by reference: `&mut {text}` (to change it) or `&{text}`"),
                );
                None
            }
            None => None,
        };
        errors.check()?;
        let (command, by_mut) = command.expect("checked");
        Ok(Hook {
            function,
            when,
            pattern: pattern.expect("checked"),
            name: name(common.name.get(), &function.sig.ident),
            priority: common.priority.get().unwrap_or(0),
            command,
            by_mut,
            sig,
        })
    }

    fn expand(&self) -> TokenStream {
        let Hook {
            function,
            when,
            pattern,
            name,
            priority,
            command,
            by_mut,
            sig,
        } = self;
        let ident = sig.ident;
        let wrapper = wrapper_ident("hook", ident);
        let when = match when.to_string().as_str() {
            "before" => quote!(::herald::When::Before),
            _ => quote!(::herald::When::After),
        };
        let argument = if *by_mut {
            quote!(command)
        } else {
            quote!(&*command)
        };
        let call = finish(quote!(#ident(#argument, cx)), sig);
        let check = pattern_check(
            pattern,
            command,
            quote!(&[<#command as ::herald::Command>::ROUTE]),
        );
        // Spanned on the command type: one that is not a command is reported there.
        let command_name = quote_spanned!(command.span()=> <#command as ::herald::Command>::NAME);
        quote! {
            #function
            #check

            #[doc(hidden)]
            fn #wrapper<'a, 'c>(
                command: &'a mut (dyn ::core::any::Any + ::core::marker::Send + ::core::marker::Sync),
                cx: &'a mut ::herald::Cx<'c>,
            ) -> ::herald::BoxFuture<'a, ::core::result::Result<(), ::herald::BoxError>> {
                let command = command
                    .downcast_mut::<#command>()
                    .expect("the runtime runs a hook on its own command type");
                ::std::boxed::Box::pin(async move { #call })
            }

            ::herald::__private::inventory::submit! {
                ::herald::__private::HookRow {
                    name: #name,
                    module: ::core::module_path!(),
                    when: #when,
                    pattern: #pattern,
                    priority: #priority,
                    command: #command_name,
                    command_type: ::core::any::TypeId::of::<#command>,
                    run: #wrapper,
                }
            }
        }
    }
}

/// `before` or `after`, then the rest.
fn split_when(input: ParseStream<'_>) -> syn::Result<(Ident, TokenStream)> {
    let when: Ident = input.parse().map_err(|e| {
        syn::Error::new(
            e.span(),
            format!("a hook says when it runs, first: `before` or `after`, as in {EXAMPLE}"),
        )
    })?;
    if when != "before" && when != "after" {
        return Err(syn::Error::new(
            when.span(),
            format!("a hook runs `before` or `after`, not `{when}`: {EXAMPLE}"),
        ));
    }
    if !input.is_empty() {
        input.parse::<Token![,]>()?;
    }
    Ok((when, input.parse()?))
}
