//! Each command of the command line over the application core and the pipeline. Results go
//! to standard output, logs to standard error.

use std::io::Write;
use std::path::Path;

use chrono::{NaiveDate, Utc};

use crate::app::{self, App};
use crate::cli::{Cli, Command, PreviewFormat};
use crate::config::{self, Config, Subscriber};
use crate::deliver::Transport;
use crate::digest::{Keep, NothingReason, Outcome};
use crate::error::{Error, Exit};
use crate::pipeline::{self, FetchSummary};
use crate::render::plural;
use crate::stop::Stop;
use crate::store::{DigestStatus, Unsubscribed};

pub async fn run(cli: Cli) -> Result<Exit, Error> {
    let path = config::resolve_path(cli.config);
    match cli.command {
        Command::Check { smtp } => check(&path, smtp).await,
        Command::Status => {
            let config = Config::load_serving(&path)?;
            config.log_problems();
            status(&config)
        }
        Command::SendNow {
            subscriber,
            dry_run,
        } => {
            let app = App::load(&path)?;
            let state = app.config.state_path.clone();
            send_now(&app, &subscriber, dry_run)
                .await
                .map_err(|e| e.naming_state(&state))
        }
        Command::Run => {
            let app = App::load(&path)?;
            let state = app.config.state_path.clone();
            crate::daemon::run(path.clone(), app)
                .await
                .map_err(|e| e.naming_state(&state))
        }
        Command::Preview {
            subscriber,
            out,
            format,
        } => preview(&App::load(&path)?, &subscriber, out.as_deref(), format).await,
        Command::Fetch { since } => {
            let app = App::load(&path)?;
            fetch(&app, since)
                .await
                .map_err(|e| e.naming_state(&app.config.state_path))
        }
        Command::Resubscribe { email } => {
            let config = Config::load_serving(&path)?;
            config.log_problems();
            resubscribe(&config, &email)
        }
        Command::Retry { failed } => {
            let config = Config::load_serving(&path)?;
            config.log_problems();
            retry(&config, failed)
        }
    }
}

/// One full cycle now for all subscribers, or those named.
async fn send_now(app: &App, only: &[String], dry_run: bool) -> Result<Exit, Error> {
    crate::progress::show_bars();
    let subscribers = select_subscribers(&app.config, only)?;
    let store = if dry_run {
        app.open_dry_run_store()?
    } else {
        app.open_store()?
    };
    // The moment the run started is its slot: two runs are two periods.
    let slot = Utc::now();
    let fetched = pipeline::fetch(app, &store, slot, None).await?;
    let keep = if dry_run { Keep::Titles } else { Keep::Summary };
    let named = (!only.is_empty()).then_some(&subscribers[..]);
    // Sending starts with the first digests composed, on the runtime's workers, while this
    // thread composes the rest.
    let (to_send, delivering) = if dry_run {
        (None, None)
    } else {
        let (to_send, delivering) =
            pipeline::deliver_while_composing(app, &store, named, &Stop::never());
        (Some(to_send), Some(delivering))
    };
    let composed = pipeline::compose(
        app,
        &store,
        &subscribers,
        (slot, keep),
        &Stop::never(),
        to_send.as_ref(),
    )
    .await;
    // Nothing more to send: the delivery goes on to whatever else is pending.
    drop(to_send);
    let composed = composed?;

    let mut out = Vec::new();
    let mut compose_failures = 0;
    for (subscriber, outcome) in &composed {
        let email = &subscriber.email;
        match outcome {
            Ok(Outcome::Queued(queued)) => {
                let verb = if dry_run { "would send" } else { "queued" };
                writeln!(
                    out,
                    "{email}: {verb} {} — {:?}",
                    plural(queued.papers, "paper"),
                    queued.subject
                )?;
                for (i, title) in queued.titles.iter().enumerate() {
                    writeln!(out, "  {}. {title}", i + 1)?;
                }
            }
            Ok(Outcome::Nothing(reason)) => writeln!(
                out,
                "{email}: nothing to send: {}",
                nothing_reason(*reason, &fetched)
            )?,
            Ok(Outcome::AlreadyComposed) => {
                writeln!(out, "{email}: this period's digest was composed before")?
            }
            Ok(Outcome::Unsubscribed) => writeln!(
                out,
                "{email}: unsubscribed, nothing composed (`paperboy resubscribe {email}` undoes it)"
            )?,
            Err(e) => {
                compose_failures += 1;
                writeln!(out, "{email}: cannot compose the digest: {e}")?;
            }
        }
    }
    let Some(delivering) = delivering else {
        let skipped = write_skipped(&mut out, &app.config, only)?;
        writeln!(out, "dry run: nothing was sent or recorded")?;
        emit(&out)?;
        return Ok(exit_for(&fetched, compose_failures + skipped, 0));
    };

    let delivered = delivering
        .await
        .map_err(|e| anyhow::anyhow!("the delivery stopped short: {e}"))??;
    let (report, removed) = (delivered.report, delivered.removed);
    if removed > 0 {
        writeln!(
            out,
            "{removed} pending digest(s) of removed subscribers left the outbox"
        )?;
    }
    let failed = report.failed + compose_failures;
    writeln!(
        out,
        "sent {}, pending {}, failed {}",
        report.sent, report.pending, failed
    )?;
    let skipped = write_skipped(&mut out, &app.config, only)?;
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
    emit(&out)?;
    Ok(exit_for(&fetched, failed + skipped, report.pending))
}

