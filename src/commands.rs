//! Each command of the command line, wiring the stages together: fetch → compose → deliver.
//! Results go to standard output, logs to standard error.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};

use crate::cli::{Cli, Command};
use crate::config::{Config, Subscriber, TransportConfig};
use crate::deliver::{self, Mailer, SmtpTransport};
use crate::digest::{self, Outcome};
use crate::render::Renderer;
use crate::source::{self, FetchSummary};
use crate::stop::Stop;
use crate::store::Store;

/// How a command ended, as the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    /// Some digests failed or are still pending, or every source failed.
    Failure = 1,
    /// A usage or config error.
    Usage = 2,
}

/// A mistake in how Paperboy was called or configured (exit code 2), as opposed to something
/// that went wrong while running (exit code 1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

pub async fn run(cli: Cli) -> anyhow::Result<Exit> {
    let path = crate::config::resolve_path(cli.config);
    let config = Config::load(&path)?;
    if !matches!(cli.command, Command::Check { .. }) {
        config.log_warnings();
    }
    match cli.command {
        Command::SendNow {
            subscriber,
            dry_run,
        } => send_now(&config, &subscriber, dry_run).await,
        Command::Run => crate::daemon::run(path, config).await,
        Command::Preview { subscriber, out } => preview(&config, &subscriber, out.as_deref()).await,
        Command::Check { smtp } => check(&config, smtp).await,
        Command::Fetch => fetch(&config).await,
        Command::Status => status(&config),
    }
}

/// One full cycle now for all subscribers, or those named.
async fn send_now(config: &Config, only: &[String], dry_run: bool) -> anyhow::Result<Exit> {
    let subscribers = select_subscribers(config, only)?;
    let renderer = renderer(config)?;
    let mut store = open_store(config, dry_run)?;
    // The moment the run started is its slot: two runs are two periods.
    let slot = Utc::now();
    let fetched = fetch_sources(&mut store, config, slot).await?;
    let composed = digest::compose_all(
        &mut store,
        config,
        &renderer,
        &subscribers,
        slot,
        &Stop::never(),
    )
    .await?;

    let mut out = std::io::stdout().lock();
    let mut compose_failures = 0;
    for (subscriber, outcome) in &composed {
        let email = &subscriber.email;
        match outcome {
            Ok(Outcome::Queued { rendered, titles }) => {
                let verb = if dry_run { "would send" } else { "queued" };
                writeln!(
                    out,
                    "{email}: {verb} {} — {:?}",
                    count(titles.len(), "paper"),
                    rendered.subject
                )?;
                if dry_run {
                    for (i, title) in titles.iter().enumerate() {
                        writeln!(out, "  {}. {title}", i + 1)?;
                    }
                }
            }
            Ok(Outcome::Nothing(reason)) => writeln!(out, "{email}: nothing to send: {reason}")?,
            Ok(Outcome::AlreadyComposed) => {
                writeln!(out, "{email}: this period's digest was composed before")?
            }
            Err(e) => {
                compose_failures += 1;
                writeln!(out, "{email}: cannot compose the digest: {e}")?;
            }
        }
    }
    if dry_run {
        writeln!(out, "dry run: nothing was sent or recorded")?;
        return Ok(exit_for(&fetched, compose_failures, 0));
    }

    let mailer = mailer(config)?;
    let everyone: Vec<String> = config.subscribers.iter().map(|s| s.key.clone()).collect();
    let removed = store.fail_unsubscribed(&everyone, slot, Utc::now())?;
    if removed > 0 {
        writeln!(
            out,
            "{removed} pending digest(s) of removed subscribers left the outbox"
        )?;
    }
    let recipients: Vec<String> = subscribers.iter().map(|s| s.key.clone()).collect();
    let report = deliver::deliver_pending(
        &mut store,
        &mailer,
        &config.delivery,
        &config.mail.from.email,
        &recipients,
        &Stop::never(),
    )
    .await?;
    let failed = report.failed + compose_failures;
    writeln!(
        out,
        "sent {}, pending {}, failed {}",
        report.sent, report.pending, failed
    )?;
    if report.claimed_elsewhere > 0 {
        writeln!(
            out,
            "{} of the pending are being sent by another paperboy process",
            report.claimed_elsewhere
        )?;
    }
    if report.pending > 0 {
        writeln!(
            out,
            "pending digests stay in the outbox and are retried by the next run"
        )?;
    }
    Ok(exit_for(&fetched, failed, report.pending))
}

fn exit_for(fetched: &FetchSummary, failed: usize, pending: usize) -> Exit {
    if failed > 0 || pending > 0 || fetched.all_failed() {
        Exit::Failure
    } else {
        Exit::Success
    }
}

/// Renders a subscriber's next digest to HTML, recording nothing.
async fn preview(config: &Config, email: &str, out: Option<&Path>) -> anyhow::Result<Exit> {
    let mut subscriber = select_subscribers(config, &[email.to_string()])?[0].clone();
    // A preview shows the digest even when it would be empty.
    subscriber.send_empty = true;
    let renderer = renderer(config)?;
    let mut store = open_store(config, true)?;
    let now = Utc::now();
    fetch_sources(&mut store, config, now).await?;
    let composed = digest::compose_all(
        &mut store,
        config,
        &renderer,
        &[&subscriber],
        now,
        &Stop::never(),
    )
    .await?;
    let Some((_, outcome)) = composed.into_iter().next() else {
        bail!("no digest was composed for {email}");
    };
    let Outcome::Queued { rendered, titles } = outcome? else {
        bail!("no digest was composed for {email}");
    };
    eprintln!(
        "{email}: {} — {:?}",
        count(titles.len(), "paper"),
        rendered.subject
    );
    match out {
        Some(path) => std::fs::write(path, &rendered.html)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout().write_all(rendered.html.as_bytes())?,
    }
    Ok(Exit::Success)
}

