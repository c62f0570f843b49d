//! DKIM (RFC 6376): the domain's private key, read once from the PEM file openssl writes, the
//! signature each digest carries, and the DNS record receivers check it against.
//!
//! lettre computes the signature, but takes a key only as PKCS#1 PEM (RSA) or as the base64
//! of a bare 32-byte seed (Ed25519). Today's `openssl genrsa` and `openssl genpkey` write
//! PKCS#8, so the key is parsed here and handed to lettre in the form it reads.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::HeaderName;
use rsa::RsaPrivateKey;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::der::asn1::OctetStringRef;
use rsa::pkcs8::der::zeroize::Zeroizing;
use rsa::pkcs8::der::{Decode, pem};
use rsa::pkcs8::{EncodePublicKey, LineEnding, ObjectIdentifier, PrivateKeyInfo};
use rsa::traits::PublicKeyParts;

/// The headers the signature covers, those of them a message has. A listed header that is
/// absent is signed as absent (RFC 6376 §5.4), so nobody can add it on the way either.
/// List-Unsubscribe and List-Unsubscribe-Post must be covered for one-click unsubscribe to
/// be offered (RFC 8058 §4). Content-Type is left out: lettre keeps the multipart's
/// Content-Type with the body, not among the headers it signs, and listing it would break
/// the signature.
const SIGNED_HEADERS: [&str; 8] = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

/// id-Ed25519 (RFC 8410).
const ED25519_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// Receivers ignore signatures by shorter RSA keys (RFC 8301 §3.2).
const MIN_RSA_BITS: usize = 1024;

/// Why the key file cannot sign. Each message follows `mail.dkim.private_key_file "PATH": `.
#[derive(Debug, thiserror::Error)]
pub enum DkimKeyError {
    #[error("cannot be read: {0}")]
    Read(std::io::Error),
    #[error(
        "is not a PEM private key ({0}); make one with `openssl genpkey -algorithm ed25519 -out dkim.pem`"
    )]
    NotPem(String),
    #[error(
        "is encrypted; paperboy needs it unencrypted: `openssl pkey -in FILE -out dkim.pem` asks for the passphrase once and writes it decrypted"
    )]
    Encrypted,
    #[error(
        "holds a {0:?} PEM block, not the private key DKIM signs with: an Ed25519 or RSA key (\"PRIVATE KEY\" or \"RSA PRIVATE KEY\")"
    )]
    NotAKey(String),
    #[error(
        "holds a key of algorithm {0}; DKIM signs with Ed25519 or RSA: `openssl genpkey -algorithm ed25519 -out dkim.pem`"
    )]
    Algorithm(ObjectIdentifier),
    #[error("is not a valid {what} private key: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error(
        "is a {0}-bit RSA key; receivers ignore DKIM keys under {MIN_RSA_BITS} bits (RFC 8301): make a 2048-bit one with `openssl genrsa -out dkim.pem 2048`, or an Ed25519 one"
    )]
    RsaTooShort(usize),
}

fn malformed(what: &'static str, detail: impl fmt::Display) -> DkimKeyError {
    DkimKeyError::Malformed {
        what,
        detail: detail.to_string(),
    }
}

/// A private key from a PEM file: RSA (PKCS#8 or PKCS#1) or Ed25519 (PKCS#8), told apart by
/// the key itself.
pub enum DkimKey {
    Rsa(RsaPrivateKey),
    Ed25519(ed25519_dalek::SigningKey),
}

impl DkimKey {
    pub fn load(path: &Path) -> Result<DkimKey, DkimKeyError> {
        let text = Zeroizing::new(std::fs::read(path).map_err(DkimKeyError::Read)?);
        let text = std::str::from_utf8(&text)
            .map_err(|_| DkimKeyError::NotPem("the file is not text".into()))?;
        DkimKey::from_pem(text)
    }