/// Says who was skipped for problems of their own (all of them, or those `only` names), each
/// with their problems; how many.
fn write_skipped(out: &mut Vec<u8>, config: &Config, only: &[String]) -> Result<usize, Error> {
    let skipped: Vec<_> = config
        .skipped
        .iter()
        .filter(|s| {
            only.is_empty()
                || s.key
                    .as_deref()
                    .is_some_and(|k| only.iter().any(|o| o.eq_ignore_ascii_case(k)))
        })
        .collect();
    for s in &skipped {
        let who = s.key.as_deref().unwrap_or(&s.place);
        writeln!(
            out,
            "{who}: skipped, nothing composed: the config has {} of theirs:",
            plural(s.problems.len(), "problem")
        )?;
        for problem in &s.problems {
            writeln!(out, "  - {problem}")?;
        }
    }
    if !skipped.is_empty() {
        writeln!(
            out,
            "{} skipped for problems in the config; `paperboy check` lists them",
            plural(skipped.len(), "subscriber")
        )?;
    }
    Ok(skipped.len())
}

fn exit_for(fetched: &FetchSummary, failed: usize, pending: usize) -> Exit {
    if failed > 0 || pending > 0 || fetched.all_failed() {
        Exit::Failure
    } else {
        Exit::Success
    }
}

/// Why a subscriber got nothing: after a fetch that failed, "no new papers" is the fetch's
/// doing, not a quiet day's.
fn nothing_reason(reason: NothingReason, fetched: &FetchSummary) -> String {
    if reason == NothingReason::NoNewPapers && fetched.all_failed() {
        let failed: Vec<&str> = fetched.failures.iter().map(|(name, _)| *name).collect();
        format!(
            "fetching failed ({}) and no stored paper is new to them",
            failed.join(", ")
        )
    } else {
        reason.to_string()
    }
}

