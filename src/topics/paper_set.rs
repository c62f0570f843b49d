//! A set of papers of one index, as a bitset.

/// A set of papers of one [`PaperIndex`](super::PaperIndex): bit `i` is paper `i`.
///
/// A batch of 1,000 papers is 16 words, so set operations are a handful of instructions and a
/// set is 128 bytes. Bits at or past the index's length are always zero.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PaperSet {
    words: Box<[u64]>,
}

impl PaperSet {
    /// The empty set over an index of `paper_count` papers.
    pub fn empty(paper_count: usize) -> Self {
        PaperSet {
            words: vec![0; paper_count.div_ceil(64)].into_boxed_slice(),
        }
    }

    /// The set of `indexes` over an index of `paper_count` papers (those past it are left out).
    pub fn of(paper_count: usize, indexes: impl IntoIterator<Item = usize>) -> Self {
        let mut set = PaperSet::empty(paper_count);
        for i in indexes.into_iter().filter(|&i| i < paper_count) {
            set.words[i / 64] |= 1 << (i % 64);
        }
        set
    }

    pub(crate) fn from_words(words: &[u64]) -> Self {
        PaperSet {
            words: words.into(),
        }
    }

    pub(crate) fn words(&self) -> &[u64] {
        &self.words
    }

    /// Whether paper `i` of the index is in the set (false past the end).
    pub fn contains(&self, i: usize) -> bool {
        self.words
            .get(i / 64)
            .is_some_and(|w| (w >> (i % 64)) & 1 == 1)
    }

    /// The number of papers in the set.
    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// The papers' indexes, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words
            .iter()
            .enumerate()
            .flat_map(|(i, &word)| Bits { word, base: i * 64 })
    }

    /// Adds every paper of `other`, a set over the same index.
    pub fn union_with(&mut self, other: &PaperSet) {
        debug_assert_eq!(
            self.words.len(),
            other.words.len(),
            "sets of different indexes"
        );
        for (a, b) in self.words.iter_mut().zip(other.words.iter()) {
            *a |= b;
        }
    }
}

/// The set bits of one word, as paper indexes.
struct Bits {
    word: u64,
    base: usize,
}

impl Iterator for Bits {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.word == 0 {
            return None;
        }
        let bit = self.word.trailing_zeros() as usize;
        self.word &= self.word - 1;
        Some(self.base + bit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterates_contains_and_counts_across_words() {
        let mut words = vec![0u64; 3];
        for i in [0, 63, 64, 130] {
            words[i / 64] |= 1 << (i % 64);
        }
        let set = PaperSet::from_words(&words);
        assert_eq!(set.iter().collect::<Vec<_>>(), [0, 63, 64, 130]);
        assert_eq!(set.len(), 4);
        assert!(set.contains(64) && !set.contains(65) && !set.contains(10_000));
        assert!(!set.is_empty());
        assert!(PaperSet::empty(130).is_empty());
        assert_eq!(PaperSet::of(131, [0, 63, 64, 130, 500]), set);
        let mut union = PaperSet::empty(130);
        union.union_with(&set);
        assert_eq!(union, set);
    }
}
