//! `[mail.dkim]`: the domain, selector and key file, checked and the key loaded here, once per
//! load, so that a key that cannot sign is a config problem `check` reports, not a failure
//! at the first digest.

use std::path::Path;

use lettre::message::Mailbox;

use super::problems::Problems;
use super::{raw, resolve};
use crate::dkim::{DkimKey, DkimSigner, name_problem};

/// The signer `[mail.dkim]` describes: `Some(None)` without the table, `None` once a problem
/// is reported.
pub(super) fn validate_dkim(
    raw: Option<&raw::Section<raw::RawDkim>>,
    from: Option<&Mailbox>,
    base: &Path,
    problems: &mut Problems,
) -> Option<Option<DkimSigner>> {
    let Some(section) = raw else {
        return Some(None);
    };
    if let Some(text) = &section.invalid {
        problems.report("mail.dkim", text, "must be a table ([mail.dkim])");
        return None;
    }
    let domain = dkim_name(problems, "domain", &section.domain);
    let selector = dkim_name(problems, "selector", &section.selector);
    const KEY: &str = "mail.dkim.private_key_file";
    let key_file = match problems.valid_opt(KEY, &section.private_key_file) {
        None if section.private_key_file.is_none() => {
            problems.report(
                KEY,
                "",
                "is required in [mail.dkim]: make a key with `openssl genpkey -algorithm ed25519 -out dkim.pem`",
            );
            None
        }
        file => file.map(|file| resolve(base, &file)),
    };
    // Loaded whatever the names: a bad key is reported alongside a bad domain.
    let key = key_file.as_ref().and_then(|file| {
        DkimKey::load(file)
            .map_err(|e| problems.report(KEY, &file.display().to_string(), e))
            .ok()
    });
    let (domain, selector, key, key_file) = (domain?, selector?, key?, key_file?);
    if let Some(from) = from {
        let from_domain = from.email.domain().to_ascii_lowercase();
        if !aligned(&from_domain, &domain) {
            problems.warn(
                "mail.dkim.domain",
                &domain,
                format!(
                    "is not the domain of mail.from ({from_domain}) nor a parent or subdomain of it: receivers applying DMARC may not count the signature"
                ),
            );
        }
    }
    DkimSigner::new(&domain, &selector, key)
        .map_err(|e| problems.report(KEY, &key_file.display().to_string(), e))
        .ok()
        .map(Some)
}

/// `mail.dkim.domain` or `mail.dkim.selector`, required and a plain DNS name, in lower case.
fn dkim_name(
    problems: &mut Problems,
    field: &str,
    value: &Option<raw::Lenient<String>>,
) -> Option<String> {
    let key = format!("mail.dkim.{field}");
    let is_domain = field == "domain";
    let Some(text) = problems.valid_opt(&key, value) else {
        if value.is_none() {
            let example = if is_domain {
                "\"example.org\", the domain of mail.from"
            } else {
                "\"paperboy\": receivers find the key at SELECTOR._domainkey.DOMAIN"
            };
            problems.report(
                &key,
                "",
                format!("is required in [mail.dkim], e.g. {example}"),
            );
        }
        return None;
    };
    match name_problem(&text, is_domain) {
        Some(problem) => {
            problems.report(&key, &text, problem);
            None
        }
        None => Some(text.to_ascii_lowercase()),
    }
}

/// Whether a signature by `signing` is aligned with a From address at `from` in DMARC's
/// relaxed sense as far as can be told without the public suffix list: one domain is the
/// other or under it.
fn aligned(from: &str, signing: &str) -> bool {
    let under = |inner: &str, outer: &str| {
        inner == outer
            || inner
                .strip_suffix(outer)
                .is_some_and(|rest| rest.ends_with('.'))
    };
    under(from, signing) || under(signing, from)
}

#[cfg(test)]
mod tests {
    use super::aligned;

    #[test]
    fn a_domain_is_aligned_with_itself_and_its_parents_and_children() {
        assert!(aligned("example.org", "example.org"));
        assert!(aligned("news.example.org", "example.org"));
        assert!(aligned("example.org", "mail.example.org"));
        assert!(!aligned("example.org", "example.net"));
        assert!(!aligned("badexample.org", "example.org"));
    }
}
