//! The block's `Apply` (through `__private::merge_these_aggregate_impl_blocks_into_one`),
//! a `Handle` impl per `#[handle]` method, and their registrations.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemImpl, Type};

use super::methods::{Applier, Handler, Methods};

pub(crate) fn methods(block: &ItemImpl, methods: &Methods<'_>) -> TokenStream {
    let self_ty = &block.self_ty;
    let apply = apply(self_ty, &methods.appliers);
    let handlers = methods.handlers.iter().map(|h| handler(self_ty, h));
    quote! {
        #block
        #apply
        #(#handlers)*
    }
}

fn apply(self_ty: &Type, appliers: &[Applier<'_>]) -> TokenStream {
    // Spanned on each event type: a type that is not an event is reported there.
    let names: Vec<TokenStream> = appliers
        .iter()
        .map(|a| {
            let event = a.event;
            quote_spanned!(event.span()=> <#event as ::herald::Event>::NAME)
        })
        .collect();
    let events: Vec<&Type> = appliers.iter().map(|a| a.event).collect();
    let methods: Vec<&syn::Ident> = appliers.iter().map(|a| &a.method.sig.ident).collect();
    let distinct = (appliers.len() > 1).then(|| {
        let message = format!(
            "two `#[apply]` methods of `{}` apply the same event (under different paths); keep one",
            self_ty.to_token_stream().to_string().replace(' ', "")
        );
        quote! {
            const _: () = ::herald::__private::assert_distinct(<#self_ty as ::herald::Apply>::APPLIES, #message);
        }
    });
    // Spanned on each event type: an event of another aggregate is reported there.
    let belongs = appliers.iter().map(|a| {
        let event = a.event;
        let check = quote_spanned! {event.span()=>
            ::herald::__private::applies::<#event, #self_ty, { ::herald::__private::Declared::<#event>::AGGREGATE_DECLARED }>()
        };
        quote! {
            const _: () = {
                #[allow(unused_imports)] // used unless the event declares its aggregate
                use ::herald::__private::NoAggregateDeclared as _;
                #check
            };
        }
    });
    quote! {
        #(#belongs)*
        #[automatically_derived]
        impl ::herald::__private::merge_these_aggregate_impl_blocks_into_one for #self_ty {
            const APPLIES: &'static [&'static str] = &[#(#names),*];

            fn apply_event(&mut self, event: &dyn ::herald::AnyEvent) -> ::core::result::Result<(), ::herald::ApplyError> {
                #(
                    if let ::core::option::Option::Some(event) = event.downcast_ref::<#events>() {
                        Self::#methods(self, event);
                        return ::core::result::Result::Ok(());
                    }
                )*
                ::core::result::Result::Err(::herald::ApplyError::Unhandled(::std::string::ToString::to_string(event.name())))
            }

            fn apply_stored(
                &mut self,
                event: &::herald::store::ReplayEvent,
            ) -> ::core::result::Result<(), ::herald::ApplyError> {
                #(
                    if event.name == <#events as ::herald::Event>::NAME {
                        let event: #events = event.decode::<#events>()?;
                        Self::#methods(self, &event);
                        return ::core::result::Result::Ok(());
                    }
                )*
                ::core::result::Result::Err(::herald::ApplyError::Unhandled(::core::clone::Clone::clone(&event.name)))
            }
        }
        #distinct
    }
}

fn handler(self_ty: &Type, handler: &Handler<'_>) -> TokenStream {
    let Handler {
        method,
        name,
        command,
        by_ref,
        output,
    } = handler;
    let ident = &method.sig.ident;
    let name = name.as_ref().map_or_else(
        || format!("{}::{ident}", type_name(self_ty)),
        syn::LitStr::value,
    );
    let call = if *by_ref {
        quote!(Self::#ident(self, command))
    } else {
        let clone =
            quote_spanned!(command.span()=> ::herald::__private::by_value::<#command>(command));
        quote!(Self::#ident(self, #clone))
    };
    // Spanned on the user's tokens: a command type that is not a command, or a return
    // type that is not `Result<events, error>`, is reported there.
    let handle = quote_spanned!(command.span()=> ::herald::Handle<#command>);
    let output_ty = quote_spanned!(output.span()=> #output);
    // Spanned on the command type: one that is not a command is reported there.
    let command_name = quote_spanned!(command.span()=> <#command as ::herald::Command>::NAME);
    let execute =
        quote_spanned!(command.span()=> ::herald::__private::execute::<#self_ty, #command>);
    let produces =
        quote_spanned!(command.span()=> ::herald::__private::produced::<#self_ty, #command>);
    // The impl is spanned on the command type as a whole, so that rustc reports a
    // command type that is not a command there, once.
    let imp = quote_spanned! {command.span()=>
        #[automatically_derived]
        impl #handle for #self_ty {
            type Output = #output_ty;
            const HANDLER: &'static str = #name;
            fn handle(&self, command: &#command) -> Self::Output {
                #call
            }
        }
    };
    quote! {
        #imp

        ::herald::__private::inventory::submit! {
            ::herald::__private::HandlerRow {
                name: #name,
                aggregate: <#self_ty as ::herald::Aggregate>::NAME,
                command: #command_name,
                module: ::core::module_path!(),
                command_type: ::core::any::TypeId::of::<#command>,
                produces: #produces,
                execute: #execute,
                maps_to: ::core::option::Option::None,
            }
        }
    }
}

/// What the `impl` block stands for when it has errors: its `Apply`, so that the struct's
/// `Aggregate` impl does not add "has no `#[aggregate] impl` block" to them.
pub(crate) fn fallback(self_ty: &Type) -> TokenStream {
    quote! {
        #[automatically_derived]
        impl ::herald::__private::merge_these_aggregate_impl_blocks_into_one for #self_ty {
            const APPLIES: &'static [&'static str] = &[];
            fn apply_event(&mut self, _: &dyn ::herald::AnyEvent) -> ::core::result::Result<(), ::herald::ApplyError> {
                ::core::unreachable!("the `#[aggregate] impl` block did not compile")
            }
            fn apply_stored(
                &mut self,
                _: &::herald::store::ReplayEvent,
            ) -> ::core::result::Result<(), ::herald::ApplyError> {
                ::core::unreachable!("the `#[aggregate] impl` block did not compile")
            }
        }
    }
}

/// `Account` for `Account` or `bank::Account`.
fn type_name(ty: &Type) -> String {
    match ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .map_or_else(String::new, |s| s.ident.to_string()),
        other => other.to_token_stream().to_string().replace(' ', ""),
    }
}
