//! The matcher: one backtracking search with a failure memo, `const` so that the compiler
//! can run it for the assertions handler macros emit. The memo keeps it polynomial: a
//! (pattern element, route segment) pair that failed once is never searched again.

use crate::Syntax;
use crate::grammar::{self, MAX_SEGMENTS, SegmentKind, Segs};

/// Which route segments each pattern element took: `(start, end)` segment indices.
pub(crate) type Assignment = [(u8, u8); MAX_SEGMENTS];

/// What the pattern is matched against.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// A concrete route: literals compare byte for byte.
    Concrete,
    /// A route template: its `:params` stand for any one segment, so they match any literal.
    Template,
}

/// The split of `route` over `pattern`, preferring earlier elements that take as much as
/// they can (`*` greedy, `:name?` present), or `None` when the pattern does not match.
pub(crate) const fn find(
    p: &[u8],
    ps: &Segs,
    r: &[u8],
    rs: &Segs,
    target: Target,
) -> Option<Assignment> {
    let mut search = Search {
        p,
        ps,
        r,
        rs,
        target,
        assign: [(0, 0); MAX_SEGMENTS],
        failed: [0; MAX_SEGMENTS + 1],
    };
    if search.step(0, 0) {
        Some(search.assign)
    } else {
        None
    }
}

struct Search<'a> {
    p: &'a [u8],
    ps: &'a Segs,
    r: &'a [u8],
    rs: &'a Segs,
    target: Target,
    assign: Assignment,
    /// Bit `ri` of `failed[pi]`: element `pi` cannot start at route segment `ri`.
    failed: [u64; MAX_SEGMENTS + 1],
}

impl Search<'_> {
    const fn step(&mut self, pi: usize, ri: usize) -> bool {
        if pi == self.ps.len {
            return ri == self.rs.len;
        }
        if self.failed[pi] & (1 << ri) != 0 {
            return false;
        }
        let left = self.rs.len - ri;
        let found = match self.ps.get(pi).kind {
            SegmentKind::Literal => {
                left > 0 && self.literal_matches(pi, ri) && self.take(pi, ri, ri + 1)
            }
            SegmentKind::Param => left > 0 && self.take(pi, ri, ri + 1),
            SegmentKind::OptionalParam => {
                (left > 0 && self.take(pi, ri, ri + 1)) || self.take(pi, ri, ri)
            }
            SegmentKind::Wildcard => {
                let mut end = self.rs.len;
                let mut found = false;
                while end > ri && !found {
                    found = self.take(pi, ri, end);
                    end -= 1;
                }
                found
            }
        };
        if !found {
            self.failed[pi] |= 1 << ri;
        }
        found
    }

    /// Element `pi` takes route segments `start..end`; does the rest match from `end`?
    const fn take(&mut self, pi: usize, start: usize, end: usize) -> bool {
        self.assign[pi] = (start as u8, end as u8);
        self.step(pi + 1, end)
    }

    const fn literal_matches(&self, pi: usize, ri: usize) -> bool {
        let (lit, seg) = (self.ps.get(pi), self.rs.get(ri));
        if let (Target::Template, SegmentKind::Param) = (self.target, seg.kind) {
            return true; // the parameter can be filled with this literal
        }
        grammar::bytes_eq(
            self.p,
            (lit.start as usize, lit.end as usize),
            self.r,
            (seg.start as usize, seg.end as usize),
        )
    }
}

/// Whether `pattern` can match some concrete route rendered from `template`: literal
/// against literal, literal against `:param`, `*` spanning segments. `false` when either
/// does not parse.
///
/// ```
/// use herald_route::can_match;
/// assert!(can_match("user.*", "user.:user_id.created"));
/// assert!(can_match("user.42.created", "user.:user_id.created"));
/// assert!(!can_match("user.:id.deleted", "user.:user_id.created"));
/// ```
pub const fn can_match(pattern: &str, template: &str) -> bool {
    let (Ok(ps), Ok(ts)) = (
        grammar::parse(pattern, Syntax::Pattern),
        grammar::parse(template, Syntax::Template),
    ) else {
        return false;
    };
    find(
        pattern.as_bytes(),
        &ps,
        template.as_bytes(),
        &ts,
        Target::Template,
    )
    .is_some()
}

