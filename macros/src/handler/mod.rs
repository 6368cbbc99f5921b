//! `#[hook(…)]`, `#[saga_step(…)]` and the reactions to events (`#[projector(…)]`,
//! `#[processor(…)]`, `#[dispatcher(…)]`): async functions registered
//! with a route pattern.
//! What they share: the pattern, the `name` and `priority` options, and the checks of
//! the signature.

mod channel;
mod hook;
mod reaction;
mod saga;

pub(crate) use channel::expand as channel;
pub(crate) use hook::expand as hook;
pub(crate) use reaction::{Kind, expand as event_handler};
pub(crate) use saga::expand as saga_step;

use herald_route::Pattern;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ExprUnary, FnArg, Ident, ItemFn, Lit, LitStr, ReturnType, Type, UnOp};

use crate::args::{self, Once};
use crate::errors::Errors;
use crate::symbol::{NAME, PRIORITY};

/// The options every pattern handler takes.
pub(crate) struct Common {
    pub(crate) name: Once<LitStr>,
    pub(crate) priority: Once<i32>,
}

impl Common {
    pub(crate) fn new() -> Self {
        Common {
            name: Once::new(NAME),
            priority: Once::new(PRIORITY),
        }
    }

    /// Parses `name = "…"` or `priority = N`; `Ok(false)` for another key.
    pub(crate) fn parse(
        &mut self,
        meta: &ParseNestedMeta<'_>,
        errors: &mut Errors,
    ) -> syn::Result<bool> {
        if meta.path.is_ident(NAME) {
            // #[projector("…", name = "profile-row")]
            if let Some(lit) = args::name(meta, errors)? {
                self.name.set(errors, meta, lit);
            }
        } else if meta.path.is_ident(PRIORITY) {
            // #[projector("…", priority = -1)]
            let value: Expr = meta.value()?.parse()?;
            match priority(&value) {
                Some(n) => self.priority.set(errors, meta, n),
                None => errors.at(
                    &value,
                    "`priority` takes a whole number from -2147483648 to 2147483647; lower runs first",
                ),
            }
        } else {
            return Ok(false);
        }
        Ok(true)
    }
}

/// `3` or `-3`.
fn priority(value: &Expr) -> Option<i32> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(n), ..
        }) => n.base10_parse().ok(),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => match &**expr {
            Expr::Lit(ExprLit {
                lit: Lit::Int(n), ..
            }) => format!("-{}", n.base10_digits()).parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

/// The route pattern literal, checked with the runtime's grammar.
pub(crate) fn pattern(lit: Option<LitStr>, errors: &mut Errors, example: &str) -> Option<LitStr> {
    let Some(lit) = lit else {
        errors.push(syn::Error::new(
            proc_macro2::Span::call_site(),
            format!("a route pattern is missing: {example}"),
        ));
        return None;
    };
    match Pattern::parse(&lit.value()) {
        Ok(_) => Some(lit),
        Err(error) => {
            errors.at(&lit, error);
            None
        }
    }
}

/// A handler function's signature, checked: `async fn name(first, cx: &mut Cx<'_>)`.
pub(crate) struct Signature<'a> {
    pub(crate) ident: &'a Ident,
    /// The first parameter's type.
    pub(crate) first: Option<&'a Type>,
    pub(crate) output: Option<&'a Type>,
}

/// The context a handler takes as its second parameter.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Context {
    /// `cx: &mut Cx<'_>`: hooks, projectors, processors, dispatchers.
    Cx,
    /// `cx: &SagaCx<'_>`: saga steps (they act outside the transaction).
    SagaCx,
}

impl Context {
    fn name(self) -> &'static str {
        match self {
            Context::Cx => "Cx",
            Context::SagaCx => "SagaCx",
        }
    }

    fn written(self) -> &'static str {
        match self {
            Context::Cx => "cx: &mut Cx<'_>",
            Context::SagaCx => "cx: &SagaCx<'_>",
        }
    }
}

