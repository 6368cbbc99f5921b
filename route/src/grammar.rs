//! The route grammar, written once as `const fn` so that the proc macros (at expansion
//! time), the `const` assertions they emit (at compile time) and the runtime all parse
//! routes with the same code.

use crate::error::{ErrorKind, Syntax};

/// At most this many segments in any route, template or pattern.
pub const MAX_SEGMENTS: usize = 32;
/// At most this many bytes in any route, template or pattern.
pub const MAX_LEN: usize = 1024;

/// The kind of one segment of a template or pattern (a concrete segment is a `Literal`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SegmentKind {
    /// `name`: that segment, exactly.
    Literal,
    /// `:name`: exactly one segment.
    Param,
    /// `:name?`: zero or one segment.
    OptionalParam,
    /// `*`: one or more segments.
    Wildcard,
}

/// One segment: its kind and the byte span of its whole text (`:name?` included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Seg {
    pub(crate) kind: SegmentKind,
    pub(crate) start: u16,
    pub(crate) end: u16,
}

impl Seg {
    const EMPTY: Seg = Seg {
        kind: SegmentKind::Literal,
        start: 0,
        end: 0,
    };

    /// The byte span of a parameter's name (`user_id` in `:user_id?`).
    pub(crate) const fn name_span(&self) -> (usize, usize) {
        let end = match self.kind {
            SegmentKind::OptionalParam => self.end as usize - 1,
            _ => self.end as usize,
        };
        (self.start as usize + 1, end)
    }
}

/// The segments of a parsed route; fixed size so that it can be built in `const` context.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Segs {
    pub(crate) segs: [Seg; MAX_SEGMENTS],
    pub(crate) len: usize,
}

impl Segs {
    pub(crate) const fn get(&self, i: usize) -> Seg {
        self.segs[i]
    }
}

/// Where parsing failed: what, in which segment (0-based) and at which bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fault {
    pub(crate) kind: ErrorKind,
    pub(crate) segment: usize,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

const fn fault(kind: ErrorKind, segment: usize, start: usize, end: usize) -> Fault {
    Fault {
        kind,
        segment,
        start,
        end,
    }
}

/// Splits and checks `src` as `syntax`.
pub(crate) const fn parse(src: &str, syntax: Syntax) -> Result<Segs, Fault> {
    let b = src.as_bytes();
    if b.is_empty() {
        return Err(fault(ErrorKind::Empty, 0, 0, 0));
    }
    if b.len() > MAX_LEN {
        return Err(fault(ErrorKind::TooLong, 0, 0, b.len()));
    }
    let mut out = Segs {
        segs: [Seg::EMPTY; MAX_SEGMENTS],
        len: 0,
    };
    let mut start = 0;
    let mut i = 0;
    while i <= b.len() {
        if i == b.len() || b[i] == b'.' {
            if out.len == MAX_SEGMENTS {
                return Err(fault(ErrorKind::TooManySegments, out.len, start, b.len()));
            }
            let seg = match segment(b, start, i, out.len, syntax) {
                Ok(seg) => seg,
                Err(f) => return Err(f),
            };
            if let Err(f) = check_unique_param(b, &out, seg) {
                return Err(f);
            }
            out.segs[out.len] = seg;
            out.len += 1;
            start = i + 1;
        }
        i += 1;
    }
    Ok(out)
}

/// Checks one segment `b[start..end]`, the `index`th (0-based).
const fn segment(
    b: &[u8],
    start: usize,
    end: usize,
    index: usize,
    syntax: Syntax,
) -> Result<Seg, Fault> {
    if start == end {
        let kind = if end == b.len() && index > 0 {
            ErrorKind::TrailingDot
        } else {
            ErrorKind::EmptySegment
        };
        return Err(fault(kind, index, start, end));
    }
    if let Syntax::Concrete = syntax {
        return match concrete_fault(b, start, end) {
            Some((kind, at, to)) => Err(fault(kind, index, at, to)),
            None => Ok(seg(start, end, SegmentKind::Literal)),
        };
    }
    match b[start] {
        b'*' if end - start == 1 => match syntax {
            Syntax::Pattern => Ok(seg(start, end, SegmentKind::Wildcard)),
            _ => Err(fault(ErrorKind::WildcardNotAllowed, index, start, end)),
        },
        b':' => {
            let optional = b[end - 1] == b'?';
            let name_end = if optional { end - 1 } else { end };
            if let Some(at) = ident_fault(b, start + 1, name_end) {
                let kind = if name_end == start + 1 {
                    ErrorKind::EmptyParamName
                } else {
                    ErrorKind::InvalidParamName
                };
                return Err(fault(
                    kind,
                    index,
                    at,
                    if at < name_end { at + 1 } else { end },
                ));
            }
            match (optional, syntax) {
                (false, _) => Ok(seg(start, end, SegmentKind::Param)),
                (true, Syntax::Pattern) => Ok(seg(start, end, SegmentKind::OptionalParam)),
                (true, _) => Err(fault(ErrorKind::OptionalNotAllowed, index, start, end)),
            }
        }
        _ => {
            let mut i = start;
            while i < end {
                let c = b[i];
                if !(c.is_ascii_alphanumeric() || c == b'_' || c == b'-') {
                    let kind = match (c, syntax) {
                        (b'*', Syntax::Pattern) => ErrorKind::MisplacedWildcard,
                        (b'*', _) => ErrorKind::WildcardNotAllowed,
                        (b'>', _) => ErrorKind::FullWildcard,
                        _ => ErrorKind::InvalidLiteral,
                    };
                    return Err(fault(kind, index, i, i + utf8_width(c)));
                }
                i += 1;
            }
            Ok(seg(start, end, SegmentKind::Literal))
        }
    }
}

