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
        let mut header = [0; HEADER_LEN];
        f.write_str(self.encode(&mut header))
    }
}

/// The length of a `traceparent` header of version `00`.
const HEADER_LEN: usize = 2 + 1 + 32 + 1 + 16 + 1 + 2;

impl TraceParent {
    /// The header written into `out`, without the formatting machinery: a dispatch with
    /// telemetry on stores one with each command (see `telemetry::context_of`), and
    /// `write!` with a `String` per id cost several times this.
    fn encode<'a>(&self, out: &'a mut [u8; HEADER_LEN]) -> &'a str {
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            out[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(b"00-");
        put(&hex_digits::<32>(&self.trace_id));
        put(b"-");
        put(&hex_digits::<16>(&self.parent_id));
        put(b"-");
        put(&hex_digits::<2>(&[self.flags]));
        std::str::from_utf8(out).expect("hex digits and dashes")
    }
}

/// The lowercase hex digits.
const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// `bytes` as `N` (twice their count) lowercase hex digits.
fn hex_digits<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut digits = [0; N];
    for (pair, b) in digits.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0xf)];
    }
    digits
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
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(TraceParent::parse(header).unwrap().to_string(), header);
        let other = TraceParent {
            trace_id: [0xf0; 16],
            parent_id: [0x0a; 8],
            flags: 0,
        };
        assert_eq!(
            other.to_string(),
            "00-f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0-0a0a0a0a0a0a0a0a-00"
        );
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
