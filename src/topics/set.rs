//! Many compiled queries, evaluated together against one index.

use std::collections::HashMap;

use super::index::PaperIndex;
use super::paper_set::PaperSet;
use super::query::{Expr, Term, TopicQuery};

/// Names a query added to a [`QuerySet`]; valid for that set and the [`Matches`] it produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueryId(u32);

/// One step of a compiled query: a postfix program over a stack of bitsets.
///
/// The `*Term` forms combine a term's set straight into the top of the stack, so the common
/// shapes (`a b`, `a AND NOT b`, `a OR b`) never push a second set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Op {
    /// Push a copy of the term's set.
    Push(u32),
    AndTerm(u32),
    AndNotTerm(u32),
    OrTerm(u32),
    OrNotTerm(u32),
    /// Pop the top set and combine it into the one below.
    And,
    AndNot,
    Or,
    OrNot,
    /// Complement the top set within the index's papers.
    Not,
}

/// Many queries compiled for evaluation against batch after batch of papers.
///
/// Terms are interned across all queries, and identical compiled queries are stored once: when
/// 100,000 subscribers share a vocabulary, most of their topics repeat, and each distinct term
/// and each distinct query is computed once per batch.
#[derive(Debug, Default)]
pub struct QuerySet {
    terms: Vec<Term>,
    term_ids: HashMap<Term, u32>,
    /// Distinct programs, in order of first appearance.
    programs: Vec<Box<[Op]>>,
    program_ids: HashMap<Box<[Op]>, u32>,
    /// QueryId → program.
    queries: Vec<u32>,
    /// The deepest stack any program needs.
    max_depth: usize,
}

impl QuerySet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Compiles `query` into the set.
    pub fn add(&mut self, query: &TopicQuery) -> QueryId {
        let mut ops = Vec::new();
        self.compile(&query.expr, &mut ops);
        let depth = stack_depth(&ops);
        self.max_depth = self.max_depth.max(depth);
        let program = match self.program_ids.get(ops.as_slice()) {
            Some(&id) => id,
            None => {
                let id = self.programs.len() as u32;
                let ops = ops.into_boxed_slice();
                self.programs.push(ops.clone());
                self.program_ids.insert(ops, id);
                id
            }
        };
        let id = QueryId(self.queries.len() as u32);
        self.queries.push(program);
        id
    }

    /// The number of queries added.
    pub fn len(&self) -> usize {
        self.queries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queries.is_empty()
    }

    /// The number of distinct terms across all queries.
    pub fn term_count(&self) -> usize {
        self.terms.len()
    }

    /// The number of distinct compiled queries.
    pub fn distinct_query_count(&self) -> usize {
        self.programs.len()
    }

    /// Matches every query against `index`: each distinct term is resolved against the index
    /// once, then each distinct query runs as a few bitset operations.
    pub fn evaluate(&self, index: &PaperIndex) -> Matches {
        let words = index.word_count();
        let mask = index.last_word_mask();
        let mut sets = Vec::with_capacity(self.terms.len() + self.programs.len());
        let mut scratch = vec![0u64; words];
        for term in &self.terms {
            scratch.fill(0);
            index.resolve(term, &mut scratch);
            sets.push(PaperSet::from_words(&scratch));
        }
        let term_sets = sets.len();
        let mut stack = vec![0u64; self.max_depth.max(1) * words];
        let mut program_slots = Vec::with_capacity(self.programs.len());
        for program in &self.programs {
            // A lone term's set is already there; share it rather than copy it.
            if let [Op::Push(term)] = **program {
                program_slots.push(term);
                continue;
            }
            run(program, &sets[..term_sets], &mut stack, words, mask);
            program_slots.push(sets.len() as u32);
            sets.push(PaperSet::from_words(&stack[..words]));
        }
        Matches {
            sets,
            slots: self
                .queries
                .iter()
                .map(|&p| program_slots[p as usize])
                .collect(),
            paper_count: index.len(),
        }
    }

    fn intern(&mut self, term: &Term) -> u32 {
        if let Some(&id) = self.term_ids.get(term) {
            return id;
        }
        let id = self.terms.len() as u32;
        self.terms.push(term.clone());
        self.term_ids.insert(term.clone(), id);
        id
    }

    fn compile(&mut self, expr: &Expr, ops: &mut Vec<Op>) {
        match expr {
            Expr::Term(term) => ops.push(Op::Push(self.intern(term))),
            Expr::Not(inner) => {
                self.compile(inner, ops);
                ops.push(Op::Not);
            }
            Expr::And(items) => self.compile_items(items, true, ops),
            Expr::Or(items) => self.compile_items(items, false, ops),
        }
    }

    /// AND (or OR) of `items`. A positive item goes first, so that `NOT a b` starts from `b`
    /// and subtracts `a` instead of complementing `a` and intersecting.
    fn compile_items(&mut self, items: &[Expr], and: bool, ops: &mut Vec<Op>) {
        let first = items
            .iter()
            .position(|e| !matches!(e, Expr::Not(_)))
            .unwrap_or(0);
        self.compile(&items[first], ops);
        for (i, item) in items.iter().enumerate() {
            if i == first {
                continue;
            }
            let op = match item {
                Expr::Term(term) => {
                    let t = self.intern(term);
                    if and { Op::AndTerm(t) } else { Op::OrTerm(t) }
                }
                Expr::Not(inner) => match &**inner {
                    Expr::Term(term) => {
                        let t = self.intern(term);
                        if and {
                            Op::AndNotTerm(t)
                        } else {
                            Op::OrNotTerm(t)
                        }
                    }
                    inner => {
                        self.compile(inner, ops);
                        if and { Op::AndNot } else { Op::OrNot }
                    }
                },
                item => {
                    self.compile(item, ops);
                    if and { Op::And } else { Op::Or }
                }
            };
            ops.push(op);
        }
    }
}