const fn seg(start: usize, end: usize, kind: SegmentKind) -> Seg {
    Seg {
        kind,
        start: start as u16,
        end: end as u16,
    }
}

/// The first byte of `b[start..end]` that breaks identifier rules, or `None`.
/// An empty name or a lone `_` reports `end`.
const fn ident_fault(b: &[u8], start: usize, end: usize) -> Option<usize> {
    if start == end || (end - start == 1 && b[start] == b'_') {
        return Some(end);
    }
    let mut i = start;
    while i < end {
        let c = b[i];
        let ok = c == b'_' || c.is_ascii_alphabetic() || (i > start && c.is_ascii_digit());
        if !ok {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// What is wrong with a concrete segment, if anything: `*`, `:`, `>`, whitespace or a
/// control character.
pub(crate) const fn concrete_fault(
    b: &[u8],
    start: usize,
    end: usize,
) -> Option<(ErrorKind, usize, usize)> {
    let mut i = start;
    while i < end {
        let (c, width) = decode_utf8(b, i);
        let kind = match c {
            '*' => Some(ErrorKind::WildcardNotAllowed),
            ':' => Some(ErrorKind::ParamNotAllowed),
            '.' => Some(ErrorKind::DotInValue),
            '>' => Some(ErrorKind::FullWildcard),
            _ if c.is_whitespace() || is_control(c) => Some(ErrorKind::InvalidConcrete),
            _ => None,
        };
        if let Some(kind) = kind {
            return Some((kind, i, i + width));
        }
        i += width;
    }
    None
}

const fn check_unique_param(b: &[u8], earlier: &Segs, seg: Seg) -> Result<(), Fault> {
    if !is_param(seg.kind) {
        return Ok(());
    }
    let mut i = 0;
    while i < earlier.len {
        let other = earlier.segs[i];
        if is_param(other.kind) && bytes_eq(b, other.name_span(), b, seg.name_span()) {
            return Err(fault(
                ErrorKind::DuplicateParam,
                earlier.len,
                seg.start as usize,
                seg.end as usize,
            ));
        }
        i += 1;
    }
    Ok(())
}

pub(crate) const fn is_param(kind: SegmentKind) -> bool {
    matches!(kind, SegmentKind::Param | SegmentKind::OptionalParam)
}

/// `a[sa.0..sa.1] == b[sb.0..sb.1]`.
pub(crate) const fn bytes_eq(a: &[u8], sa: (usize, usize), b: &[u8], sb: (usize, usize)) -> bool {
    if sa.1 - sa.0 != sb.1 - sb.0 {
        return false;
    }
    let mut i = 0;
    while i < sa.1 - sa.0 {
        if a[sa.0 + i] != b[sb.0 + i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn is_control(c: char) -> bool {
    matches!(c as u32, 0..=0x1f | 0x7f..=0x9f)
}

const fn utf8_width(first: u8) -> usize {
    match first {
        0..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

/// Decodes the char starting at `b[i]` (`b` is valid UTF-8: it came from a `&str`).
const fn decode_utf8(b: &[u8], i: usize) -> (char, usize) {
    let width = utf8_width(b[i]);
    let mut code = match width {
        1 => b[i] as u32,
        2 => (b[i] & 0x1f) as u32,
        3 => (b[i] & 0x0f) as u32,
        _ => (b[i] & 0x07) as u32,
    };
    let mut k = 1;
    while k < width {
        code = (code << 6) | (b[i + k] & 0x3f) as u32;
        k += 1;
    }
    match char::from_u32(code) {
        Some(c) => (c, width),
        None => (char::REPLACEMENT_CHARACTER, width),
    }
}
