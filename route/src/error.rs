//! What went wrong with a route, and where.

use std::fmt;
use std::ops::Range;

use crate::grammar::{Fault, MAX_LEN, MAX_SEGMENTS};

/// What kind of route text was being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Syntax {
    /// A concrete route, as a dispatched command or a stored event carries it.
    Concrete,
    /// A command or event route template: literals and `:params`.
    Template,
    /// A handler's pattern: literals, `:params`, `:params?` and `*`.
    Pattern,
}

impl Syntax {
    fn noun(self) -> &'static str {
        match self {
            Syntax::Concrete => "route",
            Syntax::Template => "route template",
            Syntax::Pattern => "route pattern",
        }
    }
}

/// Why a route is invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text is empty.
    Empty,
    /// More than 1,024 bytes.
    TooLong,
    /// More than 32 segments.
    TooManySegments,
    /// Two dots in a row, or a leading dot.
    EmptySegment,
    /// The text ends with a dot.
    TrailingDot,
    /// A literal segment of a template or pattern has a character other than ASCII
    /// letters, digits, `_` and `-`.
    InvalidLiteral,
    /// A concrete segment has whitespace or a control character.
    InvalidConcrete,
    /// A `:` in a concrete route.
    ParamNotAllowed,
    /// A `*` in a concrete route or a template.
    WildcardNotAllowed,
    /// A `:name?` in a template.
    OptionalNotAllowed,
    /// A `*` that is not a whole segment.
    MisplacedWildcard,
    /// A `>` (NATS's full wildcard); Herald uses `*`.
    FullWildcard,
    /// A `:` with no name after it.
    EmptyParamName,
    /// A parameter name that is not a Rust identifier.
    InvalidParamName,
    /// A parameter name used twice.
    DuplicateParam,
    /// A value rendered into a template has a `.`.
    DotInValue,
    /// A value rendered into a template is empty.
    EmptyValue,
}

impl ErrorKind {
    /// A short description, usable in `const` context.
    pub const fn summary(self) -> &'static str {
        match self {
            ErrorKind::Empty => "a route cannot be empty",
            ErrorKind::TooLong => "a route has at most 1024 bytes",
            ErrorKind::TooManySegments => "a route has at most 32 segments",
            ErrorKind::EmptySegment => "a segment is empty",
            ErrorKind::TrailingDot => "a route cannot end with `.`",
            ErrorKind::InvalidLiteral => {
                "literal segments hold only ASCII letters, digits, `_` and `-`"
            }
            ErrorKind::InvalidConcrete => "a segment has whitespace or a control character",
            ErrorKind::ParamNotAllowed => "a concrete route cannot hold `:`",
            ErrorKind::WildcardNotAllowed => "`*` is only allowed in patterns",
            ErrorKind::OptionalNotAllowed => "`:name?` is only allowed in patterns",
            ErrorKind::MisplacedWildcard => "`*` must be a whole segment",
            ErrorKind::FullWildcard => "`>` is not Herald syntax; use `*`",
            ErrorKind::EmptyParamName => "`:` must be followed by a parameter name",
            ErrorKind::InvalidParamName => "a parameter name must be a Rust identifier",
            ErrorKind::DuplicateParam => "a parameter may appear once",
            ErrorKind::DotInValue => "a value cannot contain `.`",
            ErrorKind::EmptyValue => "a value cannot be empty",
        }
    }
}

/// An invalid route, template or pattern: what is wrong, in which segment, at which bytes.
///
/// ```
/// use herald_route::{ErrorKind, Pattern};
/// let err = Pattern::parse("user..created").unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::EmptySegment);
/// assert_eq!(err.segment(), 1);
/// assert_eq!(err.to_string(), "invalid route pattern `user..created`: segment 2 is empty (two dots in a row)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteError {
    syntax: Syntax,
    kind: ErrorKind,
    text: String,
    segment: usize,
    span: Range<usize>,
    /// For a rendered value: the parameter's name and the value.
    value: Option<(String, String)>,
}

impl RouteError {
    pub(crate) fn from_fault(syntax: Syntax, text: &str, fault: Fault) -> Self {
        RouteError {
            syntax,
            kind: fault.kind,
            text: text.to_owned(),
            segment: fault.segment,
            span: fault.start..fault.end,
            value: None,
        }
    }

    pub(crate) fn bad_value(
        template: &str,
        segment: usize,
        param: &str,
        value: &str,
        fault: Fault,
    ) -> Self {
        RouteError {
            syntax: Syntax::Template,
            kind: fault.kind,
            text: template.to_owned(),
            segment,
            span: fault.start..fault.end,
            value: Some((param.to_owned(), value.to_owned())),
        }
    }

