//! The `impl` block: its `#[handle]` and `#[apply]` methods, checked.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{Attribute, FnArg, ImplItem, ImplItemFn, ItemImpl, LitStr, ReturnType, Type};

use super::expand as generate;
use crate::args::{self, Once};
use crate::errors::{Errors, with_item};
use crate::symbol::{APPLY, HANDLE, NAME};

pub(crate) fn expand(args: TokenStream, mut block: ItemImpl) -> TokenStream {
    let mut errors = Errors::default();
    if !args.is_empty() {
        errors.at(
            &args,
            "`#[aggregate]` on an `impl` block takes no options; put `name`, `snapshot_every` and `version` on the struct",
        );
    }
    // Our method attributes are removed from the output, also when there are errors.
    let marked = take_marks(&mut block, &mut errors);
    let methods = Methods::check(&block, &marked, &mut errors);
    match errors.check() {
        Ok(()) => generate::methods(&block, &methods),
        Err(error) => {
            let fallback = generate::fallback(&block.self_ty);
            with_item(&quote::quote!(#block #fallback), error)
        }
    }
}

/// Which of our attributes a method carried.
#[derive(Default)]
struct Marks {
    handle: Option<Attribute>,
    apply: Option<Attribute>,
}

fn take_marks(block: &mut ItemImpl, errors: &mut Errors) -> Vec<Marks> {
    block
        .items
        .iter_mut()
        .map(|item| {
            let ImplItem::Fn(method) = item else { return Marks::default() };
            let mut marks = Marks::default();
            method.attrs.retain(|attr| {
                let slot = if attr.path().is_ident(HANDLE) {
                    &mut marks.handle
                } else if attr.path().is_ident(APPLY) {
                    &mut marks.apply
                } else {
                    return true;
                };
                if slot.is_some() {
                    errors.at(attr, "this attribute is given twice; keep one");
                }
                *slot = Some(attr.clone());
                false
            });
            if let (Some(_), Some(apply)) = (&marks.handle, &marks.apply) {
                errors.at(apply, "a method is either `#[handle]` (decides events) or `#[apply]` (applies one), not both");
            }
            marks
        })
        .collect()
}

/// A `#[handle]` method.
pub(crate) struct Handler<'a> {
    pub(crate) method: &'a ImplItemFn,
    pub(crate) name: Option<LitStr>,
    pub(crate) command: &'a Type,
    pub(crate) by_ref: bool,
    pub(crate) output: &'a Type,
}

/// An `#[apply]` method.
pub(crate) struct Applier<'a> {
    pub(crate) method: &'a ImplItemFn,
    pub(crate) event: &'a Type,
}

pub(crate) struct Methods<'a> {
    pub(crate) handlers: Vec<Handler<'a>>,
    pub(crate) appliers: Vec<Applier<'a>>,
}

impl<'a> Methods<'a> {
    fn check(block: &'a ItemImpl, marks: &[Marks], errors: &mut Errors) -> Self {
        if let Some((_, trait_path, _)) = &block.trait_ {
            errors.at(
                trait_path,
                "`#[aggregate]` goes on the aggregate's own `impl` block, not a trait impl",
            );
        }
        if !block.generics.params.is_empty() {
            errors.at(
                &block.generics,
                "an aggregate cannot be generic: its streams have one type",
            );
        }
        let mut methods = Methods {
            handlers: Vec::new(),
            appliers: Vec::new(),
        };
        for (item, marks) in block.items.iter().zip(marks) {
            let ImplItem::Fn(method) = item else { continue };
            if let Some(attr) = &marks.handle {
                if let Some(handler) = handler(method, attr, errors) {
                    methods.handlers.push(handler);
                }
            } else if let Some(attr) = &marks.apply
                && let Some(applier) = applier(method, attr, errors)
            {
                methods.appliers.push(applier);
            }
        }
        duplicates(
            errors,
            methods.handlers.iter().map(|h| (h.command, h.method)),
            "#[handle]",
            "command",
        );
        duplicates(
            errors,
            methods.appliers.iter().map(|a| (a.event, a.method)),
            "#[apply]",
            "event",
        );
        methods
    }
}

/// Two methods for one type: an error at each.
fn duplicates<'a>(
    errors: &mut Errors,
    items: impl Iterator<Item = (&'a Type, &'a ImplItemFn)>,
    attr: &str,
    what: &str,
) {
    let items: Vec<(String, &Type, &ImplItemFn)> = items
        .map(|(ty, m)| (ty.to_token_stream().to_string(), ty, m))
        .collect();
    for (i, (key, ty, method)) in items.iter().enumerate() {
        let others: Vec<String> = items
            .iter()
            .enumerate()
            .filter(|&(j, (other, _, _))| j != i && other == key)
            .map(|(_, (_, _, m))| format!("`{}`", m.sig.ident))
            .collect();
        if !others.is_empty() {
            let ty_text = ty.to_token_stream().to_string().replace(' ', "");
            errors.at(
                ty,
                format!(
                    "`{}` and {} are both `{attr}` methods for {what} `{ty_text}`; keep one",
                    method.sig.ident,
                    others.join(", ")
                ),
            );
        }
    }
}

