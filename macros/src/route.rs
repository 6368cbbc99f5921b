//! Route literals in attributes, checked with the grammar the runtime uses.

use herald_route::Template;
use syn::LitStr;

/// A command or event route template from an attribute.
pub(crate) struct RouteLit {
    pub(crate) lit: LitStr,
    pub(crate) params: Vec<String>,
}

impl RouteLit {
    /// Parses `lit` as a template; the error, spanned on the literal, names the
    /// offending segment.
    pub(crate) fn parse(lit: LitStr) -> syn::Result<Self> {
        let text = lit.value();
        let params = match Template::parse(&text) {
            Ok(template) => template.params().map(str::to_owned).collect(),
            Err(error) => return Err(syn::Error::new(lit.span(), error)),
        };
        Ok(RouteLit { lit, params })
    }
}
