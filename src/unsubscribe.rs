//! One-click unsubscribe links (RFC 8058): each address signed with the `[web]` secret, so
//! that the link in a digest unsubscribes its recipient and nobody else, with no login.
//!
//! Pure: the digest puts the link in its headers and footer, the `web` listener checks it.

use std::fmt;

use ring::hmac;

/// The path the listener serves, below `[web] base_url`.
pub const PATH: &str = "/unsubscribe";

/// What the signature covers besides the address, so a signature made with this secret for
/// anything else Paperboy may sign later can never pass for an unsubscribe link.
const PURPOSE: &[u8] = b"paperboy unsubscribe v1\0";

/// The key that signs and checks the links, made from `[web] secret_file`.
#[derive(Clone)]
pub struct UnsubscribeKey(hmac::Key);

impl fmt::Debug for UnsubscribeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnsubscribeKey(***)")
    }
}

impl UnsubscribeKey {
    pub fn new(secret: &[u8]) -> UnsubscribeKey {
        UnsubscribeKey(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// The token for `address`: HMAC-SHA256 of its normalised form, in lower-case hex.
    pub fn token(&self, address: &str) -> String {
        let tag = hmac::sign(&self.0, &message(address));
        tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether `token` is the token for `address`, compared in constant time: a forger timing
    /// the answers learns nothing about the right token.
    pub fn verify(&self, address: &str, token: &str) -> bool {
        let Some(tag) = from_hex(token) else {
            return false;
        };
        hmac::verify(&self.0, &message(address), &tag).is_ok()
    }
}

/// An address as the state and the signature know it: in lower case, as a subscriber's key.
pub fn normalize(address: &str) -> String {
    address.trim().to_lowercase()
}

fn message(address: &str) -> Vec<u8> {
    let mut message = PURPOSE.to_vec();
    message.extend_from_slice(normalize(address).as_bytes());
    message
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    // An HMAC-SHA256 tag is 32 bytes; anything longer is not worth decoding.
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// The page that unsubscribes `address`: `{base_url}/unsubscribe?u=<address>&t=<token>`.
/// Mail clients POST to it (List-Unsubscribe-Post); a browser GETs a page with a button.
pub fn page_url(base_url: &str, key: &UnsubscribeKey, address: &str) -> String {
    let address = normalize(address);
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("u", &address)
        .append_pair("t", &key.token(&address))
        .finish();
    format!("{}{PATH}?{query}", base_url.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_token_verifies_for_its_address_in_any_case_and_for_no_other() {
        let key = UnsubscribeKey::new(SECRET);
        let token = key.token("alice@example.org");
        assert_eq!(token.len(), 64);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(key.verify("alice@example.org", &token));
        assert!(key.verify("Alice@Example.ORG", &token), "normalised");
        assert_eq!(key.token("ALICE@example.org"), token);
        assert!(!key.verify("bob@example.org", &token), "another address");
        assert!(!key.verify("alice@example.org", &key.token("bob@example.org")));
    }

    #[test]
    fn a_forged_or_malformed_token_fails() {
        let key = UnsubscribeKey::new(SECRET);
        let token = key.token("alice@example.org");
        let other_secret = UnsubscribeKey::new(b"another secret of thirty-two chars!");
        assert!(!key.verify(
            "alice@example.org",
            &other_secret.token("alice@example.org")
        ));
        // One digit changed.
        let mut flipped = token.clone().into_bytes();
        flipped[10] = if flipped[10] == b'0' { b'1' } else { b'0' };
        assert!(!key.verify("alice@example.org", std::str::from_utf8(&flipped).unwrap()));
        for bad in [
            "",
            "zz",
            &token[..62],
            &format!("{token}00"),
            &"é".repeat(32),
        ] {
            assert!(!key.verify("alice@example.org", bad), "{bad:?}");
        }
        // Upper-case hex is the same bytes.
        assert!(key.verify("alice@example.org", &token.to_uppercase()));
    }

    #[test]
    fn the_page_url_carries_the_encoded_address_and_its_token() {
        let key = UnsubscribeKey::new(SECRET);
        let url = page_url("https://papers.example.org/", &key, "Bob+Lists@Example.org");
        let token = key.token("bob+lists@example.org");
        assert_eq!(
            url,
            format!("https://papers.example.org/unsubscribe?u=bob%2Blists%40example.org&t={token}")
        );
    }
}