    /// Why the route is invalid.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// What was being read: a concrete route, a template or a pattern.
    pub fn syntax(&self) -> Syntax {
        self.syntax
    }

    /// The text that was read (for a rendered value: the template).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The index (from 0) of the offending segment.
    pub fn segment(&self) -> usize {
        self.segment
    }

    /// The byte range of the offending text: in [`text`](Self::text), or in the value for
    /// a rendered value.
    pub fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// The offending segment's text, where there is one.
    fn segment_text(&self) -> &str {
        self.text.split('.').nth(self.segment).unwrap_or("")
    }

    fn offending(&self) -> &str {
        let src = self
            .value
            .as_ref()
            .map_or(self.text.as_str(), |(_, value)| value.as_str());
        src.get(self.span.clone()).unwrap_or("")
    }
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((param, value)) = &self.value {
            write!(
                f,
                "cannot render route `{}`: the value {value:?} of `:{param}` ",
                self.text
            )?;
            return match self.kind {
                ErrorKind::EmptyValue => f.write_str("is empty; a route segment cannot be empty"),
                ErrorKind::TooLong => write!(f, "makes the route longer than {MAX_LEN} bytes"),
                _ => write!(f, "has {:?}; {}", self.offending(), self.kind.summary()),
            };
        }
        write!(f, "invalid {} `{}`: ", self.syntax.noun(), self.text)?;
        let n = self.segment + 1;
        let seg = self.segment_text();
        let bad = self.offending();
        match self.kind {
            ErrorKind::Empty => write!(f, "a {} cannot be empty", self.syntax.noun()),
            ErrorKind::TooLong => write!(
                f,
                "{} bytes long; at most {MAX_LEN} are allowed",
                self.text.len()
            ),
            ErrorKind::TooManySegments => write!(f, "more than {MAX_SEGMENTS} segments"),
            ErrorKind::EmptySegment => write!(
                f,
                "segment {n} is empty (two dots in a row{})",
                if n == 1 { ", or a leading dot" } else { "" }
            ),
            ErrorKind::TrailingDot => f.write_str("it ends with `.`; remove the trailing dot"),
            ErrorKind::InvalidLiteral => write!(
                f,
                "segment {n} `{seg}` has {bad:?}; literal segments hold only ASCII letters, digits, `_` and `-`"
            ),
            ErrorKind::InvalidConcrete => write!(
                f,
                "segment {n} has {bad:?}; a route segment cannot hold whitespace or control characters"
            ),
            ErrorKind::ParamNotAllowed => write!(
                f,
                "segment {n} `{seg}` has `:`; a concrete route holds values, not `:params`"
            ),
            ErrorKind::WildcardNotAllowed if self.syntax == Syntax::Concrete => write!(
                f,
                "segment {n} `{seg}` has `*`; a concrete route holds values, not wildcards"
            ),
            ErrorKind::WildcardNotAllowed => write!(
                f,
                "segment {n} `{seg}` {}; command and event routes hold only literals and `:params` (`*` is for patterns)",
                if seg == "*" {
                    "is a wildcard"
                } else {
                    "has `*`"
                }
            ),
            ErrorKind::OptionalNotAllowed => write!(
                f,
                "segment {n} `{seg}` is optional; command and event routes hold only literals and `:params` (`:name?` is for patterns)"
            ),
            ErrorKind::MisplacedWildcard => write!(
                f,
                "segment {n} `{seg}`: `*` must be a whole segment (it matches one or more segments)"
            ),
            ErrorKind::FullWildcard => write!(
                f,
                "segment {n} `{seg}` has `>`; Herald patterns use `*` for one or more segments"
            ),
            ErrorKind::EmptyParamName => write!(
                f,
                "segment {n} `{seg}`: `:` must be followed by a parameter name"
            ),
            ErrorKind::InvalidParamName => write!(
                f,
                "segment {n} `{seg}`: a parameter name must be a Rust identifier (ASCII letters, digits and `_`, not starting with a digit)"
            ),
            ErrorKind::DuplicateParam => write!(
                f,
                "segment {n} `{seg}`: the parameter appears twice; each parameter may appear once"
            ),
            ErrorKind::DotInValue | ErrorKind::EmptyValue => f.write_str(self.kind.summary()),
        }
    }
}

impl std::error::Error for RouteError {}
