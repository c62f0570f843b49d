//! The `paperboy` binary: parse the command line, run the command, map the result to an exit
//! code. Everything else lives in the library.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use paperboy::cli::Cli;
use paperboy::commands;
use paperboy::error::Exit;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("paperboy: cannot start the async runtime: {e}");
            return ExitCode::from(Exit::Failure as u8);
        }
    };
    let result = runtime.block_on(commands::run(cli));
    // Blocking tasks (a DNS lookup of a send cut off at stop) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    let exit = match result {
        Ok(exit) => exit,
        Err(error) => {
            eprintln!("paperboy: {}", paperboy::error_chain(&error));
            error.exit()
        }
    };
    ExitCode::from(exit as u8)
}

/// Logs go to standard error; `RUST_LOG` sets the level. Under systemd (`JOURNAL_STREAM` set)
/// the journal adds its own timestamps.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| paperboy::progress::LogWriter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.without_time().init();
    } else {
        builder.init();
    }
}
