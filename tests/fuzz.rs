//! Property tests (issue 11, promise 4): the parsers of outside text never panic, whatever
//! they are given: the topic query parser on arbitrary strings and on strings made of the
//! query language's own pieces, the arXiv RSS and Atom parsers on arbitrary bytes and on the
//! recorded feeds mutated. A bounded number of cases keeps each test to a few seconds; the
//! Hugging Face JSON parser's are beside it (src/source/huggingface.rs), as it is private.

use paperboy::paper::Paper;
use paperboy::source::arxiv::{atom, rss};
use paperboy::topics::TopicQuery;
use proptest::prelude::*;

const RSS: &[u8] = include_bytes!("fixtures/arxiv_rss.xml");
const ATOM: &[u8] = include_bytes!("fixtures/arxiv_api.xml");

/// One change to a byte string: positions and lengths wrap around its length.
#[derive(Debug, Clone)]
enum Mutation {
    Flip {
        at: usize,
        bit: u8,
    },
    Set {
        at: usize,
        byte: u8,
    },
    Delete {
        at: usize,
        len: usize,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    /// Repeats a stretch, as a proxy that resends part of a body might.
    Duplicate {
        at: usize,
        len: usize,
    },
    Truncate {
        at: usize,
    },
    /// Puts text right after the next `>` from `at`: into an element's content, where the
    /// document stays well-formed and the fields' own readers get the odd values.
    Text {
        at: usize,
        bytes: Vec<u8>,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set { at, byte }),
        (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), prop::collection::vec(markup_byte(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<usize>(), 1usize..256).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), prop::collection::vec(text_byte(), 1..24))
            .prop_map(|(at, bytes)| Mutation::Text { at, bytes }),
        (any::<usize>(), prop::collection::vec(text_byte(), 1..24))
            .prop_map(|(at, bytes)| Mutation::Text { at, bytes }),
    ]
}

/// Bytes that keep an element's text well-formed (no `<` or `&`), weighted to what ids,
/// dates and names are made of.
fn text_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        prop::sample::select(b" .:/vV()-,;0123456789abcxyzArXiv\n\t\"'".to_vec()),
        any::<u8>().prop_filter("markup", |b| *b != b'<' && *b != b'&'),
    ]
}

/// Bytes that matter to XML and JSON more often than chance would pick them.
fn markup_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        prop::sample::select(b"<>/&;\"'=![]{}:,\\?-#x0123456789".to_vec()),
        any::<u8>(),
    ]
}

fn mutate(original: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = original.to_vec();
    for m in mutations {
        let n = bytes.len().max(1);
        match m {
            Mutation::Flip { at, bit } => {
                if let Some(b) = bytes.get_mut(at % n) {
                    *b ^= 1 << bit;
                }
            }
            Mutation::Set { at, byte } => {
                if let Some(b) = bytes.get_mut(at % n) {
                    *b = *byte;
                }
            }
            Mutation::Delete { at, len } => {
                let start = (at % n).min(bytes.len());
                let end = (start + len).min(bytes.len());
                bytes.drain(start..end);
            }
            Mutation::Insert { at, bytes: new } => {
                let at = (at % n).min(bytes.len());
                bytes.splice(at..at, new.iter().copied());
            }
            Mutation::Duplicate { at, len } => {
                let start = (at % n).min(bytes.len());
                let end = (start + len).min(bytes.len());
                let stretch = bytes[start..end].to_vec();
                bytes.splice(end..end, stretch);
            }
            Mutation::Truncate { at } => bytes.truncate(at % n),
            Mutation::Text { at, bytes: new } => {
                let from = (at % n).min(bytes.len());
                if let Some(close) = bytes[from..].iter().position(|&b| b == b'>') {
                    let at = from + close + 1;
                    bytes.splice(at..at, new.iter().copied());
                }
            }
        }
    }
    bytes
}

/// The pieces of the query language, glued by `query_text` into strings the parser must
/// take apart: far deeper into it than random characters reach.
fn query_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "AND",
            "OR",
            "NOT",
            "and",
            "(",
            ")",
            "\"",
            "*",
            ":",
            "title:",
            "abstract:",
            "author:",
            "category:",
            "cs.",
            "cs.*",
            "cs.LG",
            "-",
            "10:30",
            "''",
            "\\",
            " ",
            "  ",
            "\t",
            "\n",
            "é",
            "ß",
            "ǅ",
            "\u{301}",
            "\u{0}",
            "LLMs",
            "model",
            "x*",
        ])
        .prop_map(str::to_string),
        "[a-zA-Z0-9]{1,8}".prop_map(|s| s),
        any::<char>().prop_map(|c| c.to_string()),
    ]
}

