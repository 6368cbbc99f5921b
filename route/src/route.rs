//! Concrete routes, templates and patterns.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::Arc;

use crate::error::{ErrorKind, RouteError, Syntax};
use crate::grammar::{self, Fault, MAX_LEN, SegmentKind, Segs};
use crate::matcher::{self, Assignment, Message, Target};

fn parse(text: &str, syntax: Syntax) -> Result<Segs, RouteError> {
    grammar::parse(text, syntax).map_err(|fault| RouteError::from_fault(syntax, text, fault))
}

fn span(text: &str, start: u16, end: u16) -> &str {
    &text[start as usize..end as usize]
}

/// A concrete route, as a dispatched command or a stored event carries it:
/// `user.42.created`.
///
/// ```
/// use herald_route::Route;
/// let route = Route::parse("user.42.created")?;
/// assert_eq!(route.segments().collect::<Vec<_>>(), ["user", "42", "created"]);
/// assert!(Route::parse("user.*").is_err());
/// # Ok::<(), herald_route::RouteError>(())
/// ```
///
/// Cloning one is cheap (its text is shared): a route travels with its command, its
/// events, their trace and their errors.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Route(Arc<str>);

impl Route {
    /// Checks `text` as a concrete route: non-empty segments without `*`, `:`, `>`,
    /// whitespace or control characters.
    pub fn parse(text: &str) -> Result<Route, RouteError> {
        parse(text, Syntax::Concrete)?;
        Ok(Route(Arc::from(text)))
    }

    /// The route's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The route's segments, in order.
    pub fn segments(&self) -> std::str::Split<'_, char> {
        self.0.split('.')
    }

    /// The route's text, owned.
    pub fn into_string(self) -> String {
        self.0.as_ref().to_owned()
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Route({:?})", self.0)
    }
}

impl AsRef<str> for Route {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for Route {
    type Err = RouteError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Route::parse(s)
    }
}

impl TryFrom<String> for Route {
    type Error = RouteError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        parse(&s, Syntax::Concrete)?;
        Ok(Route(Arc::from(s)))
    }
}

impl From<Route> for String {
    fn from(route: Route) -> String {
        route.into_string()
    }
}

/// A command or event route with `:params` filled in from the value's fields:
/// `user.:user_id.created`.
///
/// ```
/// use herald_route::Template;
/// const CREATED: Template<'static> = Template::new("user.:user_id.created");
/// assert_eq!(CREATED.params().collect::<Vec<_>>(), ["user_id"]);
/// let route = CREATED.render(|_, _, out| out.push_str("42"))?;
/// assert_eq!(route.as_str(), "user.42.created");
/// # Ok::<(), herald_route::RouteError>(())
/// ```
#[derive(Clone, Copy)]
pub struct Template<'a> {
    text: &'a str,
    segs: Segs,
}

impl<'a> Template<'a> {
    /// Checks `text` as a template: literals and `:params`, no `*` or `:name?`.
    pub fn parse(text: &'a str) -> Result<Self, RouteError> {
        Ok(Template {
            text,
            segs: parse(text, Syntax::Template)?,
        })
    }

    /// A template known to be valid, for `const` items; compilation fails with the
    /// reason when it is not.
    pub const fn new(text: &'a str) -> Self {
        match grammar::parse(text, Syntax::Template) {
            Ok(segs) => Template { text, segs },
            Err(fault) => invalid_template(text, fault),
        }
    }

    /// The template's text.
    pub const fn as_str(&self) -> &'a str {
        self.text
    }

    /// The names of its parameters, in order.
    pub fn params(&self) -> impl Iterator<Item = &'a str> + '_ {
        let text = self.text;
        self.segs.segs[..self.segs.len]
            .iter()
            .filter(|seg| seg.kind == SegmentKind::Param)
            .map(move |seg| {
                let (start, end) = seg.name_span();
                &text[start..end]
            })
    }

    /// The route made by writing each parameter's value with `value(index, name, out)`
    /// (`index` counts parameters from 0). A value that is empty or is not a valid
    /// segment (a `.`, `*`, `:`, `>`, whitespace or a control character) is an error
    /// naming the parameter: a route is never silently mangled.
    pub fn render(
        &self,
        mut value: impl FnMut(usize, &str, &mut String),
    ) -> Result<Route, RouteError> {
        let mut out = String::with_capacity(self.text.len() + 32);
        let mut param = 0;
        for (i, seg) in self.segs.segs[..self.segs.len].iter().enumerate() {
            if i > 0 {
                out.push('.');
            }
            if seg.kind != SegmentKind::Param {
                out.push_str(span(self.text, seg.start, seg.end));
                continue;
            }
            let (start, end) = seg.name_span();
            let name = &self.text[start..end];
            let at = out.len();
            value(param, name, &mut out);
            param += 1;
            let written = &out[at..];
            let fault = if written.is_empty() {
                Some((ErrorKind::EmptyValue, 0, 0))
            } else {
                grammar::concrete_fault(written.as_bytes(), 0, written.len())
            };
            if let Some((kind, start, end)) = fault {
                let fault = Fault {
                    kind,
                    segment: i,
                    start,
                    end,
                };
                return Err(RouteError::bad_value(self.text, i, name, written, fault));
            }
            if out.len() > MAX_LEN {
                let fault = Fault {
                    kind: ErrorKind::TooLong,
                    segment: i,
                    start: 0,
                    end: written.len(),
                };
                return Err(RouteError::bad_value(self.text, i, name, written, fault));
            }
        }
        if out.len() > MAX_LEN {
            let fault = Fault {
                kind: ErrorKind::TooLong,
                segment: 0,
                start: 0,
                end: out.len(),
            };
            return Err(RouteError::from_fault(Syntax::Concrete, &out, fault));
        }
        Ok(Route(Arc::from(out)))
    }
}