    pub fn from_pem(text: &str) -> Result<DkimKey, DkimKeyError> {
        // Undecoded first, so that a PEM block whose contents are not a key is told apart from
        // a file that is not PEM at all.
        let (label, der) =
            pem::decode_vec(text.as_bytes()).map_err(|e| DkimKeyError::NotPem(e.to_string()))?;
        let der = Zeroizing::new(der);
        let key = match label {
            "PRIVATE KEY" => {
                let info =
                    PrivateKeyInfo::try_from(der.as_slice()).map_err(|e| malformed("PKCS#8", e))?;
                if info.algorithm.oid == rsa::pkcs1::ALGORITHM_OID {
                    RsaPrivateKey::try_from(info)
                        .map(DkimKey::Rsa)
                        .map_err(|e| malformed("RSA", e))?
                } else if info.algorithm.oid == ED25519_OID {
                    // The PKCS#8 private key of Ed25519 is itself an OCTET STRING holding the
                    // 32-byte seed (RFC 8410 §7).
                    let seed = OctetStringRef::from_der(info.private_key)
                        .map_err(|e| malformed("Ed25519", e))?;
                    let seed: &[u8; 32] = seed.as_bytes().try_into().map_err(|_| {
                        malformed(
                            "Ed25519",
                            format!("the key is {} bytes, not 32", seed.as_bytes().len()),
                        )
                    })?;
                    DkimKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(seed))
                } else {
                    return Err(DkimKeyError::Algorithm(info.algorithm.oid));
                }
            }
            "RSA PRIVATE KEY" => RsaPrivateKey::from_pkcs1_der(der.as_slice())
                .map(DkimKey::Rsa)
                .map_err(|e| malformed("RSA", e))?,
            "ENCRYPTED PRIVATE KEY" => return Err(DkimKeyError::Encrypted),
            other => return Err(DkimKeyError::NotAKey(other.to_string())),
        };
        if let DkimKey::Rsa(rsa) = &key {
            rsa.validate().map_err(|e| malformed("RSA", e))?;
            let bits = rsa.n().bits();
            if bits < MIN_RSA_BITS {
                return Err(DkimKeyError::RsaTooShort(bits));
            }
        }
        Ok(key)
    }

    /// The key's type and size, as `check` names it: "Ed25519", "2048-bit RSA".
    pub fn describe(&self) -> String {
        match self {
            DkimKey::Rsa(key) => format!("{}-bit RSA", key.n().bits()),
            DkimKey::Ed25519(_) => "Ed25519".into(),
        }
    }

    /// The DNS TXT record value: `k=` and `p=` as RFC 6376 §3.6.1 and RFC 8463 §4 define
    /// them (for RSA the SubjectPublicKeyInfo, for Ed25519 the bare 32-byte key).
    pub fn dns_record(&self) -> Result<String, DkimKeyError> {
        let (k, p) = match self {
            DkimKey::Rsa(key) => {
                let der = key
                    .to_public_key()
                    .to_public_key_der()
                    .map_err(|e| malformed("RSA", e))?;
                ("rsa", BASE64.encode(der.as_bytes()))
            }
            DkimKey::Ed25519(key) => ("ed25519", BASE64.encode(key.verifying_key().as_bytes())),
        };
        Ok(format!("v=DKIM1; k={k}; p={p}"))
    }

    /// The key as lettre takes it.
    fn into_lettre(self) -> Result<DkimSigningKey, DkimKeyError> {
        let (text, algorithm, what) = match &self {
            DkimKey::Rsa(key) => (
                key.to_pkcs1_pem(LineEnding::LF)
                    .map_err(|e| malformed("RSA", e))?,
                DkimSigningAlgorithm::Rsa,
                "RSA",
            ),
            DkimKey::Ed25519(key) => (
                Zeroizing::new(BASE64.encode(key.to_bytes())),
                DkimSigningAlgorithm::Ed25519,
                "Ed25519",
            ),
        };
        DkimSigningKey::new(&text, algorithm).map_err(|e| malformed(what, e))
    }
}

/// Signs messages as `domain` with one key: built once when the config loads, shared by
/// every digest composed with it.
#[derive(Clone)]
pub struct DkimSigner {
    domain: String,
    selector: String,
    key_description: String,
    record: String,
    config: Arc<DkimConfig>,
}

impl DkimSigner {
    /// `domain` and `selector` must already be valid names ([`name_problem`]).
    pub fn new(domain: &str, selector: &str, key: DkimKey) -> Result<DkimSigner, DkimKeyError> {
        let record = key.dns_record()?;
        let key_description = key.describe();
        let config = DkimConfig::new(
            selector.to_string(),
            domain.to_string(),
            key.into_lettre()?,
            SIGNED_HEADERS
                .iter()
                .map(|name| HeaderName::new_from_ascii_str(name))
                .collect(),
            // Relaxed for both: header folding and trailing spaces changed by relays on the
            // way do not break the signature.
            DkimCanonicalization {
                header: DkimCanonicalizationType::Relaxed,
                body: DkimCanonicalizationType::Relaxed,
            },
        );
        Ok(DkimSigner {
            domain: domain.to_string(),
            selector: selector.to_string(),
            key_description,
            record,
            config: Arc::new(config),
        })
    }

    /// Adds the DKIM-Signature header to `message`.
    pub fn sign(&self, message: &mut lettre::Message) {
        message.sign(&self.config);
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// "Ed25519", "2048-bit RSA".
    pub fn key_description(&self) -> &str {
        &self.key_description
    }

    /// Where receivers look the key up: `{selector}._domainkey.{domain}`.
    pub fn dns_name(&self) -> String {
        format!("{}._domainkey.{}", self.selector, self.domain)
    }

    /// What to publish at [`DkimSigner::dns_name`] as a TXT record.
    pub fn dns_record(&self) -> &str {
        &self.record
    }
}

/// Never the key, not even by `{:?}`.
impl fmt::Debug for DkimSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DkimSigner")
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .field("key", &self.key_description)
            .finish_non_exhaustive()
    }
}

