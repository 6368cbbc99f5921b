//! The W3C trace context (`traceparent`).

use std::fmt;

/// A W3C trace context (`traceparent`): what a request came with, and what a command's
/// events keep (see [`Dispatch::trace_parent`](crate::Dispatch::trace_parent)), for the
/// telemetry that continues it.
///
/// ```
/// use herald::telemetry::TraceParent;
///
/// let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// let parent = TraceParent::parse(header).unwrap();
/// assert!(parent.is_sampled());
/// assert_eq!(parent.to_string(), header);
/// assert_eq!(TraceParent::parse("00-zz"), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParent {
    /// The trace's id, 16 bytes.
    pub trace_id: [u8; 16],
    /// The caller's span, 8 bytes.
    pub parent_id: [u8; 8],
    /// The trace flags (bit 0: sampled).
    pub flags: u8,
}

impl TraceParent {
    /// Reads a `traceparent` header: `00-<32 hex>-<16 hex>-<2 hex>`; `None` for anything
    /// else (as the W3C spec says, a bad header is ignored, not an error).
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('-');
        let (version, trace, parent, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version.len() != 2 || version == "ff" || (version == "00" && parts.next().is_some()) {
            return None;
        }
        let mut version_byte = [0; 1];
        hex(version, &mut version_byte)?;
        let mut trace_id = [0; 16];
        let mut parent_id = [0; 8];
        let mut flag = [0; 1];
        hex(trace, &mut trace_id)?;
        hex(parent, &mut parent_id)?;
        hex(flags, &mut flag)?;
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(TraceParent {
            trace_id,
            parent_id,
            flags: flag[0],
        })
    }

    /// Whether the caller sampled the trace (flag bit 0).
    pub fn is_sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The trace's id as 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> String {
        hex_text(&self.trace_id)
    }

    /// The caller's span as 16 lowercase hex digits.
    pub fn parent_id_hex(&self) -> String {
        hex_text(&self.parent_id)
    }
}

/// The `traceparent` header: `00-<trace id>-<parent id>-<flags>`.
impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            self.trace_id_hex(),
            self.parent_id_hex(),
            self.flags
        )
    }
}

fn hex(text: &str, out: &mut [u8]) -> Option<()> {
    let bytes = text.as_bytes();
    if bytes.len() != out.len() * 2 {
        return None;
    }
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    for (i, pair) in bytes.chunks(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(())
}

fn hex_text(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        text.push(char::from(DIGITS[usize::from(b >> 4)]));
        text.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::TraceParent;

    #[test]
    fn reads_a_traceparent_and_ignores_a_bad_one() {
        let parent =
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(parent.trace_id[0], 0x4b);
        assert_eq!(parent.parent_id[7], 0xb7);
        assert_eq!(parent.flags, 1);
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
    }
}