/// Renders a subscriber's next digest, recording nothing: the HTML, the text part, or the
/// message as it would go out.
async fn preview(
    app: &App,
    email: &str,
    out: Option<&Path>,
    format: PreviewFormat,
) -> Result<Exit, Error> {
    if let Some(skipped) = app.config.skipped_subscriber(email) {
        return Err(Error::Usage(format!(
            "{email} is skipped: their settings in {} have problems: {}",
            app.config.path.display(),
            skipped.problems.join("; ")
        )));
    }
    let mut subscriber = select_subscribers(&app.config, &[email.to_string()])?
        .first()
        .copied()
        .cloned()
        .ok_or_else(|| Error::Usage(format!("{email} is not a subscriber")))?;
    // A preview shows the digest even when it would be empty.
    subscriber.send_empty = true;
    let store = app.open_dry_run_store()?;
    let now = Utc::now();
    pipeline::fetch(app, &store, now, None).await?;
    let composed = pipeline::compose(
        app,
        &store,
        &[&subscriber],
        (now, Keep::Rendered),
        &Stop::never(),
        None,
    )
    .await?;
    let outcome = composed.into_iter().next().map(|(_, outcome)| outcome);
    let (rendered, papers) = match outcome {
        Some(Ok(Outcome::Queued(queued))) => match queued.rendered {
            Some(rendered) => (rendered, queued.papers),
            None => return Err(anyhow::anyhow!("no digest was rendered for {email}").into()),
        },
        Some(Err(e)) => return Err(anyhow::Error::from(e).context(email.to_string()).into()),
        Some(Ok(Outcome::Unsubscribed)) => {
            return Err(Error::Usage(format!(
                "{email} unsubscribed: no digest is composed for them (`paperboy resubscribe {email}` undoes it)"
            )));
        }
        _ => return Err(anyhow::anyhow!("no digest was composed for {email}").into()),
    };
    eprintln!(
        "{email}: {} — {:?}",
        plural(papers, "paper"),
        rendered.subject
    );
    let bytes = match format {
        PreviewFormat::Html => rendered.html.into_bytes(),
        PreviewFormat::Text => rendered.text.into_bytes(),
        // The in-memory outbox holds it as it would be sent.
        PreviewFormat::Eml => {
            let key = subscriber.key.clone();
            let pending = store.run(move |s| s.pending(Some(&[key]))).await?;
            pending
                .into_iter()
                .next()
                .map(|item| item.message)
                .ok_or_else(|| anyhow::anyhow!("no message was composed for {email}"))?
        }
    };
    match out {
        Some(path) => std::fs::write(path, &bytes).map_err(|e| {
            anyhow::Error::from(e).context(format!("cannot write {}", path.display()))
        })?,
        None => emit(&bytes)?,
    }
    Ok(Exit::Success)
}

/// Builds exactly what `run` builds, checks the state can be written, and with `smtp`
/// connects and logs in: one verdict line for each.
async fn check(path: &Path, smtp: bool) -> Result<Exit, Error> {
    // Global problems fail the load, listed with the subscribers' own; with only the
    // latter, the rest is still built and checked, and they are reported after.
    let app = App::build(Config::load_serving(path)?)?;
    let config = &app.config;
    app::check_state_path(&config.state_path)?;
    if let Some(skipped) = config.skipped_error() {
        return Err(skipped.into());
    }
    let mut out = Vec::new();
    for warning in &config.warnings {
        writeln!(out, "warning: {warning}")?;
    }
    let topics: usize = config.subscribers.iter().map(|s| s.topics.len()).sum();
    writeln!(
        out,
        "{}: OK ({}, {}, templates compiled, state folder writable)",
        config.path.display(),
        plural(config.subscribers.len(), "subscriber"),
        plural(topics, "topic")
    )?;
    if let Some(web) = &config.web {
        writeln!(
            out,
            "web: one-click unsubscribe links to {}{}, answered by `run` on {}",
            web.base_url,
            crate::unsubscribe::PATH,
            web.listen
        )?;
    }
    if let Some(dkim) = &config.mail.dkim {
        // The value alone on its line, ready to paste into a DNS provider's form.
        writeln!(
            out,
            "DKIM: signing as {} ({} key); publish the DNS TXT record {}:\n  {}",
            dkim.domain(),
            dkim.key_description(),
            dkim.dns_name(),
            dkim.dns_record()
        )?;
    }
    // The config's verdict is out before the SMTP server is asked, which may take a while.
    emit(&out)?;
    if !smtp {
        return Ok(Exit::Success);
    }
    let Transport::Smtp(transport) = &app.mailer.transport else {
        emit(b"SMTP: not checked: delivery.transport is \"file\", there is no SMTP server to check\n")?;
        return Ok(Exit::Success);
    };
    let address = transport.address();
    let (verdict, exit) = match transport.test_connection().await {
        Ok(()) => {
            let login = if transport.logs_in() {
                " and logged in"
            } else {
                ""
            };
            (
                format!("SMTP server {address}: OK (connected{login})"),
                Exit::Success,
            )
        }
        Err(e) => (format!("SMTP server {address}: FAILED: {e}"), Exit::Failure),
    };
    emit(format!("{verdict}\n").as_bytes())?;
    Ok(exit)
}

/// How far back `fetch --since` may reach: arXiv's API serves a day of a busy category in a
/// few pages, three seconds apart, so a month is minutes of asking.
const MAX_BACKFILL_DAYS: i64 = 30;

