//! The command line (clap). `main` parses it; `commands` carries it out.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "paperboy",
    version,
    about = "Emails each subscriber a digest of new research papers that match their topics"
)]
pub struct Cli {
    /// The config file [default: $PAPERBOY_CONFIG, else config/paperboy.toml]
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// What `preview` shows of a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PreviewFormat {
    Html,
    Text,
    Eml,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one cycle now: fetch, then compose and deliver a digest for each subscriber
    SendNow {
        /// Only this subscriber (repeat for several)
        #[arg(long, value_name = "EMAIL")]
        subscriber: Vec<String>,
        /// Print what would be sent; send and record nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Render a subscriber's next digest; sends and records nothing
    Preview {
        #[arg(long, value_name = "EMAIL")]
        subscriber: String,
        /// Write it here instead of to standard output
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// The HTML page, the text part, or the whole message as it would be sent
        #[arg(long, value_enum, default_value_t = PreviewFormat::Html)]
        format: PreviewFormat,
    },
    /// Validate the config, every topic query and the templates
    Check {
        /// Also connect to the SMTP server and log in
        #[arg(long)]
        smtp: bool,
    },
    /// Fetch the sources into the state database and print the new papers
    Fetch {
        /// Also fill in everything announced since this day (at most 30 days back): the arXiv
        /// API for the configured categories, and Hugging Face's list of each day
        #[arg(long, value_name = "YYYY-MM-DD")]
        since: Option<chrono::NaiveDate>,
    },
    /// Show each subscriber's last digest, the pending and failed deliveries, and who
    /// unsubscribed
    Status,
    /// Put digests back in the outbox to be sent at the next run: those waiting for their next
    /// attempt (at once), and with --failed those that failed for good too
    Retry {
        /// Also the digests that failed for good (a 5xx reply), e.g. once an address is fixed
        #[arg(long)]
        failed: bool,
    },
    /// Undo a one-click unsubscribe: the address gets its digests again
    Resubscribe {
        #[arg(value_name = "EMAIL")]
        email: String,
    },
    /// Run the service: fetch and send on schedule until SIGTERM; SIGHUP reloads the config
    Run,
}
