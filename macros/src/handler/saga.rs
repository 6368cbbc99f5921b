//! `#[saga_step("pattern", reverse = compensation, priority = N, name = "…", late)]` on
//! `async fn(command: &MyCommand, cx: &SagaCx<'_>) -> Result<Output, MyError>`, with
//! `async fn compensation(command: &MyCommand, output: Option<Output>, cx: &SagaCx<'_>)`.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, LitStr, Path, Type};

use super::{Common, Context, name, pattern, pattern_check, signature, wrapper_ident};
use crate::args::{self, Once};
use crate::errors::{Errors, on_function};
use crate::symbol::{LATE, NAME, PRIORITY, REVERSE};

const SHAPE: &str =
    "async fn register(command: &MyCommand, cx: &SagaCx<'_>) -> Result<Output, MyError>";
const EXAMPLE: &str = "`#[saga_step(\"create.user\", reverse = cancel)]`";

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    on_function(
        item,
        || format!("`#[saga_step]` goes on a function: `{SHAPE}`"),
        |function| Step::parse(args, function).map(|step| step.expand()),
    )
}

struct Step<'a> {
    function: &'a ItemFn,
    pattern: LitStr,
    name: String,
    priority: i32,
    reverse: Path,
    /// Runs once the decided events are appended, not before the aggregate decides.
    late: bool,
    command: &'a Type,
    output: &'a Type,
    sig: super::Signature<'a>,
}

impl<'a> Step<'a> {
    fn parse(args: TokenStream, function: &'a ItemFn) -> syn::Result<Self> {
        let mut errors = Errors::default();
        let mut common = Common::new();
        let mut reverse = Once::new(REVERSE);
        let mut late = Once::new(LATE);
        let lit = args::parse(args, &mut errors, |meta, errors| {
            if common.parse(&meta, errors)? {
                return Ok(());
            }
            if meta.path.is_ident(LATE) {
                // #[saga_step("…", reverse = cancel, late)], or `late = false`
                let value = match meta.input.peek(syn::Token![=]) {
                    true => {
                        let value = meta.value()?;
                        match value.parse::<syn::LitBool>() {
                            Ok(flag) => flag.value,
                            Err(error) => {
                                return Err(syn::Error::new(
                                    error.span(),
                                    "`late` is a flag: write `late` (or `late = true` / `late = false`)",
                                ));
                            }
                        }
                    }
                    false => true,
                };
                late.set(errors, &meta, value);
                return Ok(());
            }
            if !meta.path.is_ident(REVERSE) {
                return Err(args::unknown(
                    &meta,
                    "saga step",
                    &[NAME, PRIORITY, REVERSE, LATE],
                ));
            }
            // #[saga_step("…", reverse = cancel_registration)]
            let path: Path = meta.value()?.parse()?;
            reverse.set(errors, &meta, path);
            Ok(())
        });
        let pattern = pattern(lit, &mut errors, EXAMPLE);
        let sig = signature(function, "a saga step", SHAPE, Context::SagaCx, &mut errors);
        let reverse = reverse.get();
        if reverse.is_none() {
            errors.at(
                &function.sig.ident,
                format!(
                    "a saga step names its compensation, which undoes it when the command fails later: {EXAMPLE}, with `async fn cancel(command: &MyCommand, output: Option<Output>, cx: &SagaCx<'_>)`"
                ),
            );
        }
        let command = match sig.first {
            Some(Type::Reference(r)) if r.mutability.is_none() => Some(&*r.elem),
            Some(other) => {
                let text = other.to_token_stream().to_string().replace(' ', "");
                let text = text.trim_start_matches("&mut");
                errors.at(
                    other,
                    format!("a saga step takes the command by shared reference: `&{text}` (it acts outside the database, and cannot change the command)"),
                );
                None
            }
            None => None,
        };
        if sig.output.is_none() {
            errors.at(
                &function.sig.ident,
                format!("a saga step returns `Result<Output, MyError>`: `{SHAPE}`"),
            );
        }
        errors.check()?;
        Ok(Step {
            function,
            pattern: pattern.expect("checked"),
            name: name(common.name.get(), &function.sig.ident),
            priority: common.priority.get().unwrap_or(0),
            reverse: reverse.expect("checked"),
            late: late.get().unwrap_or(false),
            command: command.expect("checked"),
            output: sig.output.expect("checked"),
            sig,
        })
    }

    fn expand(&self) -> TokenStream {
        let Step {
            function,
            pattern,
            name,
            priority,
            reverse,
            late,
            command,
            output,
            sig,
        } = self;
        let ident = sig.ident;
        let run = wrapper_ident("saga", ident);
        let undo = wrapper_ident("saga_reverse", ident);
        let check = pattern_check(
            pattern,
            command,
            quote!(&[<#command as ::herald::Command>::ROUTE]),
        );
        let command_name = quote_spanned!(command.span()=> <#command as ::herald::Command>::NAME);
        let into_json = quote_spanned!(output.span()=> ::herald::SagaOutput::into_json(#ident(command, cx).await));
        let decoded = quote_spanned!(output.span()=> <#output as ::herald::SagaOutput>::Output);
        let reversed = quote_spanned!(reverse.span()=> ::herald::HandlerOutput::into_result(#reverse(&command, output, cx).await));
        quote! {
            #function
            #check

            #[doc(hidden)]
            fn #run<'a, 'c>(
                command: &'a (dyn ::core::any::Any + ::core::marker::Send + ::core::marker::Sync),
                cx: &'a ::herald::SagaCx<'c>,
            ) -> ::herald::BoxFuture<'a, ::core::result::Result<::core::result::Result<::herald::json::Value, ::herald::BoxError>, ::herald::BoxError>> {
                let command = command
                    .downcast_ref::<#command>()
                    .expect("the runtime runs a saga step on its own command type");
                ::std::boxed::Box::pin(async move { #into_json })
            }

            #[doc(hidden)]
            fn #undo<'a, 'c>(
                payload: &'a ::herald::json::Value,
                output: ::core::option::Option<&'a ::herald::json::Value>,
                cx: &'a ::herald::SagaCx<'c>,
            ) -> ::herald::BoxFuture<'a, ::core::result::Result<(), ::herald::BoxError>> {
                ::std::boxed::Box::pin(async move {
                    let command: #command = ::herald::json::from_value(::core::clone::Clone::clone(payload))?;
                    let output: ::core::option::Option<#decoded> = match output {
                        ::core::option::Option::Some(json) => ::core::option::Option::Some(
                            ::herald::json::from_value(::core::clone::Clone::clone(json))?,
                        ),
                        ::core::option::Option::None => ::core::option::Option::None,
                    };
                    #reversed
                })
            }

            ::herald::__private::inventory::submit! {
                ::herald::__private::SagaStepRow {
                    name: #name,
                    module: ::core::module_path!(),
                    pattern: #pattern,
                    priority: #priority,
                    late: #late,
                    command: #command_name,
                    command_type: ::core::any::TypeId::of::<#command>,
                    run: #run,
                    reverse: #undo,
                }
            }
        }
    }
}