async fn fetch(app: &App, since: Option<NaiveDate>) -> Result<Exit, Error> {
    let now = Utc::now();
    if let Some(since) = since {
        let days = (now.date_naive() - since).num_days();
        if !(0..=MAX_BACKFILL_DAYS).contains(&days) {
            return Err(Error::Usage(format!(
                "--since {since}: must be a day from {} to today",
                now.date_naive() - chrono::Duration::days(MAX_BACKFILL_DAYS)
            )));
        }
    }
    let store = app.open_store()?;
    let summary = pipeline::fetch(app, &store, now, since).await?;
    let mut out = Vec::new();
    for p in &summary.new {
        match p.upvotes {
            Some(upvotes) => writeln!(
                out,
                "{}  {}  ({})",
                p.arxiv_id,
                p.title,
                plural(upvotes as usize, "upvote")
            )?,
            None => writeln!(out, "{}  {}", p.arxiv_id, p.title)?,
        }
    }
    writeln!(
        out,
        "{} new, {} refreshed, {} of {} sources failed",
        summary.new.len(),
        summary.updated,
        summary.failures.len(),
        summary.sources
    )?;
    emit(&out)?;
    Ok(if summary.all_failed() {
        Exit::Failure
    } else {
        Exit::Success
    })
}

/// How many of each kind of outbox entry `status` lists; the counts are whole.
const STATUS_LISTED: usize = 50;

/// Each subscriber's last delivered digest and last period, then the outbox.
fn status(config: &Config) -> Result<Exit, Error> {
    let mut out = Vec::new();
    if !config.state_path.exists() {
        writeln!(
            out,
            "no digests yet: the state database {} does not exist",
            config.state_path.display()
        )?;
        write_skipped_status(&mut out, config)?;
        emit(&out)?;
        return Ok(Exit::Success);
    }
    let store = app::open_state(&config.state_path)?;
    let unsubscribed = store.unsubscribed()?;
    let time = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    writeln!(
        out,
        "{:<32} {:<20} {:>6}  last period",
        "subscriber", "last sent", "papers"
    )?;
    for subscriber in &config.subscribers {
        let key = &subscriber.key;
        let record = store.subscriber_record(key)?;
        let (sent, papers) = match &record.last_sent {
            Some(d) => (
                d.sent_at.map_or_else(|| time(d.slot), time),
                d.papers.to_string(),
            ),
            None => ("never".to_string(), String::new()),
        };
        let period = match &record.last_period {
            Some((slot, Some(reason))) => format!("{}: nothing to send: {reason}", time(*slot)),
            Some((slot, None)) => format!("{}: digest composed", time(*slot)),
            None => "none yet".to_string(),
        };
        let period = match unsubscribed.iter().find(|u| &u.subscriber == key) {
            Some(u) => format!("unsubscribed {}", time(u.at)),
            None => period,
        };
        writeln!(out, "{key:<32} {sent:<20} {papers:>6}  {period}")?;
    }
    write_skipped_status(&mut out, config)?;
    let (pending, failed) = store.outbox_counts()?;
    writeln!(out, "\noutbox: {pending} pending, {failed} failed")?;
    for (status, count) in [
        (DigestStatus::Pending, pending),
        (DigestStatus::Failed, failed),
    ] {
        let listed = store.outbox(status, STATUS_LISTED)?;
        for r in &listed {
            writeln!(
                out,
                "  #{} {} {} ({}), {} attempt(s): {}",
                r.id,
                r.subscriber,
                r.status,
                time(r.slot),
                r.attempts,
                r.last_error.as_deref().unwrap_or("not tried yet")
            )?;
        }
        if count > listed.len() {
            writeln!(out, "  … and {} older {status}", count - listed.len())?;
        }
    }
    write_unsubscribed(&mut out, config, &unsubscribed)?;
    emit(&out)?;
    Ok(Exit::Success)
}

/// The subscribers skipped for problems of their own, each with them.
fn write_skipped_status(out: &mut Vec<u8>, config: &Config) -> Result<(), Error> {
    if config.skipped.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "\nskipped for problems in the config: {}",
        config.skipped.len()
    )?;
    for skipped in &config.skipped {
        let who = match &skipped.key {
            Some(key) => format!("{key} ({})", skipped.place),
            None => skipped.place.clone(),
        };
        writeln!(out, "  {who}: {}", skipped.problems.join("; "))?;
    }
    Ok(())
}

