//! `#[command("route", id = field, name = "…", roles = ["…"])]` on a struct.

mod attr;
mod expand;

use proc_macro2::TokenStream;
use syn::{Field, ItemStruct};

use crate::errors::{Errors, with_item};
use crate::fields;
use crate::route::RouteLit;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let parsed = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Struct(s)) => s,
        Ok(other) => {
            let error =
                syn::Error::new_spanned(&other, "`#[command]` goes on a struct with named fields");
            return with_item(&item, error);
        }
        Err(error) => return with_item(&item, error),
    };
    match Command::parse(args, &parsed).and_then(|command| expand::command(&command)) {
        Ok(tokens) => tokens,
        Err(error) => with_item(&item, error),
    }
}

/// A checked `#[command]` struct.
pub(crate) struct Command<'a> {
    pub(crate) item: &'a ItemStruct,
    pub(crate) options: attr::Options,
    pub(crate) route: RouteLit,
    pub(crate) params: Vec<&'a Field>,
    /// The field holding the aggregate id.
    pub(crate) id: &'a Field,
}

impl<'a> Command<'a> {
    fn parse(args: TokenStream, item: &'a ItemStruct) -> syn::Result<Self> {
        let mut errors = Errors::default();
        let ident = &item.ident;
        let (route, options) = attr::parse(args, &mut errors);
        if !item.generics.params.is_empty() {
            errors.at(
                &item.generics,
                "a command cannot be generic: its name and payload must have one type",
            );
        }
        let Some(lit) = route else {
            errors.at(
                ident,
                format!(
                    "`{ident}` needs a route: `#[command(\"{}\")]`",
                    super::event::dotted(ident)
                ),
            );
            return Err(errors.check().expect_err("an error was pushed"));
        };
        let route = match RouteLit::parse(lit) {
            Ok(route) => route,
            Err(error) => return Err(errors.fail(error)),
        };
        let params = fields::params(&mut errors, &route, &item.fields, &ident.to_string());
        let id = match &options.id {
            Some(id) => fields::find(&item.fields, &fields::ident_text(id)).or_else(|| {
                let listing = fields::listing(&item.fields);
                errors.at(id, format!("`id = {id}`: `{id}` is not a field of `{ident}` ({listing})"));
                None
            }),
            None => default_id(&route, item).or_else(|| {
                let suggestion = route.params.first().map_or("field", String::as_str);
                errors.at(
                    ident,
                    format!(
                        "`{ident}` must say which field holds the id of the aggregate it addresses: add `id = {suggestion}` to `#[command]`; the default, the route's only `:param` or else a field named `id`, does not apply ({})",
                        match route.params.len() {
                            0 => "the route has no parameter and there is no field `id`".to_owned(),
                            n => format!("the route has {n} parameters and there is no field `id`"),
                        }
                    ),
                );
                None
            }),
        };
        errors.check()?;
        let id = id.expect("no errors, so the id was found");
        Ok(Command {
            item,
            options,
            route,
            params,
            id,
        })
    }
}

/// The route's only parameter, else a field named `id`.
fn default_id<'a>(route: &RouteLit, item: &'a ItemStruct) -> Option<&'a Field> {
    match route.params.as_slice() {
        [only] => fields::find(&item.fields, only),
        _ => fields::find(&item.fields, "id"),
    }
}
