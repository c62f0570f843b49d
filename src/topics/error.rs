//! The error a topic query can fail to parse with.

use std::fmt;

/// Why a topic query could not be parsed, and where.
///
/// Displays as a short sentence followed by ` (column N)`, N being the 1-based character column
/// of the problem; an error at the end of the query points just past its last character. Callers
/// that know where the query came from prefix their own context, e.g.
/// `subscribers[3].topics[1] "diffusion AND": query ends after AND (column 14)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryError {
    message: String,
    column: usize,
}

impl QueryError {
    pub(crate) fn new(message: impl Into<String>, column: usize) -> Self {
        QueryError {
            message: message.into(),
            column,
        }
    }

    /// The 1-based character column the error points at.
    pub fn column(&self) -> usize {
        self.column
    }

    /// The sentence without the column suffix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (column {})", self.message, self.column)
    }
}

impl std::error::Error for QueryError {}