/// What is wrong with `name` as a DKIM domain (`at_least_two_labels`) or selector, if
/// anything. Both end up in a DNS name and in the DKIM-Signature header, so only plain
/// letters, digits and hyphens between dots pass (RFC 6376 §3.1, §3.5).
pub fn name_problem(name: &str, at_least_two_labels: bool) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".into());
    }
    if !name.is_ascii() {
        return Some("must be ASCII: write an internationalised name in its xn-- form".into());
    }
    let labels: Vec<&str> = name.split('.').collect();
    if at_least_two_labels && labels.len() < 2 {
        return Some("must be a domain name such as example.org".into());
    }
    for label in labels {
        if label.is_empty() {
            return Some("has an empty label (two dots in a row, or a dot at an end)".into());
        }
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Some("may hold only letters, digits, hyphens and dots".into());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Some("has a label that starts or ends with a hyphen".into());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str = include_str!("../tests/fixtures/dkim/ed25519.pem");
    const RSA_PKCS8: &str = include_str!("../tests/fixtures/dkim/rsa.pem");
    const RSA_PKCS1: &str = include_str!("../tests/fixtures/dkim/rsa-pkcs1.pem");

    /// The record OpenSSL worked out for each key (see tests/fixtures/dkim/README.md).
    fn openssl_record(name: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/dkim/{name}.txt",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(path)
            .unwrap()
            .trim_end()
            .to_string()
    }

    #[test]
    fn reads_each_pem_form_openssl_writes_and_gives_the_record_openssl_agrees_with() {
        for (pem, name, kind) in [
            (ED25519, "ed25519", "Ed25519"),
            (RSA_PKCS8, "rsa", "2048-bit RSA"),
            (RSA_PKCS1, "rsa-pkcs1", "2048-bit RSA"),
        ] {
            let key = DkimKey::from_pem(pem).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(key.describe(), kind);
            assert_eq!(key.dns_record().unwrap(), openssl_record(name), "{name}");
            let signer = DkimSigner::new("example.org", "paperboy", key).unwrap();
            assert_eq!(signer.dns_name(), "paperboy._domainkey.example.org");
        }
    }

    #[test]
    fn a_pkcs8_rsa_key_and_its_pkcs1_form_are_the_same_key() {
        let DkimKey::Rsa(key) = DkimKey::from_pem(RSA_PKCS8).unwrap() else {
            panic!("an RSA key")
        };
        let pkcs1 = key.to_pkcs1_pem(LineEnding::LF).unwrap();
        let again = DkimKey::from_pem(&pkcs1).unwrap();
        assert_eq!(again.dns_record().unwrap(), openssl_record("rsa"));
    }

    #[test]
    fn keys_that_cannot_sign_say_why_and_what_to_do() {
        let fixture = |name: &str| {
            std::fs::read_to_string(format!(
                "{}/tests/fixtures/dkim/{name}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
        };
        let error = |text: &str| match DkimKey::from_pem(text) {
            Ok(_) => panic!("accepted {text}"),
            Err(e) => e.to_string(),
        };
        let encrypted = error(&fixture("encrypted.pem"));
        assert!(encrypted.starts_with("is encrypted;"), "{encrypted}");
        assert!(encrypted.contains("openssl pkey"), "{encrypted}");
        let ec = error(&fixture("ec.pem"));
        assert!(ec.contains("\"EC PRIVATE KEY\" PEM block"), "{ec}");
        let public = error(&fixture("rsa.txt"));
        assert!(public.starts_with("is not a PEM private key ("), "{public}");
        assert!(
            public.contains("openssl genpkey -algorithm ed25519"),
            "{public}"
        );
        // A PEM block of the right label whose contents are not a key.
        let garbage = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let garbage = error(garbage);
        assert!(
            garbage.starts_with("is not a valid PKCS#8 private key: "),
            "{garbage}"
        );
        let short = error(&fixture("rsa-512.pem"));
        assert!(short.starts_with("is a 512-bit RSA key; "), "{short}");
        let missing = match DkimKey::load(Path::new("/nonexistent/dkim.pem")) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("loaded a missing file"),
        };
        assert!(missing.starts_with("cannot be read: "), "{missing}");
    }

    #[test]
    fn the_signer_never_shows_its_key_in_debug() {
        let signer =
            DkimSigner::new("example.org", "s1", DkimKey::from_pem(ED25519).unwrap()).unwrap();
        let debug = format!("{signer:?}");
        assert_eq!(
            debug,
            "DkimSigner { domain: \"example.org\", selector: \"s1\", key: \"Ed25519\", .. }"
        );
    }

    #[test]
    fn domains_and_selectors_are_plain_dns_labels() {
        assert_eq!(name_problem("example.org", true), None);
        assert_eq!(name_problem("mail-2.example.org", true), None);
        assert_eq!(name_problem("paperboy", false), None);
        assert_eq!(name_problem("2026.q1", false), None);
        for (name, two) in [
            ("", false),
            ("example", true),
            ("example..org", true),
            ("example.org.", true),
            ("ex ample.org", true),
            ("example.org; x=1", true),
            ("s_1", false),
            ("-s", false),
            ("bücher.example", true),
        ] {
            assert!(name_problem(name, two).is_some(), "{name:?}");
        }
    }
}
