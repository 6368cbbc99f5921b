//! `#[command("route", id = field, name = "…", roles = ["…", …], event = Event)]`.

use proc_macro2::TokenStream;
use syn::{Expr, ExprArray, Ident, Lit, LitStr, Path};

use crate::args::{self, Once};
use crate::errors::Errors;
use crate::symbol::{EVENT, ID, NAME, ROLES};

pub(crate) struct Options {
    pub(crate) id: Option<Ident>,
    pub(crate) name: Option<LitStr>,
    pub(crate) roles: Vec<LitStr>,
    /// The event the command is recorded as, with no aggregate.
    pub(crate) event: Option<Path>,
}

pub(crate) fn parse(args: TokenStream, errors: &mut Errors) -> (Option<LitStr>, Options) {
    let mut id = Once::new(ID);
    let mut name = Once::new(NAME);
    let mut roles = Once::new(ROLES);
    let mut event = Once::new(EVENT);
    let route = args::parse(args, errors, |meta, errors| {
        if meta.path.is_ident(ID) {
            // #[command("…", id = user_id)]
            let value: Expr = meta.value()?.parse()?;
            match &value {
                Expr::Path(p) if p.path.get_ident().is_some() => {
                    id.set(errors, &meta, p.path.get_ident().expect("checked").clone())
                }
                Expr::Lit(syn::ExprLit {
                    lit: Lit::Str(name),
                    ..
                }) => errors.at(
                    &value,
                    format!(
                        "`id` takes a field name, not a string: `id = {}`",
                        name.value()
                    ),
                ),
                _ => errors.at(&value, "`id` takes a field name: `id = user_id`"),
            }
        } else if meta.path.is_ident(NAME) {
            // #[command("…", name = "create-user")]
            if let Some(lit) = args::name(&meta, errors)? {
                name.set(errors, &meta, lit);
            }
        } else if meta.path.is_ident(ROLES) {
            // #[command("…", roles = ["manager", "admin"])]
            let input = meta.value()?;
            if input.peek(LitStr) {
                let role: LitStr = input.parse()?;
                errors.at(
                    &role,
                    format!(
                        "`roles` takes a list, also of one role: `roles = [\"{}\"]`",
                        role.value()
                    ),
                );
                return Ok(());
            }
            let list: ExprArray = input.parse()?;
            let list = role_list(&list, errors);
            roles.set(errors, &meta, list);
        } else if meta.path.is_ident(EVENT) {
            // #[command("…", event = NoteAdded)]
            let value = meta.value()?;
            if let Ok(lit) = value.parse::<LitStr>() {
                errors.at(
                    &lit,
                    format!(
                        "`event` takes the event's type, not its name: `event = {}`",
                        lit.value()
                    ),
                );
            } else {
                event.set(errors, &meta, value.parse::<Path>()?);
            }
        } else {
            return Err(args::unknown(&meta, "command", &[EVENT, ID, NAME, ROLES]));
        }
        Ok(())
    });
    (
        route,
        Options {
            id: id.get(),
            name: name.get(),
            roles: roles.get().unwrap_or_default(),
            event: event.get(),
        },
    )
}

fn role_list(list: &ExprArray, errors: &mut Errors) -> Vec<LitStr> {
    if list.elems.is_empty() {
        errors.at(
            list,
            "`roles` lists at least one role; leave it out to let anyone send the command",
        );
    }
    let mut roles: Vec<LitStr> = Vec::new();
    for elem in &list.elems {
        match elem {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Str(role),
                ..
            }) => {
                if role.value().trim().is_empty() {
                    errors.at(role, "a role cannot be empty");
                } else if roles.iter().any(|r| r.value() == role.value()) {
                    errors.at(role, format!("role \"{}\" is listed twice", role.value()));
                } else {
                    roles.push(role.clone());
                }
            }
            other => errors.at(other, "roles are string literals: `roles = [\"manager\"]`"),
        }
    }
    roles
}
