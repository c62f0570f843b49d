//! The config file: the documented example loads, every problem is reported at once with its
//! key, environment overrides and password files work, and a password never leaks.

mod support;

use std::path::Path;

use paperboy::config::{Config, ConfigError, TransportConfig};
use support::{paperboy, stderr, stdout};

fn load(text: &str, env: &[(&str, &str)]) -> (tempfile::TempDir, Result<Config, ConfigError>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paperboy.toml");
    std::fs::write(&path, text).unwrap();
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    let config = Config::load_with_env(&path, env);
    (dir, config)
}

fn problems(text: &str) -> Vec<String> {
    match load(text, &[]).1 {
        Err(ConfigError::Invalid { problems, .. }) => problems,
        other => panic!("expected problems, got {other:?}"),
    }
}

/// Every one of `expected` begins one of the `found` problems.
fn assert_each_starts_a_problem(found: &[String], expected: &[&str]) {
    for want in expected {
        assert!(
            found.iter().any(|p| p.starts_with(want)),
            "missing {want:?} in\n{}",
            found.join("\n")
        );
    }
}

const MINIMAL: &str = r#"
[mail]
from = "Paperboy <papers@example.org>"
"#;

#[test]
fn the_documented_example_config_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/paperboy.toml");
    let config = Config::load_with_env(&path, std::iter::empty()).unwrap();
    assert!(matches!(
        config.delivery.transport,
        TransportConfig::File { .. }
    ));
    assert_eq!(
        config.sources.huggingface.as_ref().unwrap().base_url,
        "https://huggingface.co"
    );
    assert_eq!(config.subscribers.len(), 2);
    // Relative paths resolve against the config file's folder.
    assert!(config.state_path.starts_with(path.parent().unwrap()));
    assert_eq!(
        config.keep_messages,
        std::time::Duration::from_secs(24 * 3600)
    );
    assert_eq!(
        config.keep_history,
        std::time::Duration::from_secs(14 * 24 * 3600)
    );
}

#[test]
fn defaults_fill_everything_but_the_sender() {
    let (_dir, config) = load(MINIMAL, &[]);
    let config = config.unwrap();
    assert!(matches!(
        config.delivery.transport,
        TransportConfig::File { .. }
    ));
    assert_eq!(config.schedule.digest.text, "0 0 7 * * *");
    assert!(config.subscribers.is_empty());
}

#[test]
fn every_problem_is_reported_together_with_its_key_and_value() {
    let found = problems(
        r#"
[mail]
from = "not an address"
unsubscribe = "javascript:alert(1)"

[delivery]
transport = "carrier-pigeon"
retry_delay = "soon"

[schedule]
digest = "0 7 * * *"
timezone = "Mars/Olympus"

[digest]
max_papers = 0
colour = "blue"

[[subscribers]]
email = "alice@example.org"
topics = ["diffusion", "diffusion AND"]

[[subscribers]]
email = "bob@"
topic = ["typo in the key"]

[[subscribers]]
email = "ALICE@example.org"
timezone = "Nowhere/Town"
"#,
    );
    let expected = [
        "digest.colour: unknown key",
        "subscribers[1].topic: unknown key",
        "mail.from \"not an address\": not an email address",
        "mail.unsubscribe \"javascript:alert(1)\": must be a mailto: or https:// address",
        "delivery.transport \"carrier-pigeon\": must be \"smtp\" or \"file\"",
        "delivery.retry_delay \"soon\":",
        "schedule.timezone \"Mars/Olympus\": not an IANA time zone name",
        "schedule.digest \"0 7 * * *\": needs 6 fields (sec min hour day month weekday), found 5",
        "digest.max_papers \"0\": must be at least 1",
        "subscribers[0].topics[1] \"diffusion AND\": query ends after AND (column 14)",
        "subscribers[1].email \"bob@\": not an email address",
        "subscribers[2].email \"ALICE@example.org\": is already used by subscribers[0]",
        "subscribers[2].timezone \"Nowhere/Town\": not an IANA time zone name",
    ];
    assert_each_starts_a_problem(&found, &expected);
    assert_eq!(found.len(), expected.len(), "{}", found.join("\n"));
}

#[test]
fn environment_variables_override_the_file() {
    let (_dir, config) = load(
        MINIMAL,
        &[
            ("PAPERBOY__DELIVERY__TRANSPORT", "smtp"),
            ("PAPERBOY__SMTP__HOST", "mail.example.org"),
            ("PAPERBOY__SMTP__PORT", "2525"),
            ("PAPERBOY__SMTP__USERNAME", "papers"),
            ("PAPERBOY__SMTP__PASSWORD", "007"),
            ("PAPERBOY_CONFIG", "ignored.toml"),
        ],
    );
    let TransportConfig::Smtp(smtp) = config.unwrap().delivery.transport else {
        panic!("transport should be smtp");
    };
    assert_eq!((smtp.host.as_str(), smtp.port), ("mail.example.org", 2525));
    let (user, password) = smtp.credentials.unwrap();
    // Kept as written: not read as the number 7.
    assert_eq!((user.as_str(), password.expose()), ("papers", "007"));
}