const fn invalid_template(text: &str, fault: Fault) -> ! {
    let mut msg = Message::new();
    msg.push("invalid route template `")
        .push(text)
        .push("`: ")
        .push(fault.kind.summary());
    panic!("{}", msg.as_str())
}

impl fmt::Display for Template<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

impl fmt::Debug for Template<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Template({:?})", self.text)
    }
}

/// What a handler subscribes with: `user.:user_id.created`, `user.:id?.*`, `*.created`.
///
/// ```
/// use herald_route::Pattern;
/// let pattern = Pattern::parse("test.*")?;
/// assert!(pattern.matches("test.created.list"));
/// assert!(!pattern.matches("test"));
/// let user = Pattern::parse("user.:user_id.*")?;
/// let caps = user.captures("user.42.profile.updated").unwrap();
/// assert_eq!(caps.get("user_id"), Some("42"));
/// assert_eq!(caps.wildcards().collect::<Vec<_>>(), ["profile.updated"]);
/// # Ok::<(), herald_route::RouteError>(())
/// ```
#[derive(Clone)]
pub struct Pattern {
    text: String,
    segs: Segs,
}

impl Pattern {
    /// Checks `text` as a pattern.
    pub fn parse(text: &str) -> Result<Pattern, RouteError> {
        Ok(Pattern {
            text: text.to_owned(),
            segs: parse(text, Syntax::Pattern)?,
        })
    }

    /// The pattern's text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `route` matches, anchored at both ends. An invalid concrete route never
    /// matches.
    pub fn matches(&self, route: &str) -> bool {
        self.split(route).is_some()
    }

    /// What the parameters and wildcards captured, or `None` when `route` does not match.
    /// When a route can be split in several ways, earlier elements take as much as they
    /// can: `*` is greedy and `:name?` is present if it can be.
    pub fn captures<'a>(&'a self, route: &'a str) -> Option<Captures<'a>> {
        let (route_segs, assign) = self.split(route)?;
        Some(Captures {
            pattern: self,
            route,
            route_segs,
            assign,
        })
    }

    /// Whether this pattern can match some route rendered from `template`.
    pub fn can_match(&self, template: &Template<'_>) -> bool {
        let (p, t) = (self.text.as_bytes(), template.text.as_bytes());
        matcher::find(p, &self.segs, t, &template.segs, Target::Template).is_some()
    }

