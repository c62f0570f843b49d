//! The email as it goes out: headers and the multipart/alternative shape, as bytes ready for
//! the outbox. Built once when a digest is composed, so every retry sends identical bytes.

use std::time::SystemTime;

use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};

use crate::dkim::DkimSigner;
use crate::render::Rendered;

#[derive(Debug, thiserror::Error)]
#[error("cannot build the message: {0}")]
pub struct MessageError(#[from] lettre::error::Error);

pub struct Headers<'a> {
    pub from: &'a Mailbox,
    pub to: Mailbox,
    pub message_id: &'a str,
    pub date: SystemTime,
    /// `[mail] unsubscribe`: a `mailto:` (or, without `[web]`, an `https:`) address.
    pub unsubscribe: Option<&'a str>,
    /// The subscriber's one-click unsubscribe URL when `[web]` is set (RFC 8058).
    pub one_click: Option<&'a str>,
}

/// The bytes of a multipart/alternative message: text first, HTML last (the preferred part
/// goes last, RFC 2046 §5.1.4); with a DKIM-Signature when `dkim` signs for the sender.
pub fn build(
    headers: &Headers<'_>,
    rendered: &Rendered,
    dkim: Option<&DkimSigner>,
) -> Result<Vec<u8>, MessageError> {
    // lettre panics formatting a display name with a line break, and a break in any header
    // value is an injection attempt: both become spaces here, at the header boundary.
    let to = Mailbox::new(
        headers.to.name.as_deref().map(single_line),
        headers.to.email.clone(),
    );
    let mut builder = lettre::Message::builder()
        .from(headers.from.clone())
        .to(to)
        .subject(single_line(&rendered.subject))
        .date(headers.date)
        .message_id(Some(headers.message_id.to_string()));
    // Mail clients group and filter by List-Id, and Auto-Submitted keeps autoresponders
    // (vacation replies) from answering a digest (RFC 2919, RFC 3834).
    builder = builder
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Id"),
            format!("<paperboy.{}>", headers.from.email.domain()),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".to_string(),
        ));
    // The one-click URL first; mail clients that cannot POST fall back to the mailto.
    let targets: Vec<String> = (headers.one_click.iter())
        .chain(&headers.unsubscribe)
        .map(|target| format!("<{target}>"))
        .collect();
    if !targets.is_empty() {
        builder = builder.raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe"),
            targets.join(", "),
        ));
    }
    if headers.one_click.is_some() {
        // Tells the mail client that a POST to the https target unsubscribes at once, so it
        // may offer its own button (RFC 8058 §3.1).
        builder = builder.raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
            "List-Unsubscribe=One-Click".to_string(),
        ));
    }
    let mut message = builder.multipart(
        MultiPart::alternative()
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(body(&rendered.text)),
            )
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(body(&rendered.html)),
            ),
    )?;
    // Signed here, once: the outbox keeps these bytes, so every retry sends the same valid
    // signature.
    if let Some(signer) = dkim {
        signer.sign(&mut message);
    }
    Ok(message.formatted())
}

/// A part's body, line endings made CRLF, in the lightest transfer encoding that carries it:
/// as it is (7bit) when it is ASCII with no line over RFC 5322's 998 characters, which the
/// HTML part is (see `render::ascii_html`); otherwise as lettre's `Body::new` would encode a
/// `String` (quoted-printable, or base64 where that is shorter). lettre itself sends ASCII
/// as 7bit only with lines under 76 characters, so a digest's HTML, whose inline styles make
/// long lines, went out quoted-printable. lettre also makes the line endings CRLF by
/// inserting each `\r` into the string, a copy of the rest of the body per line.
fn body(text: &str) -> Body {
    use email_encoding::body::Encoding;
    let (crlf, longest_line) = crlf_line_endings(text);
    if longest_line <= MAX_LINE && crlf.is_ascii() {
        return Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::SevenBit);
    }
    match Encoding::choose(text, false) {
        Encoding::SevenBit => {
            Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::SevenBit)
        }
        // Not chosen without SMTPUTF8 support (`false` above), but kept whole.
        Encoding::EightBit => {
            Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::EightBit)
        }
        Encoding::QuotedPrintable => Body::dangerous_pre_encoded(
            quoted_printable::encode(crlf),
            ContentTransferEncoding::QuotedPrintable,
        ),
        Encoding::Base64 => {
            let mut out =
                String::with_capacity(email_encoding::body::base64::encoded_len(crlf.len()));
            // Writing into a String cannot fail.
            let _ = email_encoding::body::base64::encode(crlf.as_bytes(), &mut out);
            Body::dangerous_pre_encoded(out.into_bytes(), ContentTransferEncoding::Base64)
        }
    }
}

