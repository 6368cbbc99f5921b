//! Attribute arguments: an optional route literal, then `key = value` options.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::parse::{ParseStream, Parser};
use syn::{LitInt, LitStr, Token};

use crate::errors::Errors;

/// Splits `args` into a leading string literal (the route), if any, and parses the
/// rest with `option`, one call per `key = value`. An option's error is recorded and the
/// next option is parsed all the same, so that one compile reports every mistake.
pub(crate) fn parse(
    args: TokenStream,
    errors: &mut Errors,
    mut option: impl FnMut(ParseNestedMeta<'_>, &mut Errors) -> syn::Result<()>,
) -> Option<LitStr> {
    let (route, rest) = match split_route.parse2(args) {
        Ok(split) => split,
        Err(error) => {
            errors.push(error);
            return None;
        }
    };
    for one in options(rest) {
        let parsed = syn::meta::parser(|meta| option(meta, errors)).parse2(one);
        errors.ok(parsed);
    }
    route
}

/// The options one by one: the tokens between top-level commas.
fn options(rest: TokenStream) -> Vec<TokenStream> {
    let mut options = vec![TokenStream::new()];
    for tree in rest {
        match &tree {
            proc_macro2::TokenTree::Punct(p) if p.as_char() == ',' => {
                options.push(TokenStream::new());
            }
            _ => options.last_mut().expect("one at least").extend([tree]),
        }
    }
    options.retain(|o| !o.is_empty());
    options
}

fn split_route(input: ParseStream<'_>) -> syn::Result<(Option<LitStr>, TokenStream)> {
    let route = if input.peek(LitStr) {
        Some(input.parse::<LitStr>()?)
    } else {
        None
    };
    if route.is_some() && !input.is_empty() {
        input.parse::<Token![,]>()?;
    }
    Ok((route, input.parse()?))
}

/// One option's value, recorded once: a second occurrence is an error at each.
pub(crate) struct Once<T> {
    key: &'static str,
    value: Option<(T, proc_macro2::Span)>,
}

impl<T> Once<T> {
    pub(crate) fn new(key: &'static str) -> Self {
        Once { key, value: None }
    }

    pub(crate) fn set(&mut self, errors: &mut Errors, meta: &ParseNestedMeta<'_>, value: T) {
        let span = meta
            .path
            .get_ident()
            .map_or_else(proc_macro2::Span::call_site, syn::Ident::span);
        if let Some((_, first)) = &self.value {
            errors.push(syn::Error::new(
                *first,
                format!("`{}` is given twice; keep one", self.key),
            ));
            errors.push(syn::Error::new(
                span,
                format!("`{}` is given twice; keep one", self.key),
            ));
            return;
        }
        self.value = Some((value, span));
    }

    pub(crate) fn get(self) -> Option<T> {
        self.value.map(|(value, _)| value)
    }
}

/// `key = "…"`: a non-empty string.
pub(crate) fn name(meta: &ParseNestedMeta<'_>, errors: &mut Errors) -> syn::Result<Option<LitStr>> {
    let lit: LitStr = meta.value()?.parse()?;
    if lit.value().trim().is_empty() {
        errors.at(&lit, "a name cannot be empty");
        return Ok(None);
    }
    Ok(Some(lit))
}

/// `key = N` with N >= 1.
pub(crate) fn positive(
    meta: &ParseNestedMeta<'_>,
    errors: &mut Errors,
    hint: &str,
) -> syn::Result<Option<u32>> {
    let key = meta
        .path
        .get_ident()
        .map_or_else(String::new, ToString::to_string);
    let lit: LitInt = meta.value()?.parse()?;
    match lit.base10_parse::<u32>() {
        Ok(0) => errors.at(&lit, format!("`{key}` must be at least 1{hint}")),
        Ok(n) => return Ok(Some(n)),
        Err(_) => errors.at(
            &lit,
            format!("`{key}` takes a whole number from 1 to 4294967295"),
        ),
    }
    Ok(None)
}

/// The message for an unknown key.
pub(crate) fn unknown(meta: &ParseNestedMeta<'_>, what: &str, expected: &[&str]) -> syn::Error {
    let key = meta
        .path
        .get_ident()
        .map_or_else(|| "this".to_owned(), |i| format!("`{i}`"));
    let list = match expected {
        [] => "it takes no options".to_owned(),
        [one] => format!("expected `{one}`"),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(|k| format!("`{k}`")).collect();
            format!("expected {} or `{last}`", init.join(", "))
        }
    };
    meta.error(format!("unknown {what} option {key}; {list}"))
}