fn query_text() -> impl Strategy<Value = String> {
    prop::collection::vec(query_piece(), 0..24).prop_map(|pieces| pieces.join(""))
}

/// A paper for parsed queries to be matched against, so matching is exercised too.
fn paper() -> Paper {
    Paper {
        summary: "We study models. Embeddings of text-to-image diffusion are robust.".into(),
        authors: vec!["Ada Lovelace".into(), "Charles Babbage".into()],
        categories: vec!["cs.LG".into(), "cs.CL".into()],
        upvotes: Some(3),
        ..Paper::new(
            "2606.00001",
            "Large Language Models as Agents: Diffusion, Robustness, and LLMs",
        )
    }
}

fn exercise_query(text: &str) {
    if let Ok(query) = TopicQuery::parse(text) {
        let _ = query.text();
        let _ = query.categories();
        let _ = query.lowercase_operators();
        let _ = query.matches(&paper());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5_000, ..ProptestConfig::default() })]

    #[test]
    fn the_topic_parser_never_panics_on_any_string(text in any::<String>()) {
        exercise_query(&text);
    }

    #[test]
    fn the_topic_parser_never_panics_on_the_languages_own_pieces(text in query_text()) {
        exercise_query(&text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

    #[test]
    fn the_rss_parser_never_panics_on_a_mutated_feed(
        mutations in prop::collection::vec(mutation(), 1..8)
    ) {
        if let Ok(feed) = rss::parse(&mutate(RSS, &mutations)) {
            for entry in feed.entries {
                let _ = entry.into_paper();
            }
        }
    }

    #[test]
    fn the_atom_parser_never_panics_on_a_mutated_page(
        mutations in prop::collection::vec(mutation(), 1..8)
    ) {
        if let Ok(page) = atom::parse(&mutate(ATOM, &mutations)) {
            for entry in page.entries {
                let _ = entry.into_paper();
            }
        }
    }

    #[test]
    fn the_feed_parsers_never_panic_on_any_bytes(
        bytes in prop::collection::vec(markup_byte(), 0..512)
    ) {
        let _ = rss::parse(&bytes);
        let _ = atom::parse(&bytes);
        let mut wrapped = b"<rss><channel><item><guid>".to_vec();
        wrapped.extend_from_slice(&bytes);
        let _ = rss::parse(&wrapped);
        let mut wrapped = b"<feed><totalResults>1</totalResults><entry><id>".to_vec();
        wrapped.extend_from_slice(&bytes);
        let _ = atom::parse(&wrapped);
    }
}

/// The generated inputs reach past the first error: many queries parse (so matching runs)
/// and many do not; many mutated feeds still give entries and some are refused.
#[test]
fn the_generated_inputs_reach_both_the_parsed_and_the_refused() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut parsed, mut refused) = (0, 0);
    for _ in 0..500 {
        let text = query_text().new_tree(&mut runner).unwrap().current();
        match TopicQuery::parse(&text) {
            Ok(_) => parsed += 1,
            Err(_) => refused += 1,
        }
    }
    assert!(
        parsed > 50 && refused > 50,
        "{parsed} parsed, {refused} refused"
    );
    let (mut with_entries, mut refused) = (0, 0);
    for _ in 0..200 {
        let mutations = prop::collection::vec(mutation(), 1..8)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        match rss::parse(&mutate(RSS, &mutations)) {
            Ok(feed) if !feed.entries.is_empty() => with_entries += 1,
            Ok(_) => {}
            Err(_) => refused += 1,
        }
    }
    assert!(
        with_entries > 20 && refused > 20,
        "{with_entries} with entries, {refused} refused"
    );
}

/// Bodies that once were, or could be, trouble, kept as named cases.
#[test]
fn feeds_that_are_hostile_by_construction_are_errors_not_panics() {
    let deep = "<a>".repeat(100_000);
    assert!(rss::parse(deep.as_bytes()).is_err());
    assert!(rss::parse(b"</rss>").is_err());
    assert!(rss::parse(b"").is_err());
    assert!(atom::parse(b"<feed><totalResults>x</totalResults></feed>").is_err());
    assert!(rss::parse(b"<rss><channel><item>&#xFFFFFFFF;</item></channel></rss>").is_err());
}
