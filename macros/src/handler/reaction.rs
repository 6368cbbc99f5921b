//! The reactions to events, one macro each: `#[projector(…)]`, `#[processor(…)]` and
//! `#[dispatcher(…)]`: `("pattern", consistency = strong | eventual, priority = N, name =
//! "…")` on `async fn(event: &Recorded<MyEvent>, cx: &mut Cx<'_>)`, or on one taking any
//! `&RecordedEvent`. A projector returns `()` or `Result<(), E>`; a processor returns
//! `Result<commands, E>`; a dispatcher (always strong) `Result<side events, E>`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{GenericArgument, ItemFn, LitStr, PathArguments, Type};

use super::{Common, Context, finish, name, pattern, pattern_check, signature, wrapper_ident};
use crate::args::{self, Once};
use crate::errors::{Errors, on_function};
use crate::symbol::{CONSISTENCY, NAME, ORDERED, PARTITIONS, PRIORITY, TABLES, VERSION};

/// Which of the three.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Projector,
    Processor,
    Dispatcher,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Projector => "projector",
            Kind::Processor => "processor",
            Kind::Dispatcher => "dispatcher",
        }
    }

    fn shape(self) -> &'static str {
        match self {
            Kind::Projector => {
                "async fn project(event: &Recorded<MyEvent>, cx: &mut Cx<'_>) -> Result<(), MyError>"
            }
            Kind::Processor => {
                "async fn process(event: &Recorded<MyEvent>, cx: &mut Cx<'_>) -> Result<Vec<MyCommand>, MyError>"
            }
            Kind::Dispatcher => {
                "async fn derive(event: &Recorded<MyEvent>, cx: &mut Cx<'_>) -> Result<MySideEvent, MyError>"
            }
        }
    }
}

pub(crate) fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    on_function(
        item,
        || {
            format!(
                "`#[{}]` goes on a function: `{}`",
                kind.word(),
                kind.shape()
            )
        },
        |function| Projector::parse(kind, args, function).map(|projector| projector.expand()),
    )
}

struct Projector<'a> {
    kind: Kind,
    function: &'a ItemFn,
    pattern: LitStr,
    name: String,
    priority: i32,
    strong: bool,
    /// Whether a parked event holds back the later events of its stream (eventual only).
    ordered: bool,
    /// How many shares its streams are split into, each run by one process (eventual only).
    partitions: u32,
    /// The tables an eventual projector writes, which a rebuild fills aside.
    tables: Vec<LitStr>,
    /// The version of what an eventual projector writes in its tables (1 unless given):
    /// a snapshot of them taken under another version is not restored.
    version: u32,
    /// The event type, or `None` for any `RecordedEvent`.
    event: Option<&'a Type>,
    sig: super::Signature<'a>,
}

