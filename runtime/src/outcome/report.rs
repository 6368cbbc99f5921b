//! An error and its causes as one line. Herald's errors return their cause from
//! `source()` and leave it out of their own message (the Rust API guidelines: never
//! both); [`herald::Error`](crate::Error) shows the whole chain with this, each cause
//! once.

use std::error::Error;
use std::fmt;

/// `error: its source: that one's source`, skipping a cause whose message the text so
/// far already holds (a library that shows its source and also returns it).
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = self.0.to_string();
        f.write_str(&text)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            let message = error.to_string();
            if !message.is_empty() && !text.contains(&message) {
                write!(f, ": {message}")?;
                text.push_str(&message);
            }
            source = error.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Chain;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("middle: {0}")] // shows its source and returns it: read once
    struct Middle(#[source] std::io::Error);

    #[test]
    fn each_cause_reads_once() {
        let error = Outer(Middle(std::io::Error::other("inner")));
        assert_eq!(Chain(&error).to_string(), "outer: middle: inner");
    }
}
