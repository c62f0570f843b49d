//! Matching semantics, checked through both paths: [`TopicQuery::matches`] and a
//! [`QuerySet`] evaluated over a [`PaperIndex`]. Every check asserts the two agree.

use super::*;
use crate::paper::Paper;

pub(crate) fn paper(title: &str, summary: &str, authors: &[&str], categories: &[&str]) -> Paper {
    Paper {
        summary: summary.into(),
        authors: authors.iter().map(|a| a.to_string()).collect(),
        categories: categories.iter().map(|c| c.to_string()).collect(),
        ..Paper::new("2606.00001", title)
    }
}

/// Whether `query` matches `paper`, after asserting that the direct and the indexed
/// evaluation agree. The paper is indexed between two unrelated papers so that bit positions
/// other than 0 are exercised.
fn hits(query: &str, paper: &Paper) -> bool {
    let parsed = TopicQuery::parse(query).unwrap_or_else(|e| panic!("{query:?}: {e}"));
    let direct = parsed.matches(paper);
    let filler = super::tests::paper("Unrelated", "Nothing here.", &["Zed Zulu"], &["q-bio.NC"]);
    let index = PaperIndex::new([&filler, paper, &filler]);
    let mut set = QuerySet::new();
    let id = set.add(&parsed);
    let matches = set.evaluate(&index);
    let indexed = matches.papers(id).contains(1);
    assert_eq!(
        direct, indexed,
        "{query:?}: TopicQuery::matches says {direct}, QuerySet says {indexed}"
    );
    direct
}

#[test]
fn words_match_through_stemming() {
    let p = paper("Scaling Models", "We study diffusions on graphs.", &[], &[]);
    assert!(hits("model", &p));
    assert!(hits("models", &p));
    assert!(hits("diffusion", &p));
    assert!(hits("scale", &p));
    assert!(!hits("graphics", &p));
    assert!(!hits("transformer", &p));
    let singular = paper("A model of diffusion", "", &[], &[]);
    assert!(hits("models", &singular));
    assert!(hits("diffusions", &singular));
}

#[test]
fn matching_is_case_insensitive() {
    let p = paper("DIFFUSION Transformers", "", &["Ada LOVELACE"], &["CS.cv"]);
    assert!(hits("diffusion", &p));
    assert!(hits("Diffusion TRANSFORMER", &p));
    assert!(hits("Title:diffusion", &p));
    assert!(hits("author:lovelace", &p));
    assert!(hits("category:cs.CV", &p));
    assert!(hits("TRANSF*", &p));
}

#[test]
fn phrases_match_consecutive_stemmed_words() {
    let p = paper(
        "Large Language Models are Few-Shot Learners",
        "Models of language that are large.",
        &[],
        &[],
    );
    assert!(hits("\"large language model\"", &p));
    assert!(hits("\"few shot learner\"", &p));
    assert!(!hits("\"language large\"", &p));
    assert!(!hits("\"large models\"", &p));
    let gap = paper("Large multilingual language models", "", &[], &[]);
    assert!(!hits("\"large language models\"", &gap));
    assert!(hits("large language models", &gap));
}

#[test]
fn phrases_do_not_run_from_title_into_abstract() {
    let p = paper(
        "Towards something large",
        "Language models are ...",
        &[],
        &[],
    );
    assert!(!hits("\"large language\"", &p));
    assert!(hits("large language", &p));
    assert!(hits("\"language models\"", &p));
}

#[test]
fn fields_restrict_where_a_term_matches() {
    let p = paper("Image generation", "We use diffusion.", &[], &[]);
    assert!(hits("diffusion", &p));
    assert!(!hits("title:diffusion", &p));
    assert!(hits("abstract:diffusion", &p));
    assert!(hits("title:image", &p));
    assert!(!hits("abstract:image", &p));
    assert!(!hits("title:\"use diffusion\"", &p));
    assert!(hits("abstract:\"use diffusion\"", &p));
    assert!(!hits("title:diff*", &p));
    assert!(hits("abstract:diff*", &p));
}

#[test]
fn author_phrases_stay_inside_one_author() {
    let p = paper(
        "On engines",
        "Ada wrote about Lovelace.",
        &["Ada Lovelace", "Charles Babbage", "Mary Ann Evans"],
        &[],
    );
    assert!(hits("author:\"Ada Lovelace\"", &p));
    assert!(hits("author:lovelace", &p));
    assert!(hits("author:babbage", &p));
    assert!(hits("author:\"mary ann evans\"", &p));
    assert!(hits("author:ann-evans", &p));
    assert!(!hits("author:\"Lovelace Charles\"", &p));
    assert!(!hits("author:\"Lovelace Ada\"", &p));
    assert!(!hits("author:\"Ada Babbage\"", &p));
    assert!(!hits("author:engines", &p));
    assert!(hits("author:lov*", &p));
    assert!(!hits("author:eng*", &p));
    // Author names are not stemmed: `evan` is not `evans`.
    assert!(!hits("author:evan", &p));
    // A bare word does not search authors.
    assert!(!hits("babbage", &p));
}