impl<'a> Projector<'a> {
    fn parse(kind: Kind, args: TokenStream, function: &'a ItemFn) -> syn::Result<Self> {
        let mut errors = Errors::default();
        let mut common = Common::new();
        let mut consistency = Once::new(CONSISTENCY);
        let mut ordered = Once::new(ORDERED);
        let mut partitions = Once::new(PARTITIONS);
        let mut tables = Once::new(TABLES);
        let mut version = Once::new(VERSION);
        let lit = args::parse(args, &mut errors, |meta, errors| {
            if common.parse(&meta, errors)? {
                return Ok(());
            }
            if kind == Kind::Dispatcher {
                // A dispatcher always runs in the command's transaction.
                return Err(args::unknown(&meta, kind.word(), &[NAME, PRIORITY]));
            }
            if meta.path.is_ident(TABLES) && kind == Kind::Projector {
                // #[projector("…", consistency = eventual, tables = ["profiles"])]
                let list: syn::ExprArray = meta.value()?.parse()?;
                let list = table_list(&list, errors);
                tables.set(errors, &meta, (list, meta.path.span()));
                return Ok(());
            }
            if meta.path.is_ident(VERSION) && kind == Kind::Projector {
                // #[projector("…", consistency = eventual, tables = ["profiles"], version = 2)]
                let span = meta.path.span();
                let hint = "; a projector's versions start at 1";
                if let Some(n) = args::positive(&meta, errors, hint)? {
                    version.set(errors, &meta, (n, span));
                }
                return Ok(());
            }
            if meta.path.is_ident(ORDERED) {
                // #[projector("…", consistency = eventual, ordered = false)]
                let value: syn::LitBool = meta.value()?.parse()?;
                ordered.set(errors, &meta, (value.value, meta.path.span()));
                return Ok(());
            }
            if meta.path.is_ident(PARTITIONS) {
                // #[projector("…", consistency = eventual, partitions = 4)]
                let value: syn::Lit = meta.value()?.parse()?;
                let count = partition_count(&value, errors);
                partitions.set(errors, &meta, (count, meta.path.span()));
                return Ok(());
            }
            if !meta.path.is_ident(CONSISTENCY) {
                let known: &[&str] = match kind {
                    Kind::Projector => &[
                        CONSISTENCY,
                        NAME,
                        ORDERED,
                        PARTITIONS,
                        PRIORITY,
                        TABLES,
                        VERSION,
                    ],
                    _ => &[CONSISTENCY, NAME, ORDERED, PARTITIONS, PRIORITY],
                };
                return Err(args::unknown(&meta, kind.word(), known));
            }
            // #[projector("…", consistency = eventual)]
            let input = meta.value()?;
            if input.peek(syn::LitStr) {
                let quoted: syn::LitStr = input.parse()?;
                errors.at(
                    &quoted,
                    format!(
                        "`consistency` takes `strong` or `eventual` without quotes: `consistency = {}`",
                        quoted.value()
                    ),
                );
                return Ok(());
            }
            let value: syn::Ident = input.parse()?;
            match value.to_string().as_str() {
                "strong" => consistency.set(errors, &meta, true),
                "eventual" => consistency.set(errors, &meta, false),
                _ => errors.at(
                    &value,
                    "`consistency` is `strong` (in the command's transaction) or `eventual` (after it commits)",
                ),
            }
            Ok(())
        });
        let example = format!("`#[{}(\"user.:user_id.created\")]`", kind.word());
        let pattern = pattern(lit, &mut errors, &example);
        let what = format!("a {}", kind.word());
        let sig = signature(function, &what, kind.shape(), Context::Cx, &mut errors);
        if kind != Kind::Projector && sig.output.is_none() {
            let what = match kind {
                Kind::Processor => "the commands it dispatches",
                _ => "the side events it derives",
            };
            errors.at(
                sig.ident,
                format!("a {} returns {what}: `{}`", kind.word(), kind.shape()),
            );
        }
        let event = sig.first.and_then(|ty| match event_type(ty) {
            Ok(event) => Some(event),
            Err(()) => {
                errors.at(
                    ty,
                    format!(
                        "a {} takes the event as `&Recorded<MyEvent>`, or any event as `&herald::store::RecordedEvent`",
                        kind.word()
                    ),
                );
                None
            }
        });
        let strong = consistency.get().unwrap_or(true);
        let ordered = match ordered.get() {
            Some((_, span)) if strong => {
                errors.push(syn::Error::new(
                    span,
                    "`ordered` is for `consistency = eventual` handlers: a strong one runs in the command's transaction and parks nothing",
                ));
                true
            }
            Some((ordered, _)) => ordered,
            None => true,
        };
        let partitions = match partitions.get() {
            Some((_, span)) if strong => {
                errors.push(syn::Error::new(
                    span,
                    "`partitions` is for `consistency = eventual` handlers: a strong one runs in the command's transaction, in the process that dispatched it",
                ));
                1
            }
            Some((count, _)) => count,
            None => 1,
        };
        let tables = match tables.get() {
            Some((_, span)) if strong => {
                errors.push(syn::Error::new(
                    span,
                    "`tables` is for `consistency = eventual` projectors, which can be rebuilt from the events; a strong one's tables change with the commands",
                ));
                Vec::new()
            }
            Some((tables, _)) => tables,
            None => Vec::new(),
        };
        let version = match version.get() {
            Some((_, span)) if tables.is_empty() => {
                errors.push(syn::Error::new(
                    span,
                    "`version` is the version of the tables an eventual projector declares (`tables = [\"…\"]`), which a snapshot of them must match to be restored: declare them, or leave `version` out",
                ));
                1
            }
            Some((version, _)) => version,
            None => 1,
        };
        let given = common.name.get();
        if let Some(lit) = given
            .as_ref()
            .filter(|lit| !strong && lit.value().contains('#'))
        {
            // `name#k/N` is the checkpoint of partition k of N.
            errors.at(
                lit,
                "an eventual handler's name cannot hold `#`: it separates a consumer's name from its partition in the store",
            );
        }
        errors.check()?;
        Ok(Projector {
            kind,
            function,
            pattern: pattern.expect("checked"),
            name: name(given, &function.sig.ident),
            priority: common.priority.get().unwrap_or(0),
            strong,
            ordered,
            partitions,
            tables,
            version,
            event: event.expect("checked"),
            sig,
        })
    }

