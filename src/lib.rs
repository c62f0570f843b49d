//! Paperboy: emails each subscriber a personalised digest of new and trending research papers.
//!
//! Layers, each using only those below it: `main` → `commands` (one function per command of
//! the `cli`) → `daemon` and `pipeline` (one run's fetch → compose → deliver) → `app` (what a
//! config builds: templates, transport, sources, HTTP client, state) → the stages: `source`
//! fetches papers into the `store`; `digest` chooses each subscriber's papers with `topics`
//! and renders them with `render` into a `message`; `deliver` sends what the outbox holds.
//! `error` holds the error every command returns and the exit code it maps to.

// The daemon speaks systemd's notify protocol over Linux's abstract sockets and stops on unix
// signals; nothing else is tested.
#[cfg(not(target_os = "linux"))]
compile_error!("Paperboy runs on Linux only (systemd notify sockets, unix signals)");

pub mod app;
pub mod category;
pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod deliver;
pub mod digest;
pub mod dkim;
pub mod error;
pub mod message;
pub mod paper;
pub mod pipeline;
pub mod progress;
pub mod render;
pub mod schedule;
pub mod similar;
pub mod source;
pub mod stop;
pub mod store;
pub mod tls;
pub mod topics;
pub mod unsubscribe;
pub mod web;

/// An error and all its causes on one line: library errors often say only "error sending
/// request" at the top and the useful part ("connection refused") below.
pub fn error_chain(error: &dyn std::error::Error) -> String {
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
