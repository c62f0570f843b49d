//! The DATA section of a transaction: the message dot-stuffed and ended by the lone dot.
//!
//! lettre's `AsyncSmtpConnection::message` does the same a byte at a time, pushing each onto
//! a growing buffer: at ~32 KB a digest that was most of our SMTP client's time (measured,
//! `examples/throughput.rs`). Here the lines that start with a dot are found with memchr and
//! the rest is copied whole; the section then goes out as one write through lettre's
//! `command`, which also reads the server's reply.

use std::fmt;

/// A message made ready to follow the server's 354.
pub(super) struct DataSection(String);

impl DataSection {
    /// `message` with every line that starts with `.` given a second one (RFC 5321 4.5.2),
    /// then the end of data, exactly as lettre frames it: `CRLF . CRLF` after the message.
    /// `None` for a message that is not UTF-8 (lettre's writer takes text); lettre's own
    /// framing sends those.
    pub fn new(message: &[u8]) -> Option<DataSection> {
        let message = std::str::from_utf8(message).ok()?;
        let mut out = String::with_capacity(message.len() + message.len() / 512 + 8);
        let mut rest = message;
        // A message that starts with a dot starts a line with it too.
        if rest.starts_with('.') {
            out.push('.');
        }
        while let Some(at) = memchr::memmem::find(rest.as_bytes(), b"\r\n.") {
            // Up to and with the dot, then the dot again.
            out.push_str(&rest[..at + 3]);
            out.push('.');
            rest = &rest[at + 3..];
        }
        out.push_str(rest);
        out.push_str("\r\n.\r\n");
        Some(DataSection(out))
    }
}

impl fmt::Display for DataSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::DataSection;

    fn framed(message: &str) -> String {
        DataSection::new(message.as_bytes()).unwrap().to_string()
    }

    #[test]
    fn lines_that_start_with_a_dot_get_a_second_one() {
        assert_eq!(
            framed("a\r\n.b\r\n..\r\nc"),
            "a\r\n..b\r\n...\r\nc\r\n.\r\n"
        );
        assert_eq!(framed(".start"), "..start\r\n.\r\n");
        assert_eq!(framed("\r\n.\r\n"), "\r\n..\r\n\r\n.\r\n");
        // Only at the start of a line: CRLF, not a bare LF, ends one.
        assert_eq!(framed("a.b\n.c"), "a.b\n.c\r\n.\r\n");
        assert_eq!(framed(""), "\r\n.\r\n");
    }

    /// The same bytes on the wire as lettre's own framing, for messages full of dots.
    #[test]
    fn frames_as_lettre_does() {
        let samples = [
            "Subject: x\r\n\r\n.\r\n..\r\n.a.\r\nb.\r\n.",
            "...\r\n\r\n\r\n.\r\n\r.\n.\r\r\n.",
            "no dots at all\r\n",
        ];
        for sample in samples {
            let mut lettre = Vec::new();
            let mut at_line_start = true;
            let mut after_cr = false;
            for &b in sample.as_bytes() {
                lettre.push(b);
                if b == b'.' && at_line_start {
                    lettre.push(b'.');
                }
                at_line_start = after_cr && b == b'\n';
                after_cr = b == b'\r';
            }
            lettre.extend_from_slice(b"\r\n.\r\n");
            assert_eq!(framed(sample).as_bytes(), lettre, "{sample:?}");
        }
    }
}