fn handler<'a>(
    method: &'a ImplItemFn,
    attr: &Attribute,
    errors: &mut Errors,
) -> Option<Handler<'a>> {
    let name = handle_options(attr, errors);
    let sig = &method.sig;
    let ident = &sig.ident;
    common_checks(
        method,
        "#[handle]",
        "they decide from the state and the command alone",
        errors,
    );
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
        Some(FnArg::Receiver(r)) if r.mutability.is_some() && r.reference.is_some() => errors.at(
            r,
            "a `#[handle]` method takes `&self`, not `&mut self`: it decides which events happen, and `#[apply]` methods change the state",
        ),
        Some(FnArg::Receiver(r)) => errors.at(r, "a `#[handle]` method takes `&self`"),
        _ => errors.at(ident, format!("a `#[handle]` method takes `&self` and the command: `fn {ident}(&self, command: MyCommand)`")),
    }
    let command = match inputs.next() {
        Some(FnArg::Typed(arg)) => Some(&*arg.ty),
        _ => {
            errors.at(ident, format!("a `#[handle]` method takes the command it handles: `fn {ident}(&self, command: MyCommand)`"));
            None
        }
    };
    for extra in inputs {
        errors.at(
            extra,
            "a `#[handle]` method takes only `&self` and the command",
        );
    }
    let output = match &sig.output {
        ReturnType::Type(_, ty) => Some(&**ty),
        ReturnType::Default => {
            errors.at(ident, "a `#[handle]` method returns `Result<events, error>`: add `-> Result<MyEvent, MyError>`");
            None
        }
    };
    let (command, by_ref) = match command? {
        Type::Reference(r) if r.mutability.is_some() => {
            errors.at(
                r,
                "a `#[handle]` method takes the command by value or as `&Command`, not `&mut`",
            );
            return None;
        }
        Type::Reference(r) => (&*r.elem, true),
        ty => (ty, false),
    };
    Some(Handler {
        method,
        name,
        command,
        by_ref,
        output: output?,
    })
}

/// `#[handle]` or `#[handle(name = "…")]`.
fn handle_options(attr: &Attribute, errors: &mut Errors) -> Option<LitStr> {
    if matches!(attr.meta, syn::Meta::Path(_)) {
        return None;
    }
    let mut name = Once::new(NAME);
    let parsed = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident(NAME) {
            // #[handle(name = "open-account")]
            if let Some(lit) = args::name(&meta, errors)? {
                name.set(errors, &meta, lit);
            }
            Ok(())
        } else {
            Err(args::unknown(&meta, "`#[handle]`", &[NAME]))
        }
    });
    errors.ok(parsed);
    name.get()
}

fn applier<'a>(
    method: &'a ImplItemFn,
    attr: &Attribute,
    errors: &mut Errors,
) -> Option<Applier<'a>> {
    if !matches!(attr.meta, syn::Meta::Path(_)) {
        errors.at(attr, "`#[apply]` takes no options");
    }
    let sig = &method.sig;
    let ident = &sig.ident;
    common_checks(
        method,
        "#[apply]",
        "an event is a fact, applied the moment it is read",
        errors,
    );
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_some() => {}
        Some(FnArg::Receiver(r)) => errors.at(r, "an `#[apply]` method takes `&mut self`: it changes the state"),
        _ => errors.at(ident, format!("an `#[apply]` method takes `&mut self` and the event: `fn {ident}(&mut self, event: &MyEvent)`")),
    }
    let event = match inputs.next() {
        Some(FnArg::Typed(arg)) => match &*arg.ty {
            Type::Reference(r) if r.mutability.is_none() => Some(&*r.elem),
            ty => {
                let text = ty.to_token_stream().to_string();
                let text = text.trim_start_matches("& mut ").replace(' ', "");
                errors.at(
                    ty,
                    format!("an `#[apply]` method takes the event by shared reference: `&{text}`"),
                );
                None
            }
        },
        _ => {
            errors.at(ident, format!("an `#[apply]` method takes the event it applies: `fn {ident}(&mut self, event: &MyEvent)`"));
            None
        }
    };
    for extra in inputs {
        errors.at(
            extra,
            "an `#[apply]` method takes only `&mut self` and the event",
        );
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        let unit = matches!(&**ty, Type::Tuple(t) if t.elems.is_empty());
        if !unit {
            errors.at(
                ty,
                "an `#[apply]` method returns nothing: applying an event that happened cannot fail",
            );
        }
    }
    Some(Applier {
        method,
        event: event?,
    })
}

/// What both kinds of method must not be: async, generic, or `const`/`unsafe`.
fn common_checks(method: &ImplItemFn, attr: &str, why: &str, errors: &mut Errors) {
    let sig = &method.sig;
    if let Some(asyncness) = &sig.asyncness {
        errors.at(asyncness, format!("`{attr}` methods are not async: {why}"));
    }
    if !sig.generics.params.is_empty() {
        errors.at(&sig.generics, format!("`{attr}` methods cannot be generic"));
    }
}
