//! The per-batch index that query terms are resolved against.

use std::collections::HashMap;

use rust_stemmers::Stemmer;

use super::query::{Term, TextField};
use super::text;
use crate::paper::Paper;

/// Separates two authors in a paper's author token sequence, so a phrase can never run from
/// one author's name into the next. No token id takes this value.
const AUTHOR_BREAK: u32 = u32::MAX;

/// An index of one batch of papers (typically about 1,000), built once and shared by every
/// query evaluated against the batch. Paper `i` of the index is the `i`-th paper given to
/// [`PaperIndex::new`].
///
/// Posting lists are sorted paper numbers rather than bitsets: only the terms some query uses
/// are ever turned into bitsets, and lists stay small when batches grow.
#[derive(Debug)]
pub struct PaperIndex {
    len: usize,
    /// Stem → id. Title and abstract share one stem vocabulary.
    stems: HashMap<Box<str>, u32>,
    /// Every lowercased, unstemmed title/abstract token with its id, sorted, for prefix terms.
    words: Vec<(Box<str>, u32)>,
    title: TextIndex,
    abstract_: TextIndex,
    /// Author name token (lowercased, not stemmed) → id.
    author_tokens: HashMap<Box<str>, u32>,
    /// The same tokens sorted, for prefix terms.
    author_words: Vec<(Box<str>, u32)>,
    authors: Sequences,
    /// Lowercased category → papers, sorted by category for prefix terms.
    categories: Vec<(Box<str>, Vec<u32>)>,
}

/// Token sequences of one field and their posting lists.
#[derive(Debug, Default)]
struct Sequences {
    /// Token id → papers containing it, ascending.
    postings: Vec<Vec<u32>>,
    /// Paper → its token ids in order (for phrase verification).
    sequences: Vec<Vec<u32>>,
}

/// The index of a stemmed text field (title or abstract).
#[derive(Debug, Default)]
struct TextIndex {
    stems: Sequences,
    /// Unstemmed word id → papers containing it, ascending.
    words: Vec<Vec<u32>>,
}

impl PaperIndex {
    /// Indexes `papers`; paper `i` is the `i`-th one yielded.
    pub fn new<'a>(papers: impl IntoIterator<Item = &'a Paper>) -> PaperIndex {
        let mut builder = Builder::default();
        let mut categories: HashMap<String, Vec<u32>> = HashMap::new();
        let mut len = 0;
        for (i, paper) in papers.into_iter().enumerate() {
            let number = u32::try_from(i).expect("a batch has fewer than 2^32 papers");
            builder.text(&paper.title, number, Part::Title);
            builder.text(&paper.summary, number, Part::Abstract);
            builder.authors(&paper.authors, number);
            for category in paper.categories.iter().map(|c| c.trim()) {
                if !category.is_empty() {
                    let papers = categories.entry(category.to_lowercase()).or_default();
                    add_posting(papers, number);
                }
            }
            len = i + 1;
        }
        let mut categories: Vec<(Box<str>, Vec<u32>)> = categories
            .into_iter()
            .map(|(c, papers)| (c.into_boxed_str(), papers))
            .collect();
        categories.sort_unstable();
        let words = sorted(builder.words.into_iter().map(|(w, (id, _))| (w, id)));
        let author_words = sorted(builder.author_tokens.iter().map(|(w, &id)| (w.clone(), id)));
        PaperIndex {
            len,
            words,
            stems: builder.stems,
            title: builder.title,
            abstract_: builder.abstract_,
            author_words,
            author_tokens: builder.author_tokens,
            authors: builder.authors,
            categories,
        }
    }

    /// The number of papers indexed.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The number of `u64` words in a bitset over this index.
    pub(crate) fn word_count(&self) -> usize {
        self.len.div_ceil(64)
    }

    /// The bits of the last word that stand for papers (all ones when the count is a multiple
    /// of 64); complementing a set must clear the others.
    pub(crate) fn last_word_mask(&self) -> u64 {
        match self.len % 64 {
            0 => u64::MAX,
            used => (1u64 << used) - 1,
        }
    }

    /// Sets in `out` (one bit per paper, already cleared) the bits of the papers matching
    /// `term`.
    pub(crate) fn resolve(&self, term: &Term, out: &mut [u64]) {
        match term {
            Term::Stems { field, stems } => {
                let Some(ids) = lookup(&self.stems, stems) else {
                    return;
                };
                for text in self.text_fields(*field) {
                    text.stems.find_run(&ids, out);
                }
            }
            Term::TextPrefix { field, prefix } => {
                for (_, id) in with_prefix(&self.words, prefix) {
                    for text in self.text_fields(*field) {
                        set_bits(out, list(&text.words, *id));
                    }
                }
            }
            Term::Author { tokens } => {
                if let Some(ids) = lookup(&self.author_tokens, tokens) {
                    self.authors.find_run(&ids, out);
                }
            }
            Term::AuthorPrefix { prefix } => {
                for (_, id) in with_prefix(&self.author_words, prefix) {
                    set_bits(out, self.authors.postings(*id));
                }
            }
            Term::Category { name } => {
                if let Ok(i) = self
                    .categories
                    .binary_search_by(|(c, _)| c.as_ref().cmp(name.as_str()))
                {
                    set_bits(out, &self.categories[i].1);
                }
            }
            Term::CategoryPrefix { prefix } => {
                for (_, papers) in with_prefix(&self.categories, prefix) {
                    set_bits(out, papers);
                }
            }
        }
    }

    fn text_fields(&self, field: TextField) -> impl Iterator<Item = &TextIndex> {
        let (title, abstract_) = match field {
            TextField::Title => (Some(&self.title), None),
            TextField::Abstract => (None, Some(&self.abstract_)),
            TextField::Either => (Some(&self.title), Some(&self.abstract_)),
        };
        title.into_iter().chain(abstract_)
    }
}

