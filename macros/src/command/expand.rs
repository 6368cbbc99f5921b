//! The `Command` impl and the registration.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::Command;
use crate::fields::ident_text;
use crate::{schema_derive, serde_derive};

pub(crate) fn command(command: &Command<'_>) -> syn::Result<TokenStream> {
    let Command {
        item,
        options,
        route,
        params,
        id,
    } = command;
    let ident = &item.ident;
    let serde = serde_derive::missing(&item.attrs);
    // After the item's own attributes: a derive of `Deserialize` below `#[command]` must
    // come before the helper attribute it introduces.
    let mut item = (*item).clone();
    if let Some(deny) = serde_derive::deny_unknown_fields(&item) {
        item.attrs.push(deny);
    }
    let schema = schema_derive::missing(&item.attrs);
    let name = options
        .name
        .as_ref()
        .map_or_else(|| ident.to_string(), LitStr::value);
    let roles = &options.roles;
    let lit = &route.lit;
    let params = params.iter().map(|field| {
        let ident = &field.ident;
        quote_spanned!(field.ty.span()=> &self.#ident as &dyn ::herald::RouteParam)
    });
    let id_field = ident_text(id.ident.as_ref().expect("named"));
    let id_ident = &id.ident;
    let id_value = quote_spanned!(id.ty.span()=> &self.#id_ident as &dyn ::herald::RouteParam);
    // Spanned on the user's path: a type that is not an event, or that is not made from
    // the command, is reported there.
    let mapped = options.event.as_ref().map(|event| {
        let row = quote_spanned!(event.span()=>
            ::herald::__private::mapped_handler::<#ident, #event>(::core::module_path!())
        );
        quote! {
            ::herald::__private::inventory::submit! { #row }
        }
    });
    Ok(quote! {
        #serde
        #schema
        #item

        #[automatically_derived]
        impl ::herald::Command for #ident {
            const NAME: &'static str = #name;
            const ROUTE: &'static str = #lit;
            const ROLES: &'static [&'static str] = &[#(#roles),*];
            const ID_FIELD: &'static str = #id_field;

            fn route(&self) -> ::core::result::Result<::herald::route::Route, ::herald::route::RouteError> {
                const __HERALD_ROUTE: ::herald::__private::Template<'static> = ::herald::__private::Template::new(#lit);
                ::herald::__private::render(&__HERALD_ROUTE, &[#(#params),*])
            }

            fn aggregate_id(&self) -> ::std::string::String {
                ::herald::__private::segment(#id_value)
            }
        }

        #[automatically_derived]
        impl ::herald::IntoCommands for #ident {
            fn command_names(names: &mut ::std::vec::Vec<&'static str>) {
                names.push(<Self as ::herald::Command>::NAME);
            }
            fn into_commands(self, out: &mut ::std::vec::Vec<::std::boxed::Box<dyn ::herald::__private::AnyCommand>>) {
                out.push(::std::boxed::Box::new(self));
            }
        }

        ::herald::__private::inventory::submit! {
            ::herald::__private::CommandRow {
                name: <#ident as ::herald::Command>::NAME,
                type_name: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#ident)),
                module: ::core::module_path!(),
                route: <#ident as ::herald::Command>::ROUTE,
                roles: <#ident as ::herald::Command>::ROLES,
                id_field: <#ident as ::herald::Command>::ID_FIELD,
                decode: ::herald::__private::decode_command::<#ident>,
                schema: ::herald::__private::schema_of::<#ident>,
            }
        }

        #mapped
    })
}

use syn::LitStr;