/// The most sets `ops` holds on the stack at once.
fn stack_depth(ops: &[Op]) -> usize {
    let mut depth = 0usize;
    let mut max = 0;
    for op in ops {
        match op {
            Op::Push(_) => {
                depth += 1;
                max = max.max(depth);
            }
            Op::And | Op::AndNot | Op::Or | Op::OrNot => depth -= 1,
            _ => {}
        }
    }
    max
}

/// Runs `program`, leaving its result in the first `words` of `stack`.
fn run(program: &[Op], terms: &[PaperSet], stack: &mut [u64], words: usize, mask: u64) {
    let mut top = 0; // sets on the stack
    for &op in program {
        match op {
            Op::Push(t) => {
                stack[top * words..(top + 1) * words].copy_from_slice(terms[t as usize].words());
                top += 1;
            }
            Op::AndTerm(t) => combine(top_set(stack, top, words), &terms[t as usize], |a, b| a & b),
            Op::AndNotTerm(t) => combine(top_set(stack, top, words), &terms[t as usize], |a, b| {
                a & !b
            }),
            Op::OrTerm(t) => combine(top_set(stack, top, words), &terms[t as usize], |a, b| a | b),
            Op::OrNotTerm(t) => {
                let set = top_set(stack, top, words);
                combine(set, &terms[t as usize], |a, b| a | !b);
                clear_past_end(set, mask);
            }
            Op::And | Op::AndNot | Op::Or | Op::OrNot => {
                let (below, above) = stack.split_at_mut((top - 1) * words);
                let a = &mut below[(top - 2) * words..];
                let b = &above[..words];
                let f: fn(u64, u64) -> u64 = match op {
                    Op::And => |a, b| a & b,
                    Op::AndNot => |a, b| a & !b,
                    Op::Or => |a, b| a | b,
                    _ => |a, b| a | !b,
                };
                for (x, &y) in a.iter_mut().zip(b) {
                    *x = f(*x, y);
                }
                if op == Op::OrNot {
                    clear_past_end(a, mask);
                }
                top -= 1;
            }
            Op::Not => {
                let set = top_set(stack, top, words);
                for w in set.iter_mut() {
                    *w = !*w;
                }
                clear_past_end(set, mask);
            }
        }
    }
    debug_assert_eq!(top, 1, "a program leaves exactly one set");
}