/// The addresses that unsubscribed, the latest first, with what became of their digests.
fn write_unsubscribed(
    out: &mut Vec<u8>,
    config: &Config,
    unsubscribed: &[Unsubscribed],
) -> Result<(), Error> {
    writeln!(
        out,
        "
unsubscribed: {}",
        unsubscribed.len()
    )?;
    for u in unsubscribed {
        let withdrawn = match u.withdrawn {
            0 => String::new(),
            n => format!(", {} withdrawn unsent", plural(n, "digest")),
        };
        let listed = if config.subscriber(&u.subscriber).is_some() {
            ""
        } else {
            " (not in the config)"
        };
        writeln!(
            out,
            "  {} since {} ({}){withdrawn}{listed}",
            u.subscriber,
            u.at.format("%Y-%m-%d %H:%M UTC"),
            u.how
        )?;
    }
    if !unsubscribed.is_empty() {
        writeln!(out, "  `paperboy resubscribe EMAIL` undoes an unsubscribe")?;
    }
    Ok(())
}

/// Undoes a one-click unsubscribe. Beside a running daemon too: it reads who unsubscribed
/// from the state at each digest.
/// Makes waiting digests due now, and with `failed` puts failed ones back in the outbox.
fn retry(config: &Config, failed: bool) -> Result<Exit, Error> {
    if !config.state_path.exists() {
        emit(b"nothing to retry: there is no state database yet\n")?;
        return Ok(Exit::Success);
    }
    let mut store = app::open_state(&config.state_path)?;
    let (due, requeued) = store.requeue(failed, Utc::now())?;
    let mut out = Vec::new();
    writeln!(
        out,
        "{} due at the next run{}",
        plural(due, "waiting digest"),
        if failed {
            format!(
                ", {} put back in the outbox",
                plural(requeued, "failed digest")
            )
        } else {
            String::new()
        }
    )?;
    emit(&out)?;
    Ok(Exit::Success)
}

fn resubscribe(config: &Config, email: &str) -> Result<Exit, Error> {
    let key = crate::unsubscribe::normalize(email);
    let subscriber = config.subscriber(&key);
    let undone = if config.state_path.exists() {
        app::open_state(&config.state_path)?.resubscribe(&key)?
    } else {
        None
    };
    let config_path = config.path.display();
    let said = match (undone, subscriber) {
        (Some(u), Some(_)) => format!(
            "{key} is subscribed again (unsubscribed {} by {}); their next digest goes out on their schedule",
            u.at.format("%Y-%m-%d %H:%M UTC"),
            u.how
        ),
        (Some(_), None) => format!(
            "{key} is no longer marked unsubscribed, but is not a subscriber in {config_path}: add them there for digests"
        ),
        (None, Some(_)) => format!("{key} has not unsubscribed: nothing to undo"),
        (None, None) => {
            return Err(Error::Usage(format!(
                "{email} has not unsubscribed and is not a subscriber in {config_path}"
            )));
        }
    };
    emit(format!("{said}\n").as_bytes())?;
    Ok(Exit::Success)
}

/// Writes a command's output. A reader that closed it early (`paperboy fetch | head -1`) has
/// what it wanted, and the work is done by then: not an error, as with ripgrep.
fn emit(output: &[u8]) -> Result<(), Error> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(output).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => Ok(result?),
    }
}

fn select_subscribers<'c>(
    config: &'c Config,
    only: &[String],
) -> Result<Vec<&'c Subscriber>, Error> {
    if only.is_empty() {
        return Ok(config.subscribers.iter().collect());
    }
    let mut selected = Vec::with_capacity(only.len());
    for email in only {
        match config.subscriber(email) {
            Some(subscriber) => selected.push(subscriber),
            // Left out, and said after the run (`write_skipped`).
            None if config.skipped_subscriber(email).is_some() => {}
            None => {
                return Err(Error::Usage(format!(
                    "{email} is not a subscriber in {}",
                    config.path.display()
                )));
            }
        }
    }
    Ok(selected)
}