    /// The kinds of the pattern's segments with their text, in order (the text of a
    /// parameter is its name).
    pub fn segments(&self) -> impl Iterator<Item = (SegmentKind, &str)> + '_ {
        self.segs.segs[..self.segs.len]
            .iter()
            .map(|seg| match seg.kind {
                SegmentKind::Param | SegmentKind::OptionalParam => {
                    let (start, end) = seg.name_span();
                    (seg.kind, &self.text[start..end])
                }
                _ => (seg.kind, span(&self.text, seg.start, seg.end)),
            })
    }

    /// Whether every route this pattern matches is matched by `outer` as well, and if
    /// so, what this pattern fixes of `outer`'s parameters: each `:name` (or present
    /// `:name?`) of `outer`, with the literal this pattern has in its place, or `None`
    /// where this pattern leaves it open. What a channel checks a subscription with: the
    /// subscriber's pattern must lie within the channel's.
    ///
    /// ```
    /// use herald_route::Pattern;
    /// let channel = Pattern::parse("account.:account_id.*")?;
    /// let mine = Pattern::parse("account.42.*")?;
    /// assert_eq!(mine.within(&channel), Some(vec![("account_id", Some("42"))]));
    /// let any = Pattern::parse("account.:id.deposited")?;
    /// assert_eq!(any.within(&channel), Some(vec![("account_id", None)]));
    /// // `*` also matches `account.42.x.y`, which `account.:id.x` does not.
    /// assert_eq!(Pattern::parse("account.*")?.within(&channel), None);
    /// assert_eq!(Pattern::parse("user.*")?.within(&channel), None);
    /// # Ok::<(), herald_route::RouteError>(())
    /// ```
    pub fn within<'a>(&'a self, outer: &'a Pattern) -> Option<Vec<(&'a str, Option<&'a str>)>> {
        let inner: Vec<(SegmentKind, &str)> = self.segments().collect();
        let outer: Vec<(SegmentKind, &str)> = outer.segments().collect();
        let mut search = Within {
            inner: &inner,
            outer: &outer,
            taken: vec![(0, 0); outer.len()],
            failed: vec![false; (outer.len() + 1) * (inner.len() + 1)],
        };
        if !search.step(0, 0) {
            return None;
        }
        let fixed = outer
            .iter()
            .zip(&search.taken)
            .filter(|((kind, _), _)| grammar::is_param(*kind))
            .filter(|(_, (start, end))| start < end)
            .map(|((_, name), &(start, _))| match inner[start] {
                (SegmentKind::Literal, text) => (*name, Some(text)),
                _ => (*name, None),
            })
            .collect();
        Some(fixed)
    }

    fn split(&self, route: &str) -> Option<(Segs, Assignment)> {
        let route_segs = grammar::parse(route, Syntax::Concrete).ok()?;
        let assign = matcher::find(
            self.text.as_bytes(),
            &self.segs,
            route.as_bytes(),
            &route_segs,
            Target::Concrete,
        )?;
        Some((route_segs, assign))
    }
}

/// The search of [`Pattern::within`]: which inner elements each outer element covers.
struct Within<'p, 'a> {
    inner: &'p [(SegmentKind, &'a str)],
    outer: &'p [(SegmentKind, &'a str)],
    /// The inner elements `start..end` each outer element took.
    taken: Vec<(usize, usize)>,
    /// `(outer element, inner element)` pairs known not to lead to a cover.
    failed: Vec<bool>,
}

impl Within<'_, '_> {
    fn step(&mut self, oi: usize, ii: usize) -> bool {
        let (n, m) = (self.inner.len(), self.outer.len());
        if oi == m {
            return ii == n;
        }
        let memo = oi * (n + 1) + ii;
        if self.failed[memo] {
            return false;
        }
        let next = self.inner.get(ii).map(|&(kind, _)| kind);
        let found = match self.outer[oi] {
            // The same literal.
            (SegmentKind::Literal, text) => {
                self.inner.get(ii) == Some(&(SegmentKind::Literal, text))
                    && self.take(oi, ii, ii + 1)
            }
            // Exactly one segment: a literal or a parameter.
            (SegmentKind::Param, _) => {
                matches!(next, Some(SegmentKind::Literal | SegmentKind::Param))
                    && self.take(oi, ii, ii + 1)
            }
            // Zero or one segment.
            (SegmentKind::OptionalParam, _) => {
                (matches!(
                    next,
                    Some(SegmentKind::Literal | SegmentKind::Param | SegmentKind::OptionalParam)
                ) && self.take(oi, ii, ii + 1))
                    || self.take(oi, ii, ii)
            }
            // One or more: any run of elements that always takes a segment at least.
            (SegmentKind::Wildcard, _) => {
                let mut found = false;
                let mut end = n;
                while end > ii && !found {
                    let some = self.inner[ii..end]
                        .iter()
                        .any(|&(kind, _)| kind != SegmentKind::OptionalParam);
                    found = some && self.take(oi, ii, end);
                    end -= 1;
                }
                found
            }
        };
        if !found {
            self.failed[memo] = true;
        }
        found
    }

    fn take(&mut self, oi: usize, start: usize, end: usize) -> bool {
        self.taken[oi] = (start, end);
        self.step(oi + 1, end)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Pattern {}

impl Hash for Pattern {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.text)
    }
}

impl FromStr for Pattern {
    type Err = RouteError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Pattern::parse(s)
    }
}

/// What a pattern's parameters and wildcards captured from a route.
#[derive(Clone)]
pub struct Captures<'a> {
    pattern: &'a Pattern,
    route: &'a str,
    route_segs: Segs,
    assign: Assignment,
}

