//! Matching a route's `:params` (and a command's `id`) to the fields that fill them.

use syn::{Field, Fields, Ident};

use crate::errors::Errors;
use crate::route::RouteLit;

/// The named field called `name`.
pub(crate) fn find<'a>(fields: &'a Fields, name: &str) -> Option<&'a Field> {
    fields
        .iter()
        .find(|f| f.ident.as_ref().is_some_and(|i| ident_text(i) == name))
}

/// A field's name without a raw-identifier prefix.
pub(crate) fn ident_text(ident: &Ident) -> String {
    let text = ident.to_string();
    text.strip_prefix("r#").map_or(text.clone(), str::to_owned)
}

/// What to say about the fields there are, for "is not a field" errors.
pub(crate) fn listing(fields: &Fields) -> String {
    let names: Vec<String> = fields
        .iter()
        .filter_map(|f| f.ident.as_ref())
        .map(|i| format!("`{}`", ident_text(i)))
        .collect();
    match names.len() {
        0 => "it has no named fields".to_owned(),
        1 => format!("its field is {}", names[0]),
        _ => format!("its fields are {}", names.join(", ")),
    }
}

/// The field behind each of the route's `:params`, in order; each missing one is an
/// error spanned on the route that lists the fields there are.
pub(crate) fn params<'a>(
    errors: &mut Errors,
    route: &RouteLit,
    fields: &'a Fields,
    owner: &str,
) -> Vec<&'a Field> {
    let mut found = Vec::new();
    for param in &route.params {
        match find(fields, param) {
            Some(field) => found.push(field),
            None => errors.at(
                &route.lit,
                format!(
                    "`:{param}` is not a field of `{owner}` ({}): rename the parameter or add the field",
                    listing(fields)
                ),
            ),
        }
    }
    found
}