impl Sequences {
    fn postings(&self, id: u32) -> &[u32] {
        list(&self.postings, id)
    }

    /// Sets the bits of the papers whose sequence contains `ids` consecutively. Only papers in
    /// every id's posting list are checked, starting from the rarest list.
    fn find_run(&self, ids: &[u32], out: &mut [u64]) {
        let Some(&rarest) = ids.iter().min_by_key(|&&id| self.postings(id).len()) else {
            return;
        };
        if ids.len() == 1 {
            set_bits(out, self.postings(rarest));
            return;
        }
        for &paper in self.postings(rarest) {
            let in_all = ids
                .iter()
                .all(|&id| self.postings(id).binary_search(&paper).is_ok());
            if in_all
                && self.sequences[paper as usize]
                    .windows(ids.len())
                    .any(|w| w == ids)
            {
                set_bit(out, paper);
            }
        }
    }

    fn add(&mut self, paper: u32, id: u32) {
        if self.postings.len() <= id as usize {
            self.postings.resize_with(id as usize + 1, Vec::new);
        }
        add_posting(&mut self.postings[id as usize], paper);
        self.sequence(paper).push(id);
    }

    /// The sequence of `paper`, creating it (and any skipped ones) on first use.
    fn sequence(&mut self, paper: u32) -> &mut Vec<u32> {
        if self.sequences.len() <= paper as usize {
            self.sequences.resize_with(paper as usize + 1, Vec::new);
        }
        &mut self.sequences[paper as usize]
    }
}

#[derive(Clone, Copy)]
enum Part {
    Title,
    Abstract,
}

/// Vocabularies under construction. Each distinct word is stemmed once, however often it
/// occurs, which is most of the cost of indexing.
#[derive(Default)]
struct Builder {
    stemmer: Option<Stemmer>,
    /// Unstemmed word → (word id, stem id).
    words: HashMap<Box<str>, (u32, u32)>,
    stems: HashMap<Box<str>, u32>,
    title: TextIndex,
    abstract_: TextIndex,
    author_tokens: HashMap<Box<str>, u32>,
    authors: Sequences,
}

impl Builder {
    fn text(&mut self, text: &str, paper: u32, part: Part) {
        let stemmer = self.stemmer.get_or_insert_with(text::stemmer);
        let index = match part {
            Part::Title => &mut self.title,
            Part::Abstract => &mut self.abstract_,
        };
        // Every paper gets a (possibly empty) sequence, so lookups by paper number never miss.
        index.stems.sequence(paper);
        text::for_each_token(text, |token| {
            let (word, stem) = match self.words.get(token) {
                Some(&ids) => ids,
                None => {
                    let stem = text::stem(stemmer, token);
                    let next = self.stems.len() as u32;
                    let stem = *self.stems.entry(stem.into_boxed_str()).or_insert(next);
                    let ids = (self.words.len() as u32, stem);
                    self.words.insert(token.into(), ids);
                    ids
                }
            };
            index.stems.add(paper, stem);
            if index.words.len() <= word as usize {
                index.words.resize_with(word as usize + 1, Vec::new);
            }
            add_posting(&mut index.words[word as usize], paper);
        });
    }

    fn authors(&mut self, authors: &[String], paper: u32) {
        self.authors.sequence(paper);
        for (i, name) in authors.iter().enumerate() {
            if i > 0 {
                self.authors.sequence(paper).push(AUTHOR_BREAK);
            }
            text::for_each_token(name, |token| {
                let next = self.author_tokens.len() as u32;
                let id = match self.author_tokens.get(token) {
                    Some(&id) => id,
                    None => {
                        self.author_tokens.insert(token.into(), next);
                        next
                    }
                };
                self.authors.add(paper, id);
            });
        }
    }
}

fn sorted(entries: impl Iterator<Item = (Box<str>, u32)>) -> Vec<(Box<str>, u32)> {
    let mut list: Vec<_> = entries.collect();
    list.sort_unstable();
    list
}

/// Appends `paper` unless it is already the last entry (papers are indexed in order, so this
/// keeps the list sorted and free of duplicates).
fn add_posting(list: &mut Vec<u32>, paper: u32) {
    if list.last() != Some(&paper) {
        list.push(paper);
    }
}

/// The ids of `tokens`, or `None` when one of them never occurs (so nothing can match).
fn lookup(vocabulary: &HashMap<Box<str>, u32>, tokens: &[String]) -> Option<Vec<u32>> {
    tokens
        .iter()
        .map(|t| vocabulary.get(t.as_str()).copied())
        .collect()
}

/// The entries of a sorted list whose key starts with `prefix`.
fn with_prefix<'a, T>(
    sorted: &'a [(Box<str>, T)],
    prefix: &'a str,
) -> impl Iterator<Item = &'a (Box<str>, T)> {
    let start = sorted.partition_point(|(key, _)| key.as_ref() < prefix);
    sorted[start..]
        .iter()
        .take_while(move |(key, _)| key.starts_with(prefix))
}

/// List `id` of `lists`; empty when the id never got one (a stem seen only in the other field).
fn list(lists: &[Vec<u32>], id: u32) -> &[u32] {
    lists.get(id as usize).map_or(&[], Vec::as_slice)
}

fn set_bit(out: &mut [u64], paper: u32) {
    out[paper as usize / 64] |= 1 << (paper % 64);
}

fn set_bits(out: &mut [u64], papers: &[u32]) {
    for &paper in papers {
        set_bit(out, paper);
    }
}