    fn expand(&self) -> TokenStream {
        let Projector {
            kind,
            function,
            pattern,
            name,
            priority,
            strong,
            ordered,
            partitions,
            tables,
            version,
            event,
            sig,
        } = self;
        let ident = sig.ident;
        let wrapper = wrapper_ident(kind.word(), ident);
        let consistency = match (kind, strong) {
            (Kind::Dispatcher, _) => TokenStream::new(),
            (_, true) => quote! {
                consistency: ::herald::Consistency::Strong, ordered: true, partitions: 1,
            },
            (_, false) => quote! {
                consistency: ::herald::Consistency::Eventual, ordered: #ordered, partitions: #partitions,
            },
        };
        let call = match event {
            Some(_) => quote!(#ident(&event, cx)),
            None => quote!(#ident(event, cx)),
        };
        let call = match kind {
            Kind::Projector => finish(call, sig),
            Kind::Processor => {
                let span = sig.output.map_or_else(|| ident.span(), |ty| ty.span());
                quote_spanned!(span=> ::herald::ProcessorOutput::into_commands(#call.await))
            }
            Kind::Dispatcher => {
                let span = sig.output.map_or_else(|| ident.span(), |ty| ty.span());
                quote_spanned!(span=> ::herald::DispatcherOutput::into_events(#call.await))
            }
        };
        let (body, check, event_name) = match event {
            Some(ty) => {
                let body = quote_spanned! {ty.span()=>
                    let event = ::herald::Recorded::<#ty>::decode(::core::clone::Clone::clone(event))?;
                    #call
                };
                let check = pattern_check(pattern, ty, quote!(<#ty as ::herald::Event>::ROUTES));
                let name = quote_spanned!(ty.span()=> ::core::option::Option::Some(<#ty as ::herald::Event>::NAME));
                (body, check, name)
            }
            None => (
                call,
                TokenStream::new(),
                quote!(::core::option::Option::None),
            ),
        };
        let (returns, row, commands) = match kind {
            Kind::Projector => (
                quote!(()),
                quote!(::herald::__private::ProjectorRow),
                quote!(tables: &[#(#tables),*], version: #version,),
            ),
            Kind::Processor => {
                let output = sig.output.expect("checked");
                let commands = quote_spanned! {output.span()=>
                    commands: ::herald::__private::command_names::<<#output as ::herald::ProcessorOutput>::Commands>,
                };
                (
                    quote!(::std::vec::Vec<::std::boxed::Box<dyn ::herald::__private::AnyCommand>>),
                    quote!(::herald::__private::ProcessorRow),
                    commands,
                )
            }
            Kind::Dispatcher => {
                let output = sig.output.expect("checked");
                let events = quote_spanned! {output.span()=>
                    events: ::herald::__private::event_names::<<#output as ::herald::DispatcherOutput>::Events>,
                };
                (
                    quote!(::std::vec::Vec<::std::boxed::Box<dyn ::herald::AnyEvent>>),
                    quote!(::herald::__private::DispatcherRow),
                    events,
                )
            }
        };
        quote! {
            #function
            #check

            #[doc(hidden)]
            fn #wrapper<'a, 'c>(
                event: &'a ::herald::store::RecordedEvent,
                cx: &'a mut ::herald::Cx<'c>,
            ) -> ::herald::BoxFuture<'a, ::core::result::Result<#returns, ::herald::BoxError>> {
                ::std::boxed::Box::pin(async move { #body })
            }

            ::herald::__private::inventory::submit! {
                #row {
                    name: #name,
                    module: ::core::module_path!(),
                    pattern: #pattern,
                    priority: #priority,
                    #consistency
                    event: #event_name,
                    #commands
                    run: #wrapper,
                }
            }
        }
    }
}

/// The most partitions a consumer may have: each one's worker reads the whole global order.
const MAX_PARTITIONS: u32 = 64;

/// `partitions = N`: 1 to [`MAX_PARTITIONS`] (1 is the default, one share).
fn partition_count(value: &syn::Lit, errors: &mut Errors) -> u32 {
    let count = match value {
        syn::Lit::Int(int) => int.base10_parse::<u32>().ok(),
        _ => None,
    };
    match count {
        Some(count @ 1..=MAX_PARTITIONS) => count,
        _ => {
            errors.at(
                value,
                format!(
                    "`partitions` is a number from 1 to {MAX_PARTITIONS}: how many shares the consumer's streams are split into, each run by one process at a time (every share's worker reads the whole global order)"
                ),
            );
            1
        }
    }
}

/// `&Recorded<E>` → `Some(E)`; `&RecordedEvent` → `None`.
fn event_type(ty: &Type) -> Result<Option<&Type>, ()> {
    let Type::Reference(r) = ty else {
        return Err(());
    };
    if r.mutability.is_some() {
        return Err(());
    }
    let Type::Path(path) = &*r.elem else {
        return Err(());
    };
    let last = path.path.segments.last().ok_or(())?;
    match (last.ident.to_string().as_str(), &last.arguments) {
        ("RecordedEvent", PathArguments::None) => Ok(None),
        ("Recorded", PathArguments::AngleBracketed(args)) if args.args.len() == 1 => {
            match &args.args[0] {
                GenericArgument::Type(event) => Ok(Some(event)),
                _ => Err(()),
            }
        }
        _ => Err(()),
    }
}

/// `tables = ["a", "b"]`: SQL identifiers (letters, digits, `_`), each once.
fn table_list(list: &syn::ExprArray, errors: &mut Errors) -> Vec<LitStr> {
    if list.elems.is_empty() {
        errors.at(
            list,
            "`tables` lists at least one table; leave it out if the projector writes none",
        );
    }
    let mut tables: Vec<LitStr> = Vec::new();
    for elem in &list.elems {
        let syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(table),
            ..
        }) = elem
        else {
            errors.at(
                elem,
                "tables are string literals: `tables = [\"profiles\"]`",
            );
            continue;
        };
        let name = table.value();
        let identifier = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !identifier {
            errors.at(table, format!("`{name}` is not a plain SQL table name (letters, digits and `_`, not starting with a digit)"));
        } else if tables.iter().any(|t| t.value() == name) {
            errors.at(table, format!("table `{name}` is listed twice"));
        } else {
            tables.push(table.clone());
        }
    }
    tables
}

#[cfg(test)]
mod tests {
    use super::event_type;

    #[test]
    fn the_event_type_comes_from_the_first_parameter() {
        let typed: syn::Type = syn::parse_quote!(&Recorded<UserCreated>);
        let any: syn::Type = syn::parse_quote!(&herald::store::RecordedEvent);
        let wrong: syn::Type = syn::parse_quote!(&mut Recorded<UserCreated>);
        let by_value: syn::Type = syn::parse_quote!(UserCreated);
        assert!(matches!(event_type(&typed), Ok(Some(_))));
        assert!(matches!(event_type(&any), Ok(None)));
        assert!(event_type(&wrong).is_err());
        assert!(event_type(&by_value).is_err());
    }
}