/// The config was validated by loading it; this adds the templates and, if asked, the SMTP
/// server.
async fn check(config: &Config, smtp: bool) -> anyhow::Result<Exit> {
    renderer(config)?;
    for warning in &config.warnings {
        println!("warning: {warning}");
    }
    let topics: usize = config.subscribers.iter().map(|s| s.topics.len()).sum();
    println!(
        "{}: OK ({}, {}, templates compiled)",
        config.path.display(),
        count(config.subscribers.len(), "subscriber"),
        count(topics, "topic")
    );
    if smtp {
        match &config.delivery.transport {
            TransportConfig::File { .. } => {
                println!("delivery.transport is \"file\": there is no SMTP server to check")
            }
            TransportConfig::Smtp(settings) => {
                let address = format!("{}:{}", settings.host, settings.port);
                SmtpTransport::new(settings)
                    .map_err(|e| UsageError(e.to_string()))?
                    .test_connection()
                    .await
                    .with_context(|| format!("SMTP server {address}"))?;
                let login = if settings.credentials.is_some() {
                    " and logged in"
                } else {
                    ""
                };
                println!("SMTP server {address}: connected{login}");
            }
        }
    }
    Ok(Exit::Success)
}

async fn fetch(config: &Config) -> anyhow::Result<Exit> {
    let mut store = open_store(config, false)?;
    let summary = fetch_sources(&mut store, config, Utc::now()).await?;
    let mut out = std::io::stdout().lock();
    for p in &summary.new {
        writeln!(out, "{}  {}  ({} upvotes)", p.arxiv_id, p.title, p.upvotes)?;
    }
    writeln!(
        out,
        "{} new, {} refreshed, {} of {} sources failed",
        summary.new.len(),
        summary.updated,
        summary.failures.len(),
        summary.sources
    )?;
    Ok(if summary.all_failed() {
        Exit::Failure
    } else {
        Exit::Success
    })
}

fn status(config: &Config) -> anyhow::Result<Exit> {
    if !config.state_path.exists() {
        println!(
            "no digests yet: the state database {} does not exist",
            config.state_path.display()
        );
        return Ok(Exit::Success);
    }
    let store = open_store(config, false)?;
    let records = store.digest_records()?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<32} {:<20} {:<8} {:>6}  note",
        "subscriber", "last digest", "status", "papers"
    )?;
    for subscriber in &config.subscribers {
        let key = &subscriber.key;
        match records.iter().find(|r| r.subscriber == *key) {
            Some(r) => writeln!(
                out,
                "{key:<32} {:<20} {:<8} {:>6}  {}",
                r.slot.format("%Y-%m-%d %H:%M UTC"),
                r.status,
                r.papers,
                r.reason
                    .as_deref()
                    .or(r.last_error.as_deref())
                    .unwrap_or("")
            )?,
            None => writeln!(out, "{key:<32} {:<20}", "never")?,
        }
    }
    let outbox: Vec<_> = records
        .iter()
        .filter(|r| r.status == "pending" || r.status == "failed")
        .collect();
    let pending = outbox.iter().filter(|r| r.status == "pending").count();
    writeln!(
        out,
        "\noutbox: {pending} pending, {} failed",
        outbox.len() - pending
    )?;
    for r in outbox {
        writeln!(
            out,
            "  #{} {} {} ({}), {} attempt(s): {}",
            r.id,
            r.subscriber,
            r.status,
            r.slot.format("%Y-%m-%d %H:%M UTC"),
            r.attempts,
            r.last_error.as_deref().unwrap_or("not tried yet")
        )?;
    }
    Ok(Exit::Success)
}

fn select_subscribers<'c>(
    config: &'c Config,
    only: &[String],
) -> anyhow::Result<Vec<&'c Subscriber>> {
    if only.is_empty() {
        return Ok(config.subscribers.iter().collect());
    }
    only.iter()
        .map(|email| {
            config.subscriber(email).ok_or_else(|| {
                UsageError(format!(
                    "{email} is not a subscriber in {}",
                    config.path.display()
                ))
                .into()
            })
        })
        .collect()
}

/// The config's templates, compiled; a mistake in them is a config error.
pub(crate) fn renderer(config: &Config) -> anyhow::Result<Renderer> {
    Renderer::new(&config.mail.subject, config.mail.templates_dir.as_deref())
        .map_err(|e| UsageError(e.to_string()).into())
}

/// The config's transport; one that cannot be set up is a config error.
pub(crate) fn mailer(config: &Config) -> anyhow::Result<Mailer> {
    Mailer::new(&config.delivery.transport).map_err(|e| UsageError(e.to_string()).into())
}

fn open_store(config: &Config, dry_run: bool) -> anyhow::Result<Store> {
    let store = if dry_run {
        Store::open_dry_run(&config.state_path)
    } else {
        Store::open(&config.state_path)
    };
    Ok(store?)
}

async fn fetch_sources(
    store: &mut Store,
    config: &Config,
    now: DateTime<Utc>,
) -> anyhow::Result<FetchSummary> {
    let sources = source::from_config(&config.sources);
    let http = source::http_client().context("cannot set up the HTTP client")?;
    let summary = source::fetch_into(store, &sources, &http, now).await?;
    if summary.all_failed() {
        tracing::error!("every source failed; composing from the papers already stored");
    }
    Ok(summary)
}

/// "1 paper", "3 papers".
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