fn top_set(stack: &mut [u64], top: usize, words: usize) -> &mut [u64] {
    &mut stack[(top - 1) * words..top * words]
}

#[inline]
fn combine(target: &mut [u64], term: &PaperSet, f: impl Fn(u64, u64) -> u64) {
    for (x, &y) in target.iter_mut().zip(term.words()) {
        *x = f(*x, y);
    }
}

/// Clears the bits past the last paper, which a complement sets.
fn clear_past_end(set: &mut [u64], mask: u64) {
    if let Some(last) = set.last_mut() {
        *last &= mask;
    }
}

/// The papers each query of a [`QuerySet`] matched in one [`PaperIndex`].
#[derive(Debug)]
pub struct Matches {
    /// Term sets first, then the results of programs that are more than one term.
    sets: Vec<PaperSet>,
    /// QueryId → index into `sets`.
    slots: Vec<u32>,
    paper_count: usize,
}

impl Matches {
    /// The papers query `id` matched.
    ///
    /// # Panics
    /// If `id` was not returned by the [`QuerySet`] these matches came from.
    pub fn papers(&self, id: QueryId) -> &PaperSet {
        &self.sets[self.slots[id.0 as usize] as usize]
    }

    /// The papers any of `ids` matched (a subscriber's digest over all of its topics).
    pub fn union_of(&self, ids: impl IntoIterator<Item = QueryId>) -> PaperSet {
        let mut union = PaperSet::empty(self.paper_count);
        for id in ids {
            union.union_with(self.papers(id));
        }
        union
    }