#[test]
fn categories_match_whole_and_never_when_unknown() {
    let p = paper("X", "Y", &[], &["cs.CL", "cs.LG"]);
    assert!(hits("category:cs.CL", &p));
    assert!(hits("category:CS.cl", &p));
    assert!(hits("category:\"cs.LG\"", &p));
    assert!(!hits("category:cs", &p));
    assert!(!hits("category:cs.C", &p));
    assert!(!hits("category:cs.CV", &p));
    assert!(hits("category:cs.*", &p));
    assert!(hits("category:cs.C*", &p));
    assert!(!hits("category:math*", &p));
    let unknown = paper("cs.CL", "cs.CL", &[], &[]);
    assert!(!hits("category:cs.CL", &unknown));
    assert!(!hits("category:cs.*", &unknown));
    assert!(hits("NOT category:cs.CL", &unknown));
}

#[test]
fn prefixes_match_unstemmed_word_starts() {
    let p = paper("Embeddings", "are embedded in studies", &[], &[]);
    assert!(hits("embed*", &p));
    assert!(hits("embedding*", &p));
    assert!(hits("embedded*", &p));
    assert!(hits("studi*", &p));
    assert!(hits("studies*", &p));
    assert!(!hits("embod*", &p));
    assert!(!hits("xembed*", &p));
    assert!(hits("title:embeddings*", &p));
    assert!(!hits("title:embedded*", &p));
}

#[test]
fn hyphenated_and_punctuated_words_are_phrases_of_their_tokens() {
    let p = paper("Text-to-Image Generation with GPT-4", "", &[], &[]);
    assert!(hits("text-to-image", &p));
    assert!(hits("\"text to image\"", &p));
    assert!(hits("GPT-4", &p));
    assert!(!hits("gpt4*", &p));
    assert!(!hits("image-to-text", &p));
    let spaced = paper("text to image", "", &[], &[]);
    assert!(hits("text-to-image", &spaced));
    assert!(!hits("GPT-4", &spaced));
    let time = paper("Meeting at 10:30", "", &[], &[]);
    assert!(hits("10:30", &time));
    assert!(!hits("10:31", &time));
}

#[test]
fn lower_case_operators_are_ordinary_words() {
    let with_not = paper("Attention is not all you need", "", &[], &[]);
    let without = paper("Attention is all you need", "", &[], &[]);
    assert!(hits("attention not all", &with_not));
    assert!(!hits("attention not all", &without));
    assert!(!hits("attention NOT all", &with_not));
    let cats = paper("Cats and dogs", "", &[], &[]);
    let cats_dogs = paper("Cats, dogs", "", &[], &[]);
    assert!(hits("cats and dogs", &cats));
    assert!(!hits("cats and dogs", &cats_dogs));
    assert!(!hits("cats or birds", &cats));
    assert!(hits("cats OR birds", &cats));
}

#[test]
fn operators_follow_precedence() {
    let only_a = paper("alpha", "", &[], &[]);
    let b_and_c = paper("beta gamma", "", &[], &[]);
    let only_c = paper("gamma", "", &[], &[]);
    assert!(hits("alpha OR beta gamma", &only_a));
    assert!(!hits("(alpha OR beta) gamma", &only_a));
    assert!(hits("alpha OR beta gamma", &b_and_c));
    assert!(!hits("alpha OR beta gamma", &only_c));
    assert!(hits("alpha beta OR gamma", &only_c));
    assert!(!hits("alpha beta OR gamma", &only_a));
    assert!(hits("NOT alpha gamma", &only_c));
    assert!(!hits("NOT alpha gamma", &only_a));
    assert!(hits("gamma AND NOT alpha", &only_c));
    assert!(!hits("beta AND NOT gamma", &b_and_c));
    assert!(hits("NOT alpha", &b_and_c));
    assert!(!hits("NOT alpha", &only_a));
    assert!(hits("NOT (alpha OR beta)", &only_c));
    assert!(!hits("NOT (alpha OR beta)", &b_and_c));
    assert!(hits("alpha OR NOT beta", &only_c));
    assert!(!hits("gamma AND (alpha OR NOT beta)", &b_and_c));
}

#[test]
fn parsed_queries_keep_their_text() {
    let q: TopicQuery = "Diffusion  AND title:x".parse().expect("valid");
    assert_eq!(q.text(), "Diffusion  AND title:x");
    assert_eq!(q.to_string(), "Diffusion  AND title:x");
    let err = "a AND".parse::<TopicQuery>().unwrap_err();
    assert_eq!(err.to_string(), "query ends after AND (column 6)");
}

#[test]
fn query_types_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<TopicQuery>();
    shareable::<QueryError>();
    shareable::<PaperIndex>();
    shareable::<QuerySet>();
    shareable::<Matches>();
    shareable::<PaperSet>();
}

#[test]
fn lists_the_categories_it_needs() {
    for (query, categories) in [
        ("category:cs.CL", &["cs.cl"][..]),
        ("diffusion AND NOT category:cs.*", &["cs.*"]),
        (
            "(a OR (b category:stat.ML)) category:astro-ph.GA",
            &["stat.ml", "astro-ph.ga"],
        ),
        ("diffusion title:cs", &[]),
    ] {
        assert_eq!(
            TopicQuery::parse(query).unwrap().categories(),
            categories,
            "{query}"
        );
    }
}
