//! Paperboy: emails each subscriber a personalised digest of new and trending research papers.
//!
//! The pipeline, one module per stage: `source` fetches papers into the `store`; `digest`
//! chooses each subscriber's papers with `topics`, renders them with `render` into a
//! `message`, and puts it in the outbox; `deliver` sends what the outbox holds. `commands`
//! wires the stages together for each command of the `cli`.

pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod deliver;
pub mod digest;
pub mod message;
pub mod paper;
pub mod render;
pub mod schedule;
pub mod source;
pub mod stop;
pub mod store;
pub mod tls;
pub mod topics;

/// An error and all its causes on one line: library errors often say only "error sending
/// request" at the top and the useful part ("connection refused") below.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some errors repeat their cause in their own message.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