    /// The number of papers in the index these matches are over.
    pub fn paper_count(&self) -> usize {
        self.paper_count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paper::Paper;
    use crate::topics::tests::paper;

    /// 150 papers (three bitset words, the last one partial) drawn from a small vocabulary so
    /// that every query matches some papers and not others.
    fn batch() -> Vec<Paper> {
        const WORDS: [&str; 14] = [
            "alpha",
            "beta",
            "gamma",
            "models",
            "model",
            "diffusion",
            "embedding",
            "embedded",
            "large",
            "language",
            "graph",
            "text-to-image",
            "GPT-4",
            "not",
        ];
        const AUTHORS: [&str; 5] = [
            "Ada Lovelace",
            "Alan Turing",
            "Grace Hopper",
            "Ada Turing",
            "Lovelace Alan",
        ];
        const CATEGORIES: [&str; 4] = ["cs.CL", "cs.LG", "cs.CV", "stat.ML"];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let words = |count: usize, next: &mut dyn FnMut(usize) -> usize| {
            (0..count)
                .map(|_| WORDS[next(WORDS.len())])
                .collect::<Vec<_>>()
                .join(" ")
        };
        (0..150)
            .map(|_| {
                let title = words(1 + next(4), &mut next);
                let summary = words(next(12), &mut next);
                let authors: Vec<&str> = (0..next(3)).map(|_| AUTHORS[next(5)]).collect();
                let categories: Vec<&str> = (0..next(3)).map(|_| CATEGORIES[next(4)]).collect();
                paper(&title, &summary, &authors, &categories)
            })
            .collect()
    }

    const QUERIES: [&str; 38] = [
        "alpha",
        "models",
        "alpha beta",
        "alpha OR beta",
        "alpha OR beta gamma",
        "alpha beta OR gamma",
        "NOT alpha",
        "NOT alpha beta",
        "alpha AND NOT beta",
        "alpha OR NOT beta",
        "NOT (alpha OR beta)",
        "(alpha OR beta) AND NOT (gamma OR diffusion)",
        "(alpha OR NOT beta) (gamma OR NOT diffusion)",
        "alpha OR (beta AND NOT (gamma OR (diffusion NOT large)))",
        "NOT alpha NOT beta NOT gamma",
        "NOT NOT alpha",
        "\"large language model\"",
        "\"alpha beta\" OR \"beta alpha\"",
        "title:alpha",
        "abstract:alpha",
        "title:\"alpha beta\"",
        "abstract:\"gamma graph\"",
        "embed*",
        "title:embed*",
        "abstract:embedded*",
        "text-to-image",
        "GPT-4 NOT text-to-image",
        "not",
        "author:lovelace",
        "author:\"Ada Lovelace\"",
        "author:\"Lovelace Alan\"",
        "author:\"Turing Grace\"",
        "author:tur*",
        "category:cs.CL",
        "category:cs.*",
        "NOT category:stat.ML",
        "category:cs.CV OR author:hopper OR title:graph",
        "absent OR NOT absent",
    ];

    #[test]
    fn evaluate_agrees_with_matching_each_paper() {
        let papers = batch();
        let index = PaperIndex::new(&papers);
        assert_eq!(index.len(), 150);
        let queries: Vec<TopicQuery> = QUERIES
            .iter()
            .map(|q| TopicQuery::parse(q).expect("valid query"))
            .collect();
        let mut set = QuerySet::new();
        let ids: Vec<QueryId> = queries.iter().map(|q| set.add(q)).collect();
        let matches = set.evaluate(&index);
        let mut some_match = 0;
        for (query, &id) in queries.iter().zip(&ids) {
            let expected: Vec<usize> = papers
                .iter()
                .enumerate()
                .filter(|(_, p)| query.matches(p))
                .map(|(i, _)| i)
                .collect();
            let got = matches.papers(id);
            assert_eq!(got.iter().collect::<Vec<_>>(), expected, "{query}");
            assert_eq!(got.len(), expected.len(), "{query}: stray bits");
            if !expected.is_empty() && expected.len() < papers.len() {
                some_match += 1;
            }
        }
        // The batch must actually discriminate, or the comparison above proves little.
        assert!(
            some_match >= QUERIES.len() - 3,
            "only {some_match} queries discriminate"
        );
    }

    #[test]
    fn repeated_terms_and_queries_are_computed_once() {
        let mut set = QuerySet::new();
        let q = |text: &str| TopicQuery::parse(text).expect("valid query");
        let a = set.add(&q("Models AND diffusion"));
        let b = set.add(&q("model diffusions"));
        let c = set.add(&q("diffusion OR model"));
        let d = set.add(&q("model"));
        assert_eq!(set.len(), 4);
        assert_eq!(set.term_count(), 2);
        assert_eq!(set.distinct_query_count(), 3);
        let papers = [
            paper("Diffusion models", "", &[], &[]),
            paper("A model", "", &[], &[]),
        ];
        let matches = set.evaluate(&PaperIndex::new(&papers));
        assert_eq!(matches.papers(a).iter().collect::<Vec<_>>(), [0]);
        assert_eq!(matches.papers(a), matches.papers(b));
        assert_eq!(matches.papers(c).iter().collect::<Vec<_>>(), [0, 1]);
        assert_eq!(matches.papers(d).len(), 2);
        assert_eq!(matches.union_of([a, d]).iter().collect::<Vec<_>>(), [0, 1]);
        assert_eq!(matches.paper_count(), 2);
    }

    #[test]
    fn an_empty_batch_matches_nothing() {
        let mut set = QuerySet::new();
        let id = set.add(&TopicQuery::parse("NOT alpha").expect("valid query"));
        let index = PaperIndex::new(&[]);
        assert!(index.is_empty());
        let matches = set.evaluate(&index);
        assert!(matches.papers(id).is_empty());
        assert!(matches.union_of([id]).is_empty());
    }

    #[test]
    fn complement_covers_exactly_the_batch() {
        for n in [1, 63, 64, 65, 128] {
            let papers: Vec<Paper> = (0..n).map(|_| paper("beta", "", &[], &[])).collect();
            let mut set = QuerySet::new();
            let id = set.add(&TopicQuery::parse("NOT alpha").expect("valid query"));
            let or_not = set.add(&TopicQuery::parse("alpha OR NOT alpha").expect("valid query"));
            let matches = set.evaluate(&PaperIndex::new(&papers));
            assert_eq!(matches.papers(id).len(), n);
            assert_eq!(matches.papers(or_not).len(), n);
        }
    }
}
