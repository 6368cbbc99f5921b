//! `#[event("route")]` on a struct, or `#[event]` on an enum with `#[route("…")]` on
//! each variant.

mod attr;
mod expand;

use proc_macro2::TokenStream;
use syn::{Fields, Ident, Item};

use crate::errors::{Errors, with_item};
use crate::route::RouteLit;
use crate::{fields, symbol};

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut parsed = match syn::parse2::<Item>(item.clone()) {
        Ok(parsed) => parsed,
        Err(error) => return with_item(&item, error),
    };
    // `#[route]` on variants is ours to read and remove, also when there are errors.
    let routes = take_variant_routes(&mut parsed);
    match Event::parse(args, &parsed, routes).and_then(|event| expand::event(&event)) {
        Ok(tokens) => tokens,
        Err(error) => with_item(&quote::quote!(#parsed), error),
    }
}

/// A checked `#[event]` item.
pub(crate) struct Event<'a> {
    pub(crate) item: &'a Item,
    pub(crate) ident: &'a Ident,
    pub(crate) options: attr::Options,
    /// One for a struct; one per variant for an enum.
    pub(crate) routes: Vec<Routed<'a>>,
    pub(crate) is_enum: bool,
}

/// A route and the fields behind its parameters.
pub(crate) struct Routed<'a> {
    pub(crate) variant: Option<&'a Ident>,
    pub(crate) fields: &'a Fields,
    pub(crate) route: RouteLit,
    pub(crate) params: Vec<&'a syn::Field>,
}

/// Removes `#[route("…")]` from each variant of an enum and returns them, in order.
fn take_variant_routes(item: &mut Item) -> Vec<Vec<syn::Attribute>> {
    let Item::Enum(e) = item else {
        return Vec::new();
    };
    e.variants
        .iter_mut()
        .map(|v| {
            let (routes, rest) = v
                .attrs
                .drain(..)
                .partition(|a| a.path().is_ident(symbol::ROUTE));
            v.attrs = rest;
            routes
        })
        .collect()
}

impl<'a> Event<'a> {
    fn parse(
        args: TokenStream,
        item: &'a Item,
        variant_routes: Vec<Vec<syn::Attribute>>,
    ) -> syn::Result<Self> {
        let mut errors = Errors::default();
        let (route, options) = attr::parse(args, &mut errors);
        let (ident, generics, is_enum) = match item {
            Item::Struct(s) => (&s.ident, &s.generics, false),
            Item::Enum(e) => (&e.ident, &e.generics, true),
            other => {
                return Err(errors.fail(syn::Error::new_spanned(
                    other,
                    "`#[event]` goes on a struct (with a route) or an enum (with a route on each variant)",
                )));
            }
        };
        if !generics.params.is_empty() {
            errors.at(
                generics,
                "an event cannot be generic: its stored name and payload must have one type",
            );
        }
        let mut routes = Vec::new();
        match item {
            Item::Struct(s) => match route {
                Some(lit) => {
                    if let Some(route) = errors.ok(RouteLit::parse(lit)) {
                        routes.push(routed(
                            &mut errors,
                            None,
                            &s.fields,
                            route,
                            &ident.to_string(),
                        ));
                    }
                }
                None => errors.at(
                    ident,
                    format!(
                        "`{ident}` needs a route, such as `#[event(\"{}\")]`",
                        dotted(ident)
                    ),
                ),
            },
            Item::Enum(e) => {
                if let Some(lit) = route {
                    errors.at(&lit, "an enum's routes go on its variants: put `#[route(\"…\")]` on each variant");
                }
                if e.variants.is_empty() {
                    errors.at(ident, "an event enum needs at least one variant");
                }
                for (variant, attrs) in e.variants.iter().zip(variant_routes) {
                    let owner = format!("{ident}::{}", variant.ident);
                    match attrs.as_slice() {
                        [] => errors.at(
                            &variant.ident,
                            format!("variant `{owner}` needs a route: add `#[route(\"…\")]`"),
                        ),
                        [attr] => {
                            let route = attr.parse_args::<syn::LitStr>().and_then(RouteLit::parse);
                            if let Some(route) = errors.ok(route) {
                                routes.push(routed(
                                    &mut errors,
                                    Some(&variant.ident),
                                    &variant.fields,
                                    route,
                                    &owner,
                                ));
                            }
                        }
                        [_, extra @ ..] => {
                            for attr in extra {
                                errors.at(
                                    attr,
                                    format!(
                                        "variant `{owner}` has more than one `#[route]`; keep one"
                                    ),
                                );
                            }
                        }
                    }
                }
            }
            _ => unreachable!("checked above"),
        }
        errors.check()?;
        Ok(Event {
            item,
            ident,
            options,
            routes,
            is_enum,
        })
    }
}

fn routed<'a>(
    errors: &mut Errors,
    variant: Option<&'a Ident>,
    fields: &'a Fields,
    route: RouteLit,
    owner: &str,
) -> Routed<'a> {
    let params = fields::params(errors, &route, fields, owner);
    Routed {
        variant,
        fields,
        route,
        params,
    }
}

/// `UserCreated` → `user.created`, for suggested routes.
pub(crate) fn dotted(ident: &Ident) -> String {
    let mut out = String::new();
    for (i, c) in ident.to_string().chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('.');
        }
        out.extend(c.to_lowercase());
    }
    out
}