#[test]
fn the_password_can_come_from_a_file_and_never_shows_in_debug_or_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("smtp-password"), "s3cret-file\n").unwrap();
    let text = format!(
        "{MINIMAL}\n[delivery]\ntransport = \"smtp\"\n[smtp]\nhost = \"h\"\nusername = \"u\"\npassword_file = \"smtp-password\"\n"
    );
    let path = dir.path().join("paperboy.toml");
    std::fs::write(&path, &text).unwrap();
    let config = Config::load_with_env(&path, std::iter::empty()).unwrap();
    let TransportConfig::Smtp(smtp) = &config.delivery.transport else {
        panic!("smtp");
    };
    assert_eq!(smtp.credentials.as_ref().unwrap().1.expose(), "s3cret-file");
    assert!(!format!("{config:?}").contains("s3cret"));

    // A password that is set twice is an error that does not repeat it.
    let (_dir, result) = load(
        &format!(
            "{MINIMAL}\n[delivery]\ntransport = \"smtp\"\n[smtp]\nhost = \"h\"\nusername = \"u\"\npassword = \"hunter2\"\npassword_file = \"/nonexistent\"\n"
        ),
        &[],
    );
    let message = result.unwrap_err().to_string();
    assert!(message.contains("smtp.password"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test]
async fn check_accepts_a_valid_config_and_exits_2_listing_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, format!("{MINIMAL}\n[[subscribers]]\nemail = \"a@example.org\"\ntopics = ['\"language model\" AND NOT survey']\n")).unwrap();
    let out = paperboy(&good, &["check"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("OK (1 subscriber, 1 topic,"),
        "{}",
        stdout(&out)
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[mail]\nfrom = \"x\"\n[[subscribers]]\nemail = \"a@example.org\"\ntopics = ['(a OR b']\n",
    )
    .unwrap();
    let out = paperboy(&bad, &["check"]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("2 problems"), "{err}");
    assert!(err.contains("mail.from \"x\""), "{err}");
    assert!(
        err.contains("subscribers[0].topics[0] \"(a OR b\""),
        "{err}"
    );

    let missing = dir.path().join("missing.toml");
    let out = paperboy(&missing, &["check"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing.toml"));
}

#[tokio::test]
async fn a_broken_template_override_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    std::fs::write(dir.path().join("templates/digest.html"), "{% if %}").unwrap();
    let path = dir.path().join("paperboy.toml");
    std::fs::write(
        &path,
        "[mail]\nfrom = \"p@example.org\"\ntemplates_dir = \"templates\"\n",
    )
    .unwrap();
    let out = paperboy(&path, &["check"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("template digest.html"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_syntax_error_names_the_line_without_quoting_it() {
    // An invalid escape on the password line must not put the password into the error.
    let (_dir, result) = load(
        "[mail]\nfrom = \"p@example.org\"\n[smtp]\npassword = \"hunter2\\q\"\n",
        &[],
    );
    let message = result.unwrap_err().to_string();
    assert!(message.contains("line 4"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

#[test]
fn names_with_control_characters_and_missing_template_folders_are_refused() {
    let found = problems(&format!(
        "{MINIMAL}templates_dir = \"no-such-folder\"\n[[subscribers]]\nemail = \"a@example.org\"\nname = \"Eve\\r\\nBcc: x@example.org\"\n"
    ));
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("mail.templates_dir \"no-such-folder\": ")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|p| p.starts_with("subscribers[0].name ")
            && p.ends_with("must not contain control characters")),
        "{found:?}"
    );
}

#[tokio::test]
async fn check_warns_that_category_topics_cannot_match_hugging_face_papers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paperboy.toml");
    std::fs::write(
        &path,
        format!("{MINIMAL}\n[[subscribers]]\nemail = \"a@example.org\"\ntopics = ['diffusion', 'category:cs.CV']\n"),
    )
    .unwrap();
    let out = paperboy(&path, &["check"]).await;
    assert_eq!(out.status.code(), Some(0), "a warning, not an error");
    let printed = stdout(&out);
    assert!(
        printed.contains(
            "warning: subscribers[0].topics[1] \"category:cs.CV\": category: terms never match"
        ),
        "{printed}"
    );
    assert!(!printed.contains("topics[0]"), "{printed}");
}

#[test]
fn arxiv_categories_are_checked_against_the_taxonomy_and_topics_against_them() {
    let arxiv = |categories: &str, topics: &str| {
        format!(
            "{MINIMAL}\n[sources.arxiv]\nenabled = true\ncategories = {categories}\n\
             [[subscribers]]\nemail = \"a@example.org\"\ntopics = {topics}\n"
        )
    };
    let found = problems(&arxiv(r#"["cs.lg", "astro-ph.GA", "cs.XX"]"#, "[]"));
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found[0].starts_with("sources.arxiv.categories[0] \"cs.lg\": ")
            && found[0].contains("cs.LG"),
        "{found:#?}"
    );
    assert!(
        found[1].starts_with("sources.arxiv.categories[2] \"cs.XX\": "),
        "{found:#?}"
    );
    let found = problems(&arxiv("[]", "[]"));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].starts_with("sources.arxiv.categories \"[]\": must name at least one"));

    let (_dir, config) = load(
        &arxiv(
            r#"["cs.LG", "cs.CL", "astro-ph"]"#,
            r#"["category:cs.CL", "category:cs.*", "category:astro-ph.GA", "category:cs.CV OR category:stat.ML"]"#,
        ),
        &[],
    );
    let config = config.unwrap();
    let arxiv_config = config.sources.arxiv.as_ref().unwrap();
    assert_eq!(arxiv_config.categories, ["cs.LG", "cs.CL", "astro-ph"]);
    assert_eq!(arxiv_config.rss_url, "https://rss.arxiv.org/rss");
    assert!(!arxiv_config.include_replacements);
    // Followed (cs.CL), under a followed prefix (cs.*) or archive (astro-ph): no warning.
    assert_eq!(config.warnings.len(), 1, "{:#?}", config.warnings);
    assert!(
        config.warnings[0].starts_with(
            "subscribers[0].topics[3] \"category:cs.CV OR category:stat.ML\": \
             category:cs.cv, category:stat.ml are not among sources.arxiv.categories"
        ),
        "{:#?}",
        config.warnings
    );
}

#[test]
fn a_hugging_face_token_file_must_be_readable_and_an_empty_one_is_a_warning() {
    let found = problems(&format!(
        "{MINIMAL}\n[sources.huggingface]\ntoken_file = \"/nonexistent/hf-token\"\n"
    ));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with(
            "sources.huggingface.token_file \"/nonexistent/hf-token\": cannot be read"
        ),
        "{found:#?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("hf-token");
    std::fs::write(&empty, "\n").unwrap();
    let (_dir, config) = load(
        &format!(
            "{MINIMAL}\n[sources.huggingface]\ntoken_file = {:?}\n",
            empty.display().to_string()
        ),
        &[],
    );
    let config = config.unwrap();
    assert!(config.sources.huggingface.unwrap().token.is_none());
    assert!(
        config.warnings[0].contains("is empty, so no token is sent"),
        "{:#?}",
        config.warnings
    );
}

#[test]
fn like_topics_name_their_malformed_ids_unreadable_entries_and_too_few_papers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("alice.bib"),
        "@misc{a, eprint = {2406.12345}}\n\n@article{b, title = {No id}}\n@misc{c, url = {https://arxiv.org/abs/2311.00001v2}}\n",
    )
    .unwrap();
    let path = dir.path().join("paperboy.toml");
    std::fs::write(
        &path,
        format!(
            "{MINIMAL}\n[[subscribers]]\nemail = \"a@example.org\"\ntopics = [\n\
             {{ name = \"Mine\", like = [\"2406.12345\", \"arXiv:2311.00001v2\", \"24o6.1\"] }},\n\
             {{ name = \"Library\", like_file = \"alice.bib\", min_score = 2.5, max_papers = 3 }},\n\
             {{ name = \"Lonely\", like = [\"2406.12345\"] }},\n\
             {{ name = \"Both\", query = \"x\", like = [\"2406.12345\", \"2406.12346\"] }},\n]\n"
        ),
    )
    .unwrap();
    let found = match Config::load_with_env(&path, std::iter::empty()) {
        Err(ConfigError::Invalid { problems, .. }) => problems,
        other => panic!("{other:?}"),
    };
    assert_eq!(found.len(), 4, "{found:#?}");
    assert!(
        found[0].starts_with("subscribers[0].topics[0].like[2] \"24o6.1\": not an arXiv id"),
        "{found:#?}"
    );
    assert!(
        found[1].starts_with(
            "subscribers[0].topics[1].like_file \"alice.bib\": line 3: entry b names no arXiv id"
        ),
        "{found:#?}"
    );
    assert!(
        found[2].starts_with(
            "subscribers[0].topics[2] \"1\": a like topic needs at least 2 liked papers"
        ),
        "{found:#?}"
    );
    assert!(
        found[3].starts_with("subscribers[0].topics[3] \"Both\": has both query and like"),
        "{found:#?}"
    );

    // Without the bad parts, the topics hold what the file and the list say.
    std::fs::write(
        dir.path().join("alice.bib"),
        "@misc{a, eprint = {2406.12345}}\n@article{b, title = {T}, abstract = {An abstract.}}\n",
    )
    .unwrap();
    std::fs::write(
        &path,
        format!(
            "{MINIMAL}\n[[subscribers]]\nemail = \"a@example.org\"\ntopics = [\n\
             {{ name = \"Mine\", like = [\"2406.12345\", \"arXiv:2311.00001v2\"], unlike = [\"2401.00001\"] }},\n\
             {{ name = \"Library\", like_file = \"alice.bib\", min_score = 2.5, max_papers = 3 }},\n]\n"
        ),
    )
    .unwrap();
    let config = Config::load_with_env(&path, std::iter::empty()).unwrap();
    let like = |i: usize| match &config.subscribers[0].topics[i].kind {
        paperboy::config::TopicKind::Like(like) => like.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(like(0).liked, ["2311.00001", "2406.12345"]);
    assert_eq!(like(0).unliked, ["2401.00001"]);
    assert_eq!(like(1).liked, ["2406.12345"]);
    assert_eq!(like(1).liked_texts[0].title, "T");
    assert_eq!(
        (like(1).min_score, like(1).max_papers),
        (Some(2.5), Some(3))
    );
}

#[test]
fn a_password_is_never_sent_unencrypted_beyond_this_machine() {
    let smtp = |host: &str| {
        format!(
            "{MINIMAL}\n[delivery]\ntransport = \"smtp\"\n[smtp]\nhost = \"{host}\"\nsecurity = \"none\"\nusername = \"u\"\npassword = \"p\"\n"
        )
    };
    let found = problems(&smtp("mail.example.org"));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with(
            "smtp.security \"none\": would send the password to mail.example.org unencrypted"
        ),
        "{found:?}"
    );
    for local in ["127.0.0.1", "localhost", "::1"] {
        assert!(load(&smtp(local), &[]).1.is_ok(), "{local}");
    }
}

#[test]
fn a_value_of_the_wrong_type_is_one_problem_among_the_others() {
    let found = problems(
        r#"
[mail]
from = "not an address"

[schedule]
timezone = "Mars/Olympus"

[digest]
max_papers = "ten"
send_empty = "maybe"
colour = "blue"

[smtp]
port = "x"

[[subscribers]]
email = "a@example.org"
name = ["a", "list"]

[[subscribers]]
email = "b@example.org"
max_papers = 2.5
topics = [42, { name = "Named", qurey = "typo" }]
"#,
    );
    let expected = [
        "digest.colour: unknown key",
        "subscribers[1].topics[1].qurey: unknown key",
        "mail.from \"not an address\": not an email address",
        "schedule.timezone \"Mars/Olympus\": not an IANA time zone name",
        "digest.max_papers \"ten\": must be a whole number",
        "digest.send_empty \"maybe\": must be true or false",
        "subscribers[0].name \"[...]\": must be a string",
        "subscribers[1].max_papers \"2.5\": must be a whole number",
        "subscribers[1].topics[0] \"42\": must be a query string or a table",
        "subscribers[1].topics[1].query \"\": is required in a topic table",
        "smtp.port \"x\": must be a whole number from 1 to 65535",
    ];
    assert_each_starts_a_problem(&found, &expected);
    assert_eq!(found.len(), expected.len(), "{}", found.join("\n"));
}

#[test]
fn a_value_of_the_wrong_type_from_the_environment_is_reported_with_the_others() {
    let (_dir, result) = load(
        "[mail]\nfrom = \"bad\"\n",
        &[
            ("PAPERBOY__DIGEST__MAX_PAPERS", "ten"),
            ("PAPERBOY__DIGEST__MIN_UPVOTES", "5"),
            ("PAPERBOY__DELIVERY__TRANSPORT", "smtp"),
            ("PAPERBOY__SMTP__HOST", "mail.example.org"),
            ("PAPERBOY__SMTP__PORT", "70000"),
        ],
    );
    let Err(ConfigError::Invalid { problems, .. }) = result else {
        panic!("expected problems, got {result:?}");
    };
    let text = problems.join("\n");
    assert!(
        text.contains("mail.from \"bad\": not an email address"),
        "{text}"
    );
    assert!(text.contains("digest.max_papers \"ten\""), "{text}");
    assert!(text.contains(": must be a whole number"), "{text}");
    assert!(
        text.contains("smtp.port \"70000\"")
            && text.contains("must be a whole number from 1 to 65535"),
        "{text}"
    );
    assert_eq!(problems.len(), 3, "{text}");
}

#[test]
fn numbers_and_bools_from_the_environment_still_fill_their_keys() {
    let (_dir, config) = load(
        &format!("{MINIMAL}[[subscribers]]\nemail = \"a@example.org\"\n"),
        &[
            ("PAPERBOY__DIGEST__MAX_PAPERS", "3"),
            ("PAPERBOY__DIGEST__SEND_EMPTY", "true"),
            ("PAPERBOY__SOURCES__HUGGINGFACE__ENABLED", "false"),
        ],
    );
    let config = config.unwrap();
    assert!(config.sources.huggingface.is_none());
    let alice = &config.subscribers[0];
    assert_eq!((alice.max_papers, alice.send_empty), (3, true));
}

#[test]
fn a_key_the_environment_set_is_reported_by_its_variable() {
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("smtp-password");
    std::fs::write(&password_file, "s3cret\n").unwrap();
    let password_file = password_file.to_str().unwrap();
    let (_dir, result) = load(
        "[mail]\nfrom = \"p@example.org\"\n[delivery]\ntransport = \"smtp\"\n[smtp]\nhost = \"h\"\nsecurity = \"tls\"\n[smpt]\nhost = \"typo in the file\"\n",
        &[
            ("PAPERBOY__SMTP__PASWORD", "hunter2"),
            ("PAPERBOY__SMTP__PASSWORD_FILE", password_file),
            ("PAPERBOY__SMTP__SECURITY", "startls"),
            ("PAPERBOY__SMPT__PORT", "25"),
            ("PAPERBOY__DIGEST__MAX_PAPERS", "ten"),
        ],
    );
    let Err(ConfigError::Invalid { problems, .. }) = result else {
        panic!("expected problems, got {result:?}");
    };
    let text = problems.join("\n");
    let expected = [
        "PAPERBOY__SMTP__PASWORD (environment): unknown key (check its spelling and section)"
            .to_string(),
        // The file has [smpt] too, so it is named both ways.
        "smpt: unknown key (check its spelling and section)".to_string(),
        "PAPERBOY__SMPT__PORT (environment): unknown key (check its spelling and section)"
            .to_string(),
        "smtp.security \"startls\" (set by PAPERBOY__SMTP__SECURITY): must be \"starttls\", \"tls\" or \"none\"".to_string(),
        format!("smtp.password_file {password_file:?} (set by PAPERBOY__SMTP__PASSWORD_FILE): is set but smtp.username is not"),
        "digest.max_papers \"ten\" (set by PAPERBOY__DIGEST__MAX_PAPERS): must be a whole number"
            .to_string(),
    ];
    for want in &expected {
        assert!(problems.contains(want), "missing {want:?} in\n{text}");
    }
    assert_eq!(problems.len(), expected.len(), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn smtp_settings_are_checked_even_when_delivering_to_files() {
    let found = problems(&format!(
        "{MINIMAL}\n[delivery]\ntransport = \"file\"\n[smtp]\nsecurity = \"startls\"\ntimeout = \"soon\"\nmax_connections = 0\nport = 0\npassword = \"hunter2\"\n"
    ));
    let expected = [
        "smtp.security \"startls\": must be \"starttls\", \"tls\" or \"none\"",
        "smtp.timeout \"soon\":",
        "smtp.max_connections \"0\": must be at least 1",
        "smtp.port \"0\": must be a whole number from 1 to 65535",
        "smtp.password \"***\": is set but smtp.username is not",
    ];
    assert_each_starts_a_problem(&found, &expected);
    // The host is needed only to send: no problem about it here.
    assert_eq!(found.len(), expected.len(), "{}", found.join("\n"));
    assert!(!found.join("\n").contains("hunter2"));
}

#[test]
fn the_new_smtp_limits_and_ca_file_are_checked_and_named() {
    let found = problems(&format!(
        "{MINIMAL}\n[smtp]\nmax_messages_per_connection = 0\nmax_per_second = 0\nca_file = \"no-such-ca.pem\"\n"
    ));
    let expected = [
        "smtp.max_messages_per_connection \"0\": must be at least 1",
        "smtp.max_per_second \"0\": must be more than 0 (leave it out for no limit)",
        "smtp.ca_file \"",
    ];
    assert_each_starts_a_problem(&found, &expected);
    assert_eq!(found.len(), expected.len(), "{}", found.join("\n"));
    assert!(
        found
            .join("\n")
            .contains("no-such-ca.pem\": cannot be read"),
        "{}",
        found.join("\n")
    );

    // A file that holds no certificate, and one whose certificate is garbage.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.pem"), "not a certificate\n").unwrap();
    std::fs::write(
        dir.path().join("bad.pem"),
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    for (file, says) in [
        ("empty.pem", "holds no certificate"),
        ("bad.pem", "certificate 1 of 1 cannot be trusted"),
    ] {
        let path = dir.path().join(file);
        let found = problems(&format!(
            "{MINIMAL}\n[smtp]\nca_file = {:?}\n",
            path.to_str().unwrap()
        ));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("smtp.ca_file"), "{found:?}");
        assert!(found[0].contains(says), "{found:?}");
    }
}

#[test]
fn an_empty_password_file_means_no_password_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    // As the install steps create it: `install -m 0640 -g paperboy /dev/null ...`.
    let password_file = dir.path().join("smtp-password");
    std::fs::write(&password_file, "").unwrap();
    let password_file = password_file.to_str().unwrap();
    let smtp = format!(
        "{MINIMAL}\n[delivery]\ntransport = \"smtp\"\n[smtp]\nhost = \"relay.example.org\"\n"
    );
    let env = [("PAPERBOY__SMTP__PASSWORD_FILE", password_file)];

    let (_dir, config) = load(&smtp, &env);
    let config = config.unwrap();
    let TransportConfig::Smtp(settings) = &config.delivery.transport else {
        panic!("smtp");
    };
    assert!(settings.credentials.is_none());
    assert_eq!(
        config.warnings,
        [format!(
            "smtp.password_file {password_file:?} (set by PAPERBOY__SMTP__PASSWORD_FILE): is empty, so no password is sent (right for a relay without login)"
        )]
    );

    // With a username, the empty file is a missing password.
    let (_dir, result) = load(&format!("{smtp}username = \"u\"\n"), &env);
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains(&format!(
            "smtp.username \"u\": has no password: smtp.password_file {password_file} is empty"
        )),
        "{message}"
    );
}

#[test]
fn a_cron_number_out_of_range_is_reported_with_its_field_for_every_schedule() {
    let found = problems(&format!(
        "{MINIMAL}\n[schedule]\nfetch = \"0 */0 * * * *\"\ndigest = \"0 0 25 * * *\"\n[[subscribers]]\nemail = \"a@example.org\"\nschedule = \"0 0 7 * 13 *\"\n"
    ));
    assert_eq!(
        found,
        [
            "schedule.fetch \"0 */0 * * * *\": minute */0: the step must be at least 1",
            "schedule.digest \"0 0 25 * * *\": hour 25: must be 0-23",
            "subscribers[0].schedule \"0 0 7 * 13 *\": month 13: must be 1-12",
        ]
    );
}

#[tokio::test]
async fn check_warns_about_operators_written_in_lower_case() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paperboy.toml");
    std::fs::write(
        &path,
        format!("{MINIMAL}\n[[subscribers]]\nemail = \"a@example.org\"\ntopics = ['diffusion', 'diffusion and not survey', {{ name = \"Either\", query = 'vision or language' }}, '\"not all\" AND title:not']\n"),
    )
    .unwrap();
    let out = paperboy(&path, &["check"]).await;
    assert_eq!(out.status.code(), Some(0), "a warning, not an error");
    let printed = stdout(&out);
    for want in [
        "warning: subscribers[0].topics[1] \"diffusion and not survey\": \"and\", \"not\" are searched as words; write AND, OR, NOT in upper case for the operators",
        "warning: subscribers[0].topics[2] \"vision or language\": \"or\" is searched as a word; write AND, OR, NOT in upper case for the operators",
    ] {
        assert!(printed.contains(want), "missing {want:?} in\n{printed}");
    }
    assert!(!printed.contains("topics[0]"), "{printed}");
    assert!(!printed.contains("topics[3]"), "{printed}");
}

#[test]
fn sent_message_bodies_are_kept_for_keep_messages() {
    use std::time::Duration;
    let keep = |state: &str| load(&format!("{MINIMAL}\n[state]\n{state}\n"), &[]);
    let (_dir, config) = keep("");
    let config = config.unwrap();
    assert_eq!(config.keep_messages, Duration::from_secs(24 * 3600));
    assert_eq!(config.keep_history, Duration::from_secs(14 * 24 * 3600));
    // Zero is allowed: each body is dropped once it is sent.
    let (_dir, config) = keep("keep_messages = \"0s\"");
    assert_eq!(config.unwrap().keep_messages, Duration::ZERO);
    let (_dir, config) = keep("keep_messages = \"36h\"");
    assert_eq!(
        config.unwrap().keep_messages,
        Duration::from_secs(36 * 3600)
    );

    let found = problems(&format!(
        "{MINIMAL}\n[state]\nkeep_messages = \"a week\"\nkeep_history = \"forever\"\n"
    ));
    assert_eq!(
        found,
        [
            "state.keep_messages \"a week\": must start with a whole number, e.g. 30s",
            "state.keep_history \"forever\": must start with a whole number, e.g. 30s"
        ]
    );
}

#[test]
fn a_table_or_list_written_as_something_else_is_one_problem_among_the_others() {
    let (_dir, result) = load(
        "[mail]\nfrom = \"p@example.org\"\ndigest = 5\n[sources]\narxiv = \"no\"\n[[subscribers]]\nemail = \"a@example.org\"\ntopics = \"diffusion\"\n",
        &[
            ("PAPERBOY__SMTP", "hunter2"),
            ("PAPERBOY__DIGEST__MAX_PAPERS", "ten"),
        ],
    );
    let Err(ConfigError::Invalid {
        problems: found, ..
    }) = result
    else {
        panic!("expected problems, got {result:?}");
    };
    let text = found.join("\n");
    for want in [
        "mail.digest: unknown key",
        "smtp \"hunter2\" (set by PAPERBOY__SMTP): must be a table ([smtp])",
        "sources.arxiv \"no\": must be a table ([sources.arxiv])",
        "digest.max_papers \"ten\" (set by PAPERBOY__DIGEST__MAX_PAPERS): must be a whole number",
        "subscribers[0].topics \"diffusion\": must be a list, e.g. topics = ['diffusion', '\"language model\"']",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert_eq!(found.len(), 5, "{text}");

    // One bracket pair instead of two.
    let found = problems(&format!(
        "{MINIMAL}\n[subscribers]\nemail = \"a@example.org\"\n"
    ));
    assert_eq!(
        found,
        [
            "subscribers \"{...}\": must be a list of tables: write [[subscribers]], with two brackets"
        ]
    );
    let found = problems(&format!(
        "subscribers = [\"a@example.org\", {{ email = \"b@example.org\", topcs = [] }}]\n{MINIMAL}"
    ));
    // Each subscriber's problems together, in the order of the subscribers.
    assert_eq!(
        found,
        [
            "subscribers[0] \"a@example.org\": must be a table ([[subscribers]])",
            "subscribers[1].topcs: unknown key (check its spelling and section)",
        ]
    );
}

/// A config broken in one way, with the key its problem must name.
struct Broken {
    case: &'static str,
    toml: String,
    names: &'static str,
}

/// `[mail] from` and one subscriber, valid, before `rest`.
fn with_subscriber(subscriber: &str, rest: &str) -> String {
    format!(
        "[mail]\nfrom = \"Paperboy <papers@example.org>\"\n{rest}\n[[subscribers]]\nemail = \"alice@example.org\"\n{subscriber}\n"
    )
}

fn broken_configs() -> Vec<Broken> {
    let main = |rest: &str| with_subscriber("", rest);
    let sub = |subscriber: &str| with_subscriber(subscriber, "");
    let case = |case, toml: String, names| Broken { case, toml, names };
    vec![
        case(
            "unknown top-level key",
            format!("colour = \"blue\"\n{}", main("")),
            "colour: unknown key",
        ),
        case(
            "unknown section",
            main("[smtpp]\nhost = \"x\""),
            "smtpp: unknown key",
        ),
        case(
            "unknown key in a section",
            main("[smtp]\nhots = \"x\""),
            "smtp.hots: unknown key",
        ),
        case(
            "unknown key of a subscriber",
            sub("topcs = []"),
            "subscribers[0].topcs: unknown key",
        ),
        case(
            "a number written as text",
            main("[digest]\nmax_papers = \"ten\""),
            "digest.max_papers \"ten\": must be a whole number",
        ),
        // "yes" is read as true, as it is from the environment.
        case(
            "a bool written as text",
            main("[digest]\nsend_empty = \"maybe\""),
            "digest.send_empty \"maybe\"",
        ),
        case(
            "a section written as a value",
            format!("delivery = 5\n{}", main("")),
            "delivery \"5\": must be a table",
        ),
        case(
            "subscribers with one bracket",
            "[mail]\nfrom = \"p@example.org\"\n[subscribers]\nemail = \"a@example.org\"\n".into(),
            "subscribers",
        ),
        case(
            "a list written as text",
            main("[sources.arxiv]\ncategories = \"cs.LG\""),
            "sources.arxiv.categories \"cs.LG\": must be a list",
        ),
        case(
            "bad from address",
            "[mail]\nfrom = \"not an address\"\n".into(),
            "mail.from \"not an address\": not an email address",
        ),
        case(
            "empty from",
            "[mail]\nfrom = \"\"\n".into(),
            "mail.from \"\"",
        ),
        case(
            "missing from",
            "[digest]\nmax_papers = 3\n".into(),
            "mail.from \"\": is required",
        ),
        case(
            "CR/LF in from",
            "[mail]\nfrom = \"Paperboy\\r\\nBcc: x@example.org <p@example.org>\"\n".into(),
            "mail.from",
        ),
        case(
            "CR/LF in the subject",
            main("subject = \"Papers\\r\\nBcc: victim@example.org\""),
            "mail.subject \"Papers\\r\\nBcc: victim@example.org\": must not contain control characters",
        ),
        case(
            "broken subject template",
            main("subject = \"{{ count \""),
            "template mail.subject: line 1",
        ),
        case(
            "bad unsubscribe target",
            main("unsubscribe = \"javascript:alert(1)\""),
            "mail.unsubscribe \"javascript:alert(1)\": must be a mailto: or https:// address",
        ),
        case(
            "missing templates_dir",
            main("templates_dir = \"no-such-folder\""),
            "mail.templates_dir \"no-such-folder\"",
        ),
        case(
            "bad subscriber address",
            "[mail]\nfrom = \"p@example.org\"\n[[subscribers]]\nemail = \"bob@\"\n".into(),
            "subscribers[0].email \"bob@\": not an email address",
        ),
        case(
            "missing subscriber address",
            "[mail]\nfrom = \"p@example.org\"\n[[subscribers]]\nname = \"Bob\"\n".into(),
            "subscribers[0].email \"\": is required",
        ),
        case(
            "duplicate subscriber",
            format!(
                "{}\n[[subscribers]]\nemail = \"ALICE@example.org\"\n",
                main("")
            ),
            "subscribers[1].email \"ALICE@example.org\": is already used by subscribers[0]",
        ),
        case(
            "CR/LF in a name",
            sub("name = \"Eve\\r\\nBcc: x@example.org\""),
            "subscribers[0].name",
        ),
        case(
            "cron with five fields",
            main("[schedule]\ndigest = \"0 7 * * *\""),
            "schedule.digest \"0 7 * * *\": needs 6 fields",
        ),
        case(
            "cron hour out of range",
            main("[schedule]\nfetch = \"0 0 25 * * *\""),
            "schedule.fetch \"0 0 25 * * *\": hour 25",
        ),
        case(
            "subscriber cron in words",
            sub("schedule = \"every morning\""),
            "subscribers[0].schedule \"every morning\"",
        ),
        case(
            "bad time zone",
            main("[schedule]\ntimezone = \"Mars/Olympus\""),
            "schedule.timezone \"Mars/Olympus\": not an IANA time zone name",
        ),
        case(
            "bad subscriber time zone",
            sub("timezone = \"Nowhere/Town\""),
            "subscribers[0].timezone \"Nowhere/Town\": not an IANA time zone name",
        ),
        case(
            "topic: unclosed parenthesis, first topic",
            sub("topics = ['(a OR b']"),
            "subscribers[0].topics[0] \"(a OR b\"",
        ),
        case(
            "topic: ends after AND, second topic",
            sub("topics = ['diffusion', 'diffusion AND']"),
            "subscribers[0].topics[1] \"diffusion AND\": query ends after AND",
        ),
        case(
            "topic: starts with OR, third topic",
            sub("topics = ['a', 'b', 'OR c']"),
            "subscribers[0].topics[2] \"OR c\"",
        ),
        case(
            "topic: space after a field",
            sub("topics = ['title: agents']"),
            "subscribers[0].topics[0] \"title: agents\"",
        ),
        case(
            "topic: empty",
            sub("topics = ['']"),
            "subscribers[0].topics[0] \"\"",
        ),
        case(
            "topic: table without a query",
            sub("topics = [{ name = \"LLMs\" }]"),
            "subscribers[0].topics[0]",
        ),
        case(
            "topic: like with a malformed id",
            sub("topics = [{ name = \"Mine\", like = [\"2406.12345\", \"not-an-id\"] }]"),
            "subscribers[0].topics[0]",
        ),
        case(
            "topics not a list",
            sub("topics = \"diffusion\""),
            "subscribers[0].topics \"diffusion\": must be a list",
        ),
        case(
            "unknown transport",
            main("[delivery]\ntransport = \"carrier-pigeon\""),
            "delivery.transport \"carrier-pigeon\": must be \"smtp\" or \"file\"",
        ),
        case(
            "retry_delay without a unit",
            main("[delivery]\nretry_delay = \"5\""),
            "delivery.retry_delay \"5\": needs a unit",
        ),
        case(
            "smtp transport without a host",
            main("[delivery]\ntransport = \"smtp\""),
            "smtp.host \"\": is required when delivery.transport = \"smtp\"",
        ),
        case(
            "misspelt security",
            main("[smtp]\nsecurity = \"startls\""),
            "smtp.security \"startls\": must be \"starttls\", \"tls\" or \"none\"",
        ),
        case(
            "port out of range",
            main("[smtp]\nport = 70000"),
            "smtp.port \"70000\"",
        ),
        case(
            "unreadable password_file",
            main("[smtp]\nusername = \"u\"\npassword_file = \"no-such-secret\""),
            "smtp.password_file",
        ),
        case(
            "password and password_file",
            main("[smtp]\nusername = \"u\"\npassword = \"p\"\npassword_file = \"f\""),
            "smtp.password \"***\": set either password or password_file, not both",
        ),
        case(
            "username without a password",
            main("[smtp]\nusername = \"u\""),
            "smtp.username \"u\": has no password",
        ),
        case(
            "max_papers zero",
            main("[digest]\nmax_papers = 0"),
            "digest.max_papers \"0\": must be at least 1",
        ),
        case(
            "base_url not http",
            main("[sources.huggingface]\nbase_url = \"ftp://example.org\""),
            "sources.huggingface.base_url \"ftp://example.org\": must be an http(s) URL",
        ),
        case(
            "unknown arXiv category",
            main("[sources.arxiv]\nenabled = true\ncategories = [\"cs.XX\"]"),
            "sources.arxiv.categories[0] \"cs.XX\"",
        ),
        case(
            "arXiv enabled without categories",
            main("[sources.arxiv]\nenabled = true"),
            "sources.arxiv.categories \"[]\"",
        ),
        case(
            "keep_messages without a unit",
            main("[state]\nkeep_messages = \"7\""),
            "state.keep_messages \"7\": needs a unit",
        ),
        case(
            "missing subscribers_dir",
            format!("subscribers_dir = \"nowhere.d\"\n{}", main("")),
            "subscribers_dir \"nowhere.d\"",
        ),
        case(
            "web listen not an address",
            main(
                "[web]\nlisten = \"localhost\"\nbase_url = \"https://p.example.org\"\nsecret_file = \"s\"",
            ),
            "web.listen \"localhost\"",
        ),
        case(
            "missing DKIM key",
            main(
                "[mail.dkim]\ndomain = \"example.org\"\nselector = \"s\"\nprivate_key_file = \"no-such.pem\"",
            ),
            "mail.dkim.private_key_file",
        ),
    ]
}

/// Every broken config makes `check` exit 2 with a problem line that names its key.
#[tokio::test(flavor = "multi_thread")]
async fn each_broken_config_exits_2_naming_its_key() {
    let cases = broken_configs();
    assert!(cases.len() >= 30);
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (i, broken) in cases.iter().enumerate() {
        let path = dir.path().join(format!("case{i}.toml"));
        std::fs::write(&path, &broken.toml).unwrap();
        let out = paperboy(&path, &["check"]).await;
        let err = stderr(&out);
        let named = err.lines().any(|l| {
            l.trim_start()
                .trim_start_matches("- ")
                .trim_start_matches("paperboy: ")
                .starts_with(broken.names)
        });
        if out.status.code() != Some(2) || !named || err.contains("panicked") {
            failures.push(format!(
                "case {:?}: exit {:?}, expected a line starting {:?}, got:\n{err}",
                broken.case,
                out.status.code(),
                broken.names
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_serving_load_skips_the_subscribers_with_problems_of_their_own() {
    use paperboy::config::SubscriberProblems;
    let text = format!(
        "{MINIMAL}\n[[subscribers]]\nemail = \"a@example.org\"\n\n[[subscribers]]\nemail = \"b@example.org\"\ntopcs = []\nschedule = \"daily\"\n\n[[subscribers]]\nemail = \"A@example.org\"\n\n[[subscribers]]\nemail = \"c@example.org\"\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paperboy.toml");
    std::fs::write(&path, &text).unwrap();
    let load = |mode| Config::load_with(&path, std::iter::empty(), mode);

    let config = load(SubscriberProblems::Skip).unwrap();
    let served: Vec<&str> = config.subscribers.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(served, ["a@example.org", "c@example.org"]);
    let skipped: Vec<(&str, Option<&str>, usize)> = config
        .skipped
        .iter()
        .map(|s| (s.place.as_str(), s.key.as_deref(), s.problems.len()))
        .collect();
    assert_eq!(
        skipped,
        [
            ("subscribers[1]", Some("b@example.org"), 2),
            ("subscribers[2]", Some("a@example.org"), 1),
        ]
    );
    assert!(config.skipped[0].problems[0].starts_with("subscribers[1].topcs: unknown key"));
    assert!(config.skipped[0].problems[1].starts_with("subscribers[1].schedule \"daily\""));

    // For check, every problem fails the load.
    let Err(ConfigError::Invalid { problems, .. }) = load(SubscriberProblems::Reject) else {
        panic!("a strict load must fail");
    };
    assert_eq!(problems.len(), 3, "{problems:?}");

    // A global problem fails even a serving load, listing the subscribers' too.
    std::fs::write(
        &path,
        text.replace("[mail]", "[digest]\nmax_papers = 0\n[mail]"),
    )
    .unwrap();
    let Err(ConfigError::Invalid { problems, .. }) = load(SubscriberProblems::Skip) else {
        panic!("a global problem must fail the load");
    };
    assert_eq!(problems.len(), 4, "{problems:?}");
}