/// The longest line a message may carry, CRLF aside (RFC 5322, section 2.1.1).
const MAX_LINE: usize = 998;

/// `text` with every bare `\n` made `\r\n` (a `\r\n` stays as it is), and the length
/// of its longest line, line break aside.
fn crlf_line_endings(text: &str) -> (String, usize) {
    let mut out = String::with_capacity(text.len() + text.len() / 32);
    let mut longest = 0;
    let mut rest = text;
    while let Some(at) = memchr::memchr(b'\n', rest.as_bytes()) {
        let line = &rest[..at];
        let line = line.strip_suffix('\r').unwrap_or(line);
        out.push_str(line);
        out.push_str("\r\n");
        longest = longest.max(line.len());
        rest = &rest[at + 1..];
    }
    longest = longest.max(rest.len());
    out.push_str(rest);
    (out, longest)
}

/// `text` with every control character (CR and LF among them) turned into a space.
fn single_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A Message-ID that is the same for every attempt at one digest and unique across digests:
/// the subscriber and slot identify a digest.
pub fn message_id(subscriber: &str, slot_millis: i64, from: &Mailbox) -> String {
    // FNV-1a: short, stable across releases, and enough to keep ids apart.
    let hash = subscriber.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("<digest.{slot_millis}.{hash:016x}@{}>", from.email.domain())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_multipart_alternative_message_with_every_header() {
        let from: Mailbox = "Paperboy <papers@example.org>".parse().unwrap();
        let rendered = Rendered {
            subject: "3 new papers for you · Thu 26 Nov 2026".into(),
            html: "<p>hi</p>".into(),
            text: "hi".into(),
        };
        let id = message_id("alice@example.org", 1_700_000_000_000, &from);
        let bytes = build(
            &Headers {
                from: &from,
                to: "Alice <alice@example.org>".parse().unwrap(),
                message_id: &id,
                date: SystemTime::now(),
                unsubscribe: Some("mailto:admin@example.org?subject=unsubscribe"),
                one_click: None,
            },
            &rendered,
            None,
        )
        .unwrap();
        let text = String::from_utf8(bytes).unwrap();
        for header in [
            "From: Paperboy <papers@example.org>",
            "To: Alice <alice@example.org>",
            "Date: ",
            "Subject: ",
        ] {
            assert!(text.contains(header), "{header} in {text}");
        }
        assert!(text.contains(&format!("Message-ID: {id}")));
        assert!(
            text.contains("List-Unsubscribe: <mailto:admin@example.org?subject=unsubscribe>\r\n")
        );
        assert!(
            !text.contains("List-Unsubscribe-Post"),
            "no one-click without [web]"
        );
        assert!(text.contains("List-Id: <paperboy.example.org>"), "{text}");
        assert!(text.contains("Auto-Submitted: auto-generated"), "{text}");
        assert!(text.contains("Content-Type: multipart/alternative"));
        let plain = text.find("Content-Type: text/plain").unwrap();
        let html = text.find("Content-Type: text/html").unwrap();
        assert!(plain < html, "text part first");
        assert!(id.starts_with("<digest.1700000000000.") && id.ends_with("@example.org>"));
        assert_ne!(id, message_id("bob@example.org", 1_700_000_000_000, &from));
    }

    #[test]
    fn bodies_lettre_would_encode_are_encoded_byte_for_byte_as_lettre_encodes_them() {
        let long = "word ".repeat(40);
        let cases = [
            String::new(),
            "short ascii\nlines\n".to_string(),
            "\nstarts with a break\r\nand has a CRLF\n\n".to_string(),
            "non-ASCII · café\u{a0}[1]\nline".to_string(),
            format!("<p>{long}</p>\n<p>é = ü</p>\r\n"),
            // Mostly bytes that need escaping: base64 is shorter.
            "ÅÄÖ€ÅÄÖ€ÅÄÖ€\n".repeat(10),
            format!("exactly 75: {}\n", "x".repeat(63)),
            format!("ASCII but a line of 999: {}\n", "x".repeat(974)),
        ];
        for text in cases {
            let ours = body(&text);
            let lettres = Body::new(text.clone());
            assert_eq!(ours.encoding(), lettres.encoding(), "{text:?}");
            assert_eq!(ours.into_vec(), lettres.into_vec(), "{text:?}");
        }
    }

    #[test]
    fn ascii_with_lines_up_to_998_characters_goes_as_it_is() {
        for text in [
            format!("a long ascii line: {}\nand a short one", "word ".repeat(40)),
            format!("exactly 998: {}\r\n", "x".repeat(985)),
        ] {
            let body = body(&text);
            assert_eq!(body.encoding(), ContentTransferEncoding::SevenBit);
            assert_eq!(body.into_vec(), crlf_line_endings(&text).0.into_bytes());
        }
    }

    #[test]
    fn line_breaks_in_header_values_cannot_add_headers() {
        let from: Mailbox = "Paperboy <papers@example.org>".parse().unwrap();
        let to = Mailbox::new(
            Some("Eve\r\nBcc: victim@example.org".into()),
            "eve@example.org".parse().unwrap(),
        );
        let rendered = Rendered {
            subject: "Hello\r\nBcc: victim@example.org".into(),
            html: String::new(),
            text: String::new(),
        };
        let bytes = build(
            &Headers {
                from: &from,
                to,
                message_id: "<x@example.org>",
                date: SystemTime::now(),
                unsubscribe: None,
                one_click: None,
            },
            &rendered,
            None,
        )
        .unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let head = &text[..text.find("\r\n\r\n").unwrap()];
        assert!(
            !head
                .lines()
                .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
            "{head}"
        );
    }

    #[test]
    fn a_one_click_url_comes_first_beside_the_mailto_with_list_unsubscribe_post() {
        let from: Mailbox = "Paperboy <papers@example.org>".parse().unwrap();
        let rendered = Rendered {
            subject: "s".into(),
            html: String::new(),
            text: String::new(),
        };
        let url = "https://papers.example.org/unsubscribe?u=alice%40example.org&t=00ff";
        let build_with = |unsubscribe| {
            let bytes = build(
                &Headers {
                    from: &from,
                    to: "alice@example.org".parse().unwrap(),
                    message_id: "<x@example.org>",
                    date: SystemTime::now(),
                    unsubscribe,
                    one_click: Some(url),
                },
                &rendered,
                None,
            )
            .unwrap();
            let parsed = mailparse::parse_mail(&bytes).unwrap();
            let header = |name| {
                use mailparse::MailHeaderMap;
                parsed.headers.get_first_value(name)
            };
            (header("List-Unsubscribe"), header("List-Unsubscribe-Post"))
        };
        assert_eq!(
            build_with(Some("mailto:admin@example.org")),
            (
                Some(format!("<{url}>, <mailto:admin@example.org>")),
                Some("List-Unsubscribe=One-Click".to_string())
            )
        );
        assert_eq!(build_with(None).0, Some(format!("<{url}>")));
    }
}
