//! Paper texts prepared for rendering once, however many digests show them. In a large run
//! each paper enters thousands of digests, and cutting its abstract into words (to mark what
//! matched) and into sentences (to pick the snippet) was a third of rendering one.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

use super::snippet;
use crate::topics::Words;

/// A title or an abstract, cut.
#[derive(Debug)]
pub struct Prepared {
    pub words: Words,
    /// Its sentences' byte ranges (see [`snippet::sentences`]).
    pub sentences: Vec<Range<usize>>,
}

/// Texts already prepared, looked up by their content: the same paper text is the same key
/// whichever run or source brought it.
#[derive(Debug, Default)]
pub struct Memo {
    texts: Mutex<HashMap<String, Arc<Prepared>>>,
}

/// Texts kept before the memo starts afresh: a run's candidates are a few thousand papers,
/// each a title and an abstract, so a daemon's memo never holds more than a couple of runs.
const KEPT: usize = 16_384;

impl Memo {
    /// `text` prepared, now if it was not seen before.
    pub fn get(&self, text: &str) -> Arc<Prepared> {
        let texts = || self.texts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(prepared) = texts().get(text) {
            return Arc::clone(prepared);
        }
        // Prepared outside the lock: two threads may both prepare a new text, which is
        // harmless.
        let prepared = Arc::new(Prepared {
            words: Words::new(text),
            sentences: snippet::sentences(text),
        });
        let mut texts = texts();
        if texts.len() >= KEPT {
            texts.clear();
        }
        texts.insert(text.to_owned(), Arc::clone(&prepared));
        prepared
    }
}
