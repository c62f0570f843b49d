//! The few sentences of an abstract that a digest shows: those around the first word a topic
//! matched, so the reader sees the paper's claim in the words that brought it to them.

use std::ops::Range;

/// About how many characters a snippet keeps: two or three sentences of a typical abstract.
const ROOM: usize = 420;
/// Most sentences in a snippet.
const MOST_SENTENCES: usize = 3;
/// Words that end in a full stop without ending a sentence.
const ABBREVIATIONS: &[&str] = &[
    "al", "approx", "cf", "e.g", "eq", "eqs", "etc", "fig", "figs", "i.e", "no", "ref", "resp",
    "sec", "vs",
];

/// Where a snippet lies in its abstract, and whether text was left out before or after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    pub range: Range<usize>,
    pub before: bool,
    pub after: bool,
}

impl Cut {
    /// The snippet as shown, with "…" where text was left out.
    pub fn text(&self, source: &str) -> String {
        let mut snippet = String::new();
        if self.before {
            snippet.push_str(LEFT_OUT_BEFORE);
        }
        snippet.push_str(&source[self.range.clone()]);
        if self.after {
            snippet.push_str(" …");
        }
        snippet
    }

    /// `spans` of the source that lie in the snippet, as spans of [`Cut::text`].
    pub fn spans(&self, spans: &[Range<usize>]) -> Vec<Range<usize>> {
        let shift = if self.before {
            LEFT_OUT_BEFORE.len()
        } else {
            0
        };
        spans
            .iter()
            .filter(|s| s.start >= self.range.start && s.end <= self.range.end)
            .map(|s| s.start - self.range.start + shift..s.end - self.range.start + shift)
            .collect()
    }
}

const LEFT_OUT_BEFORE: &str = "… ";

/// The byte ranges of the sentences of `text`, whitespace around it left out (see
/// [`split_sentences`]).
pub fn sentences(text: &str) -> Vec<Range<usize>> {
    let lead = text.len() - text.trim_start().len();
    split_sentences(text.trim())
        .into_iter()
        .map(|r| r.start + lead..r.end + lead)
        .collect()
}

/// The sentences of `text` around the byte offset `first_match` (or its opening sentences),
/// given the `sentences` of `text`.
pub fn around(text: &str, sentences: &[Range<usize>], first_match: Option<usize>) -> Cut {
    let Some(last) = sentences.len().checked_sub(1) else {
        return Cut {
            range: 0..0,
            before: false,
            after: false,
        };
    };
    let at = first_match.unwrap_or(0).min(text.len());
    let hit = sentences.iter().position(|s| at < s.end).unwrap_or(last);
    let len = |r: &Range<usize>| text[r.clone()].chars().count();
    let (mut from, mut to) = (hit, hit);
    let mut used = len(&sentences[hit]);
    if used > ROOM {
        return long_sentence(text, sentences[hit].clone(), at, hit == last);
    }
    // Grow forwards first (what follows a claim explains it), then back by one, or further
    // back at the end of the abstract.
    while to - from + 1 < MOST_SENTENCES {
        if to < last && used + len(&sentences[to + 1]) <= ROOM {
            to += 1;
            used += len(&sentences[to]);
        } else if from > 0
            && (from == hit || to == last)
            && used + len(&sentences[from - 1]) <= ROOM
        {
            from -= 1;
            used += len(&sentences[from]);
        } else {
            break;
        }
    }
    Cut {
        range: sentences[from].start..sentences[to].end,
        before: from > 0,
        after: to < last,
    }
}

/// A sentence too long to show whole: from a few words before the match, cut at a word
/// boundary near `ROOM` characters.
fn long_sentence(text: &str, sentence: Range<usize>, at: usize, is_last: bool) -> Cut {
    let lead = ROOM / 4;
    let mut start = sentence.start;
    if text[sentence.start..at].chars().count() > lead {
        // Back from the match by about `lead` characters, to the start of a word.
        let back = text[sentence.start..at]
            .char_indices()
            .rev()
            .nth(lead)
            .map_or(sentence.start, |(i, _)| sentence.start + i);
        start = text[back..at]
            .find(char::is_whitespace)
            .map_or(back, |i| back + i + 1);
    }
    let body = &text[start..sentence.end];
    let mut end = sentence.end;
    if body.chars().count() > ROOM {
        let room_end = body.char_indices().nth(ROOM).map_or(body.len(), |(i, _)| i);
        let cut = body[..room_end]
            .rfind(char::is_whitespace)
            .filter(|&i| i > room_end / 2)
            .unwrap_or(room_end);
        end = start + body[..cut].trim_end_matches([',', '.', ';', ':']).len();
    }
    Cut {
        range: start..end,
        before: start > 0,
        after: end < sentence.end || !is_last,
    }
}

