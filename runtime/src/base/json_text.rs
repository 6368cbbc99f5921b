//! JSON text written by hand, for the documents written once or more per command: its
//! stored result with its trace, and what the HTTP door answers with (a command's
//! result, its events). `serde_json` escapes each key and each value byte by byte
//! through its `Serializer`, which cost a tenth of a dispatch on the memory store, and
//! a `serde_json::Value` built to be written allocates every key; here keys are literals
//! and a value is copied whole unless it holds a byte to escape. What it writes is what
//! `serde_json` writes for the same value (compact, the same escapes); the tests of its
//! users compare the two.

use serde::Serialize;
use uuid::Uuid;

/// A JSON document being written: objects, arrays and values in order, commas placed.
pub(crate) struct JsonText {
    out: String,
    /// Whether the next value follows another at its level.
    after_value: bool,
}

impl JsonText {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        JsonText {
            out: String::with_capacity(capacity),
            after_value: false,
        }
    }

    /// The text written.
    pub(crate) fn into_string(self) -> String {
        self.out
    }

    fn separate(&mut self) {
        if self.after_value {
            self.out.push(',');
        }
    }

    fn open(&mut self, bracket: char) -> &mut Self {
        self.separate();
        self.out.push(bracket);
        self.after_value = false;
        self
    }

    fn close(&mut self, bracket: char) -> &mut Self {
        self.out.push(bracket);
        self.after_value = true;
        self
    }

    pub(crate) fn open_object(&mut self) -> &mut Self {
        self.open('{')
    }

    pub(crate) fn close_object(&mut self) -> &mut Self {
        self.close('}')
    }

    pub(crate) fn open_array(&mut self) -> &mut Self {
        self.open('[')
    }

    pub(crate) fn close_array(&mut self) -> &mut Self {
        self.close(']')
    }

    /// An object's key, which the next value belongs to: a literal with nothing to
    /// escape.
    pub(crate) fn key(&mut self, key: &'static str) -> &mut Self {
        debug_assert!(!key.bytes().any(needs_escape), "{key:?}");
        self.separate();
        self.out.push('"');
        self.out.push_str(key);
        self.out.push_str("\":");
        self.after_value = false;
        self
    }

    pub(crate) fn string(&mut self, value: &str) -> &mut Self {
        self.separate();
        self.out.push('"');
        if value.bytes().any(needs_escape) {
            escape_into(&mut self.out, value);
        } else {
            self.out.push_str(value);
        }
        self.out.push('"');
        self.after_value = true;
        self
    }

    pub(crate) fn u64(&mut self, value: u64) -> &mut Self {
        self.separate();
        self.out.push_str(itoa::Buffer::new().format(value));
        self.after_value = true;
        self
    }

    /// A UUID as `serde` writes one for a text format: hyphenated, lower case.
    pub(crate) fn uuid(&mut self, value: Uuid) -> &mut Self {
        let mut buffer = Uuid::encode_buffer();
        self.string(value.hyphenated().encode_lower(&mut buffer))
    }

    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn bool(&mut self, value: bool) -> &mut Self {
        self.separate();
        self.out.push_str(if value { "true" } else { "false" });
        self.after_value = true;
        self
    }

    /// Any value, as `serde_json` writes it (an event's payload, say), straight into the
    /// text.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn serialized(&mut self, value: &impl Serialize) -> &mut Self {
        self.separate();
        let start = self.out.len();
        if serde_json::to_writer(Utf8Sink(&mut self.out), value).is_err() {
            // Never seen: serde_json writes whole UTF-8 pieces. Written again, whole.
            self.out.truncate(start);
            let whole = serde_json::to_string(value);
            self.out.push_str(whole.as_deref().unwrap_or("null"));
        }
        self.after_value = true;
        self
    }
}

/// What `serde_json` writes, appended to a `String`: each piece it writes is whole UTF-8
/// (it cuts strings only before a byte it escapes), which the sink checks.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
struct Utf8Sink<'a>(&'a mut String);

impl std::io::Write for Utf8Sink<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let text = std::str::from_utf8(bytes)
            .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidData, error))?;
        self.0.push_str(text);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether JSON needs `byte` escaped in a string (as `serde_json` escapes).
fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let byte = u32::from(c) as usize;
                out.push_str("\\u00");
                out.push(char::from(HEX[byte >> 4]));
                out.push(char::from(HEX[byte & 0xf]));
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_as_serde_json_escapes_them() {
        let every_ascii: String = (0u8..=0x7f).map(char::from).collect();
        for value in [
            "",
            "plain",
            "quote \" and backslash \\",
            "tab\tnew line\ncarriage\rfeed\u{0c}back\u{08}",
            "\u{01}\u{1f}\u{7f}",
            "non-ASCII: é ✓ 𝄞",
            every_ascii.as_str(),
        ] {
            let mut text = JsonText::with_capacity(0);
            text.string(value);
            assert_eq!(
                text.into_string(),
                serde_json::to_string(value).unwrap(),
                "{value:?}"
            );
        }
    }

    #[test]
    fn commas_separate_values_at_each_level() {
        let mut text = JsonText::with_capacity(0);
        text.open_object()
            .key("a")
            .u64(u64::MAX)
            .key("b")
            .open_array()
            .u64(0)
            .open_object()
            .close_object()
            .open_array()
            .close_array()
            .string("x")
            .close_array()
            .key("c")
            .uuid(Uuid::nil())
            .key("d")
            .bool(true)
            .key("e")
            .serialized(&serde_json::json!({"é\n": [1.5, null, "✓ \"𝄞\""]}))
            .close_object();
        let expected = serde_json::json!({
            "a": u64::MAX,
            "b": [0, {}, [], "x"],
            "c": Uuid::nil(),
            "d": true,
            "e": {"é\n": [1.5, null, "✓ \"𝄞\""]},
        });
        assert_eq!(
            text.into_string(),
            serde_json::to_string(&expected).unwrap()
        );
    }
}