/// Checks the context parameter where it is recognizably Herald's (`Cx` or `SagaCx`) but
/// taken the wrong way; another type is left to the type checker.
fn check_context(ty: &Type, expected: Context, what: &str, errors: &mut Errors) {
    let (reference, inner) = match ty {
        Type::Reference(r) => (Some(r), &*r.elem),
        other => (None, other),
    };
    let Type::Path(path) = inner else { return };
    let Some(last) = path.path.segments.last() else {
        return;
    };
    let found = match last.ident.to_string().as_str() {
        "Cx" => Context::Cx,
        "SagaCx" => Context::SagaCx,
        _ => return,
    };
    let written = expected.written();
    if found != expected {
        errors.at(
            ty,
            format!(
                "{what} takes `{}`, not `{}`: `{written}`",
                expected.name(),
                found.name()
            ),
        );
        return;
    }
    let mutable = reference.map(|r| r.mutability.is_some());
    let message = match (expected, mutable) {
        (Context::Cx, Some(true)) | (Context::SagaCx, Some(false)) => return,
        (_, None) => format!("{what} borrows its context, it does not own it: `{written}`"),
        (Context::Cx, Some(false)) => {
            format!(
                "{what} takes its context by mutable reference (it writes through it): `{written}`"
            )
        }
        (Context::SagaCx, Some(true)) => format!(
            "{what} takes its context by shared reference (a saga step has no transaction to write to): `{written}`"
        ),
    };
    errors.at(ty, message);
}

pub(crate) fn signature<'a>(
    function: &'a ItemFn,
    what: &str,
    shape: &str,
    context: Context,
    errors: &mut Errors,
) -> Signature<'a> {
    let sig = &function.sig;
    let ident = &sig.ident;
    if sig.asyncness.is_none() {
        errors.at(sig.fn_token, format!("{what} is an `async fn`: `{shape}`"));
    }
    if !sig.generics.params.is_empty() {
        errors.at(&sig.generics, format!("{what} cannot be generic"));
    }
    let mut first = None;
    for (i, input) in sig.inputs.iter().enumerate() {
        match (i, input) {
            (_, FnArg::Receiver(receiver)) => {
                errors.at(receiver, format!("{what} is a free function: `{shape}`"))
            }
            (0, FnArg::Typed(arg)) => first = Some(&*arg.ty),
            (1, FnArg::Typed(arg)) => check_context(&arg.ty, context, what, errors),
            (_, FnArg::Typed(arg)) => {
                errors.at(arg, format!("{what} takes two parameters: `{shape}`"))
            }
        }
    }
    if sig.inputs.len() < 2 {
        errors.at(ident, format!("{what} takes two parameters: `{shape}`"));
    }
    let output = match &sig.output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => Some(&**ty),
    };
    Signature {
        ident,
        first,
        output,
    }
}

/// What a registration needs to call the function: the name of the wrapper the runtime
/// calls through, and the call of the user's function turned into `Result<(), BoxError>`.
pub(crate) fn wrapper_ident(kind: &str, ident: &Ident) -> Ident {
    format_ident!("__herald_{}_{}", kind, ident)
}

/// `HandlerOutput::into_result(call.await)`, spanned on the return type so that one
/// that is not `()` or `Result<(), E>` is reported there.
pub(crate) fn finish(call: TokenStream, sig: &Signature<'_>) -> TokenStream {
    let span = sig.output.map_or_else(|| sig.ident.span(), |ty| ty.span());
    quote_spanned!(span=> ::herald::HandlerOutput::into_result(#call.await))
}

/// The handler's name: `name = "…"` or the function's.
pub(crate) fn name(name: Option<LitStr>, ident: &Ident) -> String {
    name.map_or_else(|| crate::fields::ident_text(ident), |lit| lit.value())
}

/// `const _: () = assert_can_match(pattern, type, routes);`, spanned on the pattern.
pub(crate) fn pattern_check(pattern: &LitStr, ty: &Type, routes: TokenStream) -> TokenStream {
    let type_name = quote!(#ty).to_string().replace(' ', "");
    quote_spanned! {pattern.span()=>
        const _: () = ::herald::__private::assert_can_match(#pattern, #type_name, #routes);
    }
}
