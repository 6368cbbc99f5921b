//! The `Event` and `IntoEvents` impls and the registration.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::{Event, Routed};
use crate::{schema_derive, serde_derive};

pub(crate) fn event(event: &Event<'_>) -> syn::Result<TokenStream> {
    let Event {
        item,
        ident,
        options,
        routes,
        is_enum,
    } = event;
    let attrs = match item {
        syn::Item::Struct(s) => &s.attrs[..],
        syn::Item::Enum(e) => &e.attrs,
        _ => &[],
    };
    let serde = serde_derive::missing(attrs);
    let schema = schema_derive::missing(attrs);
    let name = options
        .name
        .as_ref()
        .map_or_else(|| ident.to_string(), syn::LitStr::value);
    let version = options.version.unwrap_or(1);
    // Without an aggregate, the stream type of the streams it is recorded in (the trait's
    // default: the name).
    let stream = options
        .stream
        .as_ref()
        .map(|stream| quote!(const STREAM: &'static str = #stream;));
    let templates = routes.iter().map(|r| &r.route.lit);
    let render = if *is_enum {
        let arms = routes.iter().map(|routed| {
            let variant = routed.variant.expect("enum routes have variants");
            let pattern = match routed.fields {
                syn::Fields::Named(_) => {
                    let bound = routed.params.iter().map(|f| &f.ident);
                    quote!(Self::#variant { #(#bound,)* .. })
                }
                syn::Fields::Unnamed(_) => quote!(Self::#variant(..)),
                syn::Fields::Unit => quote!(Self::#variant),
            };
            let render = render(routed, |field| {
                let ident = &field.ident;
                quote_spanned!(field.ty.span()=> #ident as &dyn ::herald::RouteParam)
            });
            quote!(#pattern => #render,)
        });
        quote!(match self { #(#arms)* })
    } else {
        render(&routes[0], |field| {
            let ident = &field.ident;
            quote_spanned!(field.ty.span()=> &self.#ident as &dyn ::herald::RouteParam)
        })
    };
    // Spanned on the user's path: one that is not an aggregate is reported there.
    let aggregate = options.aggregate.as_ref().map(|aggregate| {
        let check =
            quote_spanned!(aggregate.span()=> ::herald::__private::is_aggregate::<#aggregate>());
        quote! {
            #[automatically_derived]
            impl ::herald::__private::DeclaresAggregate for #ident {}
            #[automatically_derived]
            impl ::herald::__private::EventOf<#aggregate, true> for #ident {}
            const _: () = #check;
        }
    });
    Ok(quote! {
        #serde
        #schema
        #item
        #aggregate

        #[automatically_derived]
        impl ::herald::Event for #ident {
            const NAME: &'static str = #name;
            const ROUTES: &'static [&'static str] = &[#(#templates),*];
            const VERSION: u32 = #version;
            #stream

            fn route(&self) -> ::core::result::Result<::herald::route::Route, ::herald::route::RouteError> {
                #render
            }
        }

        #[automatically_derived]
        impl ::herald::IntoEvents for #ident {
            fn event_names(names: &mut ::std::vec::Vec<&'static str>) {
                names.push(<Self as ::herald::Event>::NAME);
            }
            fn into_events(self, out: &mut ::std::vec::Vec<::std::boxed::Box<dyn ::herald::AnyEvent>>) {
                out.push(::std::boxed::Box::new(self));
            }
        }

        ::herald::__private::inventory::submit! {
            ::herald::__private::EventRow {
                name: <#ident as ::herald::Event>::NAME,
                type_name: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#ident)),
                module: ::core::module_path!(),
                routes: <#ident as ::herald::Event>::ROUTES,
                version: <#ident as ::herald::Event>::VERSION,
                stream: <#ident as ::herald::Event>::STREAM,
                decode: ::herald::__private::decode_event::<#ident>,
                schema: ::herald::__private::schema_of::<#ident>,
            }
        }
    })
}

/// Renders one route; `param` is the expression for a field as `&dyn RouteParam`,
/// spanned on the field's type so that a type that cannot be a parameter is reported
/// there.
fn render(routed: &Routed<'_>, param: impl Fn(&syn::Field) -> TokenStream) -> TokenStream {
    let lit = &routed.route.lit;
    let params = routed.params.iter().map(|f| param(f));
    quote! {{
        const __HERALD_ROUTE: ::herald::__private::Template<'static> = ::herald::__private::Template::new(#lit);
        ::herald::__private::render(&__HERALD_ROUTE, &[#(#params),*])
    }}
}