/// Fails const evaluation unless `pattern` can match a route of one of `templates`, the
/// route templates of the type named `type_name`. Handler macros emit it as
/// `const _: () = assert_can_match(…);`, so a handler that could never run is a compile
/// error whose message names the pattern, the type and its routes.
pub const fn assert_can_match(pattern: &str, type_name: &str, templates: &[&str]) {
    if grammar::parse(pattern, Syntax::Pattern).is_err() {
        let mut msg = Message::new();
        msg.push("invalid route pattern `").push(pattern).push("`");
        panic!("{}", msg.as_str());
    }
    let mut i = 0;
    while i < templates.len() {
        if can_match(pattern, templates[i]) {
            return;
        }
        i += 1;
    }
    let mut msg = Message::new();
    msg.push("pattern `")
        .push(pattern)
        .push("` can never match `")
        .push(type_name);
    msg.push(if templates.len() == 1 {
        "`, whose route is "
    } else {
        "`, whose routes are "
    });
    let mut i = 0;
    while i < templates.len() {
        if i > 0 {
            msg.push(", ");
        }
        msg.push("`").push(templates[i]).push("`");
        i += 1;
    }
    if templates.is_empty() {
        msg.push("(none)");
    }
    msg.push("; change the pattern or the handler's type");
    panic!("{}", msg.as_str());
}

/// A message built at compile time: a const panic takes one `&str`.
pub(crate) struct Message {
    buf: [u8; 2048],
    len: usize,
    full: bool,
}

impl Message {
    const ELLIPSIS: &[u8] = "…".as_bytes();

    pub(crate) const fn new() -> Self {
        Message {
            buf: [0; 2048],
            len: 0,
            full: false,
        }
    }

    /// Appends `s`; when it does not fit, cuts it at a char boundary and ends with `…`.
    pub(crate) const fn push(&mut self, s: &str) -> &mut Self {
        if self.full {
            return self;
        }
        let b = s.as_bytes();
        let room = self.buf.len() - Self::ELLIPSIS.len() - self.len;
        let mut take = b.len();
        if take > room {
            take = room;
            while take > 0 && (b[take] & 0xc0) == 0x80 {
                take -= 1;
            }
            self.full = true;
        }
        self.copy(b, take);
        if self.full {
            self.copy(Self::ELLIPSIS, Self::ELLIPSIS.len());
        }
        self
    }

    const fn copy(&mut self, b: &[u8], n: usize) {
        let mut i = 0;
        while i < n {
            self.buf[self.len] = b[i];
            self.len += 1;
            i += 1;
        }
    }

    pub(crate) const fn as_str(&self) -> &str {
        match core::str::from_utf8(self.buf.split_at(self.len).0) {
            Ok(s) => s,
            Err(_) => "route error (message not UTF-8)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_cuts_on_char_boundary() {
        let mut msg = Message::new();
        for _ in 0..1100 {
            msg.push("é");
        }
        let s = msg.as_str();
        assert!(s.ends_with('…'));
        assert!(s.len() <= 2048);
    }

    #[test]
    fn template_params_match_literals_and_wildcards_span() {
        assert!(can_match("user.:id.created", "user.:user_id.created"));
        assert!(can_match("*.created", "user.:user_id.created"));
        assert!(can_match("user.:id?.created", "user.created"));
        assert!(can_match("user.:id?.:x.created", "user.:a.created"));
        assert!(!can_match("user.:id.created", "user.created"));
        assert!(!can_match("account.*", "user.:user_id.created"));
        assert!(!can_match("user.:id.created.*", "user.:user_id.created"));
        assert!(!can_match("user..created", "user.:user_id.created"));
    }
}