/// The byte ranges of `text`'s sentences: each ends after `.`, `!` or `?` (and any closing
/// quote or bracket) where whitespace and then a capital letter, digit or opening bracket
/// follow, unless the word before is an abbreviation or an initial.
fn split_sentences(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        if matches!(c, '.' | '!' | '?') {
            let mut end = i + 1;
            while end < chars.len() && matches!(chars[end].1, ')' | ']' | '"' | '\'' | '”' | '’')
            {
                end += 1;
            }
            let mut next = end;
            while next < chars.len() && chars[next].1.is_whitespace() {
                next += 1;
            }
            let starts_sentence = next > end
                && next < chars.len()
                && (chars[next].1.is_uppercase()
                    || chars[next].1.is_ascii_digit()
                    || matches!(chars[next].1, '(' | '[' | '"' | '“'));
            if starts_sentence && !(c == '.' && abbreviation_before(&text[start..at])) {
                let end_byte = chars.get(end).map_or(text.len(), |&(b, _)| b);
                out.push(start..end_byte);
                start = chars[next].0;
                i = next;
                continue;
            }
        }
        i += 1;
    }
    if !text[start..].trim().is_empty() {
        out.push(start..text.len());
    }
    out
}

/// Whether `before` (a sentence so far, up to a full stop) ends in an abbreviation or an
/// initial ("A. Turing").
fn abbreviation_before(before: &str) -> bool {
    let word = before
        .rsplit(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("");
    let lower = word.to_lowercase();
    let single_letter = word.chars().count() == 1 && word.chars().all(char::is_alphabetic);
    single_letter || ABBREVIATIONS.contains(&lower.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABSTRACT: &str = "Large models are everywhere. We study agents, e.g. web agents, \
        following Smith et al. in detail. Our agents beat baselines by 12.5 points. \
        They also run faster. Code is released.";

    fn shown(at: Option<usize>) -> String {
        around(ABSTRACT, &sentences(ABSTRACT), at).text(ABSTRACT)
    }

    fn split(text: &str) -> Vec<&str> {
        split_sentences(text)
            .into_iter()
            .map(|r| &text[r])
            .collect()
    }

    #[test]
    fn splits_sentences_but_not_at_abbreviations_decimals_or_initials() {
        assert_eq!(
            split(ABSTRACT),
            [
                "Large models are everywhere.",
                "We study agents, e.g. web agents, following Smith et al. in detail.",
                "Our agents beat baselines by 12.5 points.",
                "They also run faster.",
                "Code is released.",
            ]
        );
        assert_eq!(
            split("By A. Turing. (See below.) Done"),
            ["By A. Turing.", "(See below.)", "Done"]
        );
        assert!(split("   ").is_empty());
    }

    #[test]
    fn takes_the_sentence_of_the_first_match_and_what_follows() {
        let at = ABSTRACT.find("agents").unwrap();
        assert_eq!(
            shown(Some(at)),
            "… We study agents, e.g. web agents, following Smith et al. in detail. Our agents \
             beat baselines by 12.5 points. They also run faster. …"
        );
        // Without a match: the opening sentences.
        assert!(shown(None).starts_with("Large models are everywhere. We study"));
        // A match in the last sentence reaches back.
        let at = ABSTRACT.find("released").unwrap();
        assert_eq!(
            shown(Some(at)),
            "… Our agents beat baselines by 12.5 points. They also run faster. Code is released."
        );
    }

    #[test]
    fn a_long_sentence_is_cut_around_the_match() {
        let text = format!("{} agents {}.", "word ".repeat(200), "more ".repeat(200));
        let at = text.find("agents").unwrap();
        let snippet = around(&text, &sentences(&text), Some(at)).text(&text);
        assert!(snippet.starts_with("… word"), "{snippet}");
        assert!(snippet.contains("agents"), "{snippet}");
        assert!(snippet.ends_with('…'), "{snippet}");
        assert!(snippet.chars().count() <= ROOM + 4, "{snippet}");
    }

    #[test]
    fn spans_of_the_abstract_move_with_the_snippet() {
        let at = ABSTRACT.find("Our agents").unwrap() + 4;
        let cut = around(ABSTRACT, &sentences(ABSTRACT), Some(at));
        let spans = [at..at + 6, 0..5];
        let text = cut.text(ABSTRACT);
        let moved = cut.spans(&spans);
        assert_eq!(moved.len(), 1, "the span before the snippet is left out");
        assert_eq!(&text[moved[0].clone()], "agents");
    }
}