impl<'a> Captures<'a> {
    /// The segment `:name` (or `:name?`) captured; `None` for an absent optional
    /// parameter or a name the pattern does not have.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.elements()
            .find(|&(kind, text, _)| grammar::is_param(kind) && text == name)
            .and_then(|(_, _, value)| value)
    }

    /// What each `*` captured, in order: the segments it took, joined by `.`.
    pub fn wildcards(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.elements()
            .filter(|&(kind, _, _)| kind == SegmentKind::Wildcard)
            .filter_map(|(_, _, value)| value)
    }

    /// Each parameter that captured a segment, as `(name, value)`, in order.
    pub fn params(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        self.elements()
            .filter(|&(kind, _, _)| grammar::is_param(kind))
            .filter_map(|(_, name, value)| Some((name, value?)))
    }

    /// Each pattern element with its name (or literal text) and what it took.
    fn elements(&self) -> impl Iterator<Item = (SegmentKind, &'a str, Option<&'a str>)> + '_ {
        self.pattern
            .segments()
            .zip(self.assign.iter())
            .map(|((kind, text), &(start, end))| {
                let value = (start < end).then(|| {
                    let (first, last) = (
                        self.route_segs.get(start as usize),
                        self.route_segs.get(end as usize - 1),
                    );
                    &self.route[first.start as usize..last.end as usize]
                });
                (kind, text, value)
            })
    }
}

impl fmt::Debug for Captures<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Captures")
            .field("params", &self.params().collect::<Vec<_>>())
            .field("wildcards", &self.wildcards().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    fn within(inner: &str, outer: &str) -> Option<Vec<(String, Option<String>)>> {
        let (inner, outer) = (
            Pattern::parse(inner).unwrap(),
            Pattern::parse(outer).unwrap(),
        );
        inner.within(&outer).map(|fixed| {
            fixed
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value.map(str::to_owned)))
                .collect()
        })
    }

    #[test]
    fn a_pattern_lies_within_another_when_every_route_it_matches_does() {
        let fixed = |pairs: &[(&str, Option<&str>)]| {
            Some(
                pairs
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), v.map(str::to_owned)))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(within("a.b", "a.b"), fixed(&[]));
        assert_eq!(within("a.1.c", "a.:id.c"), fixed(&[("id", Some("1"))]));
        assert_eq!(within("a.:x.c", "a.:id.c"), fixed(&[("id", None)]));
        assert_eq!(within("a.1.b.c", "a.:id.*"), fixed(&[("id", Some("1"))]));
        assert_eq!(within("a.1.*", "a.:id.*"), fixed(&[("id", Some("1"))]));
        assert_eq!(within("a.*.b", "a.*"), fixed(&[]));
        assert_eq!(within("a.:x?.b", "a.*"), fixed(&[]));
        assert_eq!(within("a.b", "a.:id?.b"), fixed(&[]));
        assert_eq!(within("a.1.b", "a.:id?.b"), fixed(&[("id", Some("1"))]));
        assert_eq!(within("a.:x?.b", "a.:id?.b"), fixed(&[("id", None)]));
        assert_eq!(within("*", "*"), fixed(&[]));
        // Wider than the outer pattern: some route matches it and not the other.
        assert_eq!(within("a.*", "a.:id.*"), None); // `a.1`
        assert_eq!(within("a.:x?", "a.*"), None); // `a`
        assert_eq!(within("a.:x?.c", "a.:id.c"), None); // `a.c`
        assert_eq!(within("a.*.c", "a.:id.c"), None); // `a.1.2.c`
        assert_eq!(within("*", "*.*"), None); // `a`
        assert_eq!(within("b.*", "a.*"), None);
        assert_eq!(within("a.b", "a.b.c"), None);
        assert_eq!(within("A.b", "a.b"), None);
    }

    #[test]
    fn within_is_sound_on_sample_routes() {
        let patterns = [
            "a.*", "a.:id", "a.:id.*", "a.:id?.b", "*.b", "a.1.b", "a.:x.b", "*", "a.:x?", "*.*",
            "a.*.b",
        ];
        let routes = [
            "a", "a.1", "a.b", "a.1.b", "a.1.2.b", "a.1.c", "x.b", "a.b.b",
        ];
        for inner in patterns {
            for outer in patterns {
                let (i, o) = (
                    Pattern::parse(inner).unwrap(),
                    Pattern::parse(outer).unwrap(),
                );
                if i.within(&o).is_some() {
                    for route in routes {
                        assert!(
                            !i.matches(route) || o.matches(route),
                            "`{inner}` within `{outer}`, but `{route}` matches only the first"
                        );
                    }
                }
            }
        }
    }
}
