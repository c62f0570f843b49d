//! Turning text into search tokens.
//!
//! Papers and queries go through exactly these functions, so a query word always meets paper
//! text in the same shape: `GPT-4` in a query and `GPT-4` in an abstract both become the tokens
//! `gpt`, `4`.

use rust_stemmers::{Algorithm, Stemmer};

/// Calls `f` with each token of `text`: a maximal run of alphanumeric characters, lowercased.
///
/// One buffer is reused for every token so that indexing a batch of papers does not allocate
/// per word.
pub(crate) fn for_each_token(text: &str, mut f: impl FnMut(&str)) {
    let mut token = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            if c.is_ascii() {
                token.push(c.to_ascii_lowercase());
            } else {
                token.extend(c.to_lowercase());
            }
        } else if !token.is_empty() {
            f(&token);
            token.clear();
        }
    }
    if !token.is_empty() {
        f(&token);
    }
}

/// Where the tokens of `text` lie in it (byte ranges), in order: the tokens of
/// [`for_each_token`] before lowercasing ([`lowercase`] does that), for showing which words
/// matched without allocating for every word.
pub(crate) fn token_ranges(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = None;
    for (at, c) in text.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(at),
            (false, Some(from)) => {
                out.push(from..at);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(from) = start {
        out.push(from..text.len());
    }
    out
}

/// A token lowercased a character at a time, as [`for_each_token`] does (`str::to_lowercase`
/// would treat a word-final sigma differently).
pub(crate) fn lowercase(token: &str) -> String {
    if token.is_ascii() {
        token.to_ascii_lowercase()
    } else {
        token.chars().flat_map(char::to_lowercase).collect()
    }
}

/// The tokens of `text`, in order.
pub(crate) fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_token(text, |t| out.push(t.to_owned()));
    out
}

/// The English (Porter 2) stemmer used for titles and abstracts. Creating one is cheap: it only
/// selects a function.
pub(crate) fn stemmer() -> Stemmer {
    Stemmer::create(Algorithm::English)
}

/// The stem of one token produced by [`for_each_token`].
pub(crate) fn stem(stemmer: &Stemmer, token: &str) -> String {
    let stemmed = stemmer.stem(token);
    // Porter 2 keeps the s of an acronym's plural ("llms": no vowel before the s), and
    // research text is full of them: LLMs, VLMs, CNNs. Without this, `LLM` misses "LLMs".
    match stemmed.strip_suffix('s') {
        Some(base)
            if base.len() >= 2
                && base
                    .bytes()
                    .all(|b| b.is_ascii_alphabetic() && !b"aeiouy".contains(&b)) =>
        {
            base.to_string()
        }
        _ => stemmed.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_anything_that_is_not_a_letter_or_digit_and_lowercases() {
        assert_eq!(
            tokens("Text-to-Image GPT-4: a (new) Modèle, e.g. ÉCOLE_42"),
            [
                "text", "to", "image", "gpt", "4", "a", "new", "modèle", "e", "g", "école", "42"
            ]
        );
        assert!(tokens(" -- ** ").is_empty());
    }

    #[test]
    fn token_ranges_are_where_the_tokens_lie() {
        let text = "Text-to-Image GPT-4: a (new) Modèle, e.g. ÉCOLE_42 ΣΟΦΟΣ";
        let ranges = token_ranges(text);
        let words: Vec<String> = ranges.iter().map(|r| lowercase(&text[r.clone()])).collect();
        assert_eq!(words, tokens(text));
        assert_eq!(&text[ranges[7].clone()], "Modèle");
        assert_eq!(&text[ranges[10].clone()], "ÉCOLE");
    }

    #[test]
    fn stems_plurals_to_the_singular_stem() {
        let s = stemmer();
        assert_eq!(stem(&s, "models"), stem(&s, "model"));
        assert_eq!(stem(&s, "diffusions"), stem(&s, "diffusion"));
        assert_ne!(stem(&s, "model"), stem(&s, "mode"));
    }

    #[test]
    fn acronym_plurals_meet_their_singular() {
        let s = stemmer();
        for (plural, singular) in [
            ("llms", "llm"),
            ("vlms", "vlm"),
            ("cnns", "cnn"),
            ("gpts", "gpt"),
        ] {
            assert_eq!(stem(&s, plural), stem(&s, singular), "{plural}");
        }
        // Words with vowels are left to the stemmer, and a lone "s" stays.
        assert_eq!(stem(&s, "bus"), "bus");
        assert_eq!(stem(&s, "ms"), "ms");
    }
}
