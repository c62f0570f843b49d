//! `subscribers_dir`: subscribers one per file beside the main file's, read in the order of
//! their names; every problem names its file and key, an address written twice names both
//! places, and files that are not `*.toml` are left alone.

mod support;

use std::path::PathBuf;

use paperboy::config::{Config, ConfigError};
use support::*;

const MAIN: &str = r#"subscribers_dir = "subscribers.d"

[mail]
from = "Paperboy <papers@example.org>"

[schedule]
digest = "0 0 6 * * *"
timezone = "Europe/Paris"

[digest]
max_papers = 7
"#;

/// A config folder: the main file and its `subscribers.d/`.
struct Install {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Install {
    fn new(main: &str, files: &[(&str, &str)]) -> Install {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("paperboy.toml");
        std::fs::write(&config, main).unwrap();
        std::fs::create_dir(dir.path().join("subscribers.d")).unwrap();
        let install = Install { dir, config };
        for (name, text) in files {
            install.write(name, text);
        }
        install
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join("subscribers.d").join(name), text).unwrap();
    }

    fn load(&self) -> Result<Config, ConfigError> {
        self.load_with_env(&[])
    }

    fn load_with_env(&self, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::load_with_env(&self.config, env)
    }
}

fn problems(result: Result<Config, ConfigError>) -> Vec<String> {
    match result {
        Err(ConfigError::Invalid { problems, .. }) => problems,
        other => panic!("expected problems, got {other:?}"),
    }
}

fn emails(config: &Config) -> Vec<String> {
    config.subscribers.iter().map(|s| s.key.clone()).collect()
}

#[test]
fn the_files_are_read_in_name_order_after_the_main_files_subscribers() {
    let main = format!("{MAIN}\n[[subscribers]]\nemail = \"main@example.org\"\n");
    let install = Install::new(
        &main,
        &[
            (
                "20-adam.toml",
                r#"
email = "Adam@Example.org"
name = "Adam"
topics = ['"language model"', { name = "Agents", query = "title:agents" }]
timezone = "Asia/Tokyo"
schedule = "0 30 8 * * MON-FRI"
max_papers = 3
min_upvotes = 2
require_upvotes = true
send_empty = true
"#,
            ),
            ("10-zoe.toml", "email = \"zoe@example.org\"\n"),
            (
                "30-lib.toml",
                "email = \"lib@example.org\"\ntopics = [{ name = \"Mine\", like_file = \"liked.bib\" }]\n",
            ),
            (
                "03-yann.toml",
                "email = \"yann@example.org\"\ntopics = []\n",
            ),
            // Not subscribers: an editor's backup and swap file, a dotfile, notes.
            ("20-adam.toml~", "email = \"backup@example.org\"\n"),
            (".20-adam.toml.swp", "\0binary"),
            (".hidden.toml", "email = \"hidden@example.org\"\n"),
            ("README.md", "# not TOML at all ["),
        ],
    );
    // Relative paths in a file resolve against the main file's folder, as there: a
    // subscriber moved out of the main file keeps its meaning.
    std::fs::write(
        install.dir.path().join("liked.bib"),
        "@article{a, eprint = {2406.12345}, archivePrefix = {arXiv}}\n\
         @article{b, eprint = {2311.00001}, archivePrefix = {arXiv}}\n",
    )
    .unwrap();
    let config = install.load().unwrap();
    assert_eq!(
        emails(&config),
        [
            "main@example.org",
            "yann@example.org",
            "zoe@example.org",
            "adam@example.org",
            "lib@example.org",
        ]
    );
    let lib = config.subscriber("lib@example.org").unwrap();
    let paperboy::config::TopicKind::Like(like) = &lib.topics[0].kind else {
        panic!("a like topic");
    };
    assert_eq!(like.liked, ["2311.00001", "2406.12345"]);
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);

    let adam = config.subscriber("adam@example.org").unwrap();
    assert_eq!(adam.email.to_string(), "Adam@Example.org");
    assert_eq!(adam.name.as_deref(), Some("Adam"));
    let topics: Vec<&str> = adam.topics.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(topics, ["\"language model\"", "Agents"]);
    assert_eq!(adam.timezone, chrono_tz::Asia::Tokyo);
    assert_eq!(adam.schedule.text, "0 30 8 * * MON-FRI");
    assert_eq!(
        (adam.max_papers, adam.min_upvotes, adam.require_upvotes),
        (3, 2, true)
    );
    assert!(adam.send_empty);

    // What a file leaves out comes from [schedule] and [digest], as for [[subscribers]].
    let zoe = config.subscriber("zoe@example.org").unwrap();
    assert_eq!(zoe.timezone, chrono_tz::Europe::Paris);
    assert_eq!(zoe.schedule.text, "0 0 6 * * *");
    assert_eq!(zoe.max_papers, 7);
    assert!(zoe.topics.is_empty() && !zoe.send_empty);
}

#[test]
fn every_problem_of_every_file_names_the_file_and_key_with_the_main_files_own() {
    let main =
        format!("{MAIN}\n[[subscribers]]\nemail = \"alice@example.org\"\ntopics = [\"(a OR b\"]\n");
    let install = Install::new(
        &main,
        &[
            (
                "alice.toml",
                "email = \"ALICE@example.org\"\ntopics = [\"diffusion\", \"diffusion AND\"]\n",
            ),
            (
                "bob.toml",
                "email = \"bob@example.org\"\ntopcs = [\"typo\"]\ntimezone = \"Nowhere/Town\"\n\
                 topics = [{ name = \"Mine\", like_file = \"bob.bib\", colour = \"red\" }]\n",
            ),
            ("carol.toml", "email = \"carol@\"\nmax_papers = 0\n"),
            ("dave.toml", "email = \"dave@example.org\"\ntopics = [\n"),
            (
                "erin.toml",
                "[[subscribers]]\nemail = \"erin@example.org\"\n",
            ),
            (
                "frank.toml",
                "email = \"bob@example.org\"\nname = \"Frank\"\n",
            ),
            ("gina.toml", "name = \"Gina\"\n"),
        ],
    );
    let found = problems(install.load());
    let expected = [
        // The main file's first, then each file in name order.
        "subscribers[0].topics[0] \"(a OR b\": ".to_string(),
        "subscribers.d/alice.toml: email \"ALICE@example.org\": is already used by subscribers[0]"
            .to_string(),
        "subscribers.d/alice.toml: topics[1] \"diffusion AND\": query ends after AND (column 14)"
            .to_string(),
        "subscribers.d/bob.toml: topcs: unknown key (a subscriber file takes email, name, topics,"
            .to_string(),
        "subscribers.d/bob.toml: topics[0].colour: unknown key (check its spelling)".to_string(),
        "subscribers.d/bob.toml: topics[0].like_file \"bob.bib\": cannot be read:".to_string(),
        "subscribers.d/bob.toml: timezone \"Nowhere/Town\": not an IANA time zone name".to_string(),
        "subscribers.d/carol.toml: email \"carol@\": not an email address".to_string(),
        "subscribers.d/carol.toml: max_papers \"0\": must be at least 1".to_string(),
        "subscribers.d/dave.toml: is not valid TOML: line 2, column 11: unclosed array".to_string(),
        "subscribers.d/erin.toml: subscribers: unknown key (write the keys at the top of the file, without [[subscribers]])".to_string(),
        "subscribers.d/erin.toml: email \"\": is required".to_string(),
        "subscribers.d/frank.toml: email \"bob@example.org\": is already used by subscribers.d/bob.toml".to_string(),
        "subscribers.d/gina.toml: email \"\": is required".to_string(),
    ];
    for (i, want) in expected.iter().enumerate() {
        assert!(
            found.get(i).is_some_and(|p| p.starts_with(want.as_str())),
            "problem {i}: want {want:?} in\n{}",
            found.join("\n")
        );
    }
    assert_eq!(found.len(), expected.len(), "{}", found.join("\n"));
}

#[test]
fn a_missing_folder_is_a_problem_naming_subscribers_dir_and_an_empty_one_is_fine() {
    let install = Install::new(MAIN, &[]);
    // Empty, and nobody in the main file either: valid, with a warning.
    let config = install.load().unwrap();
    assert!(config.subscribers.is_empty());
    assert_eq!(
        config.warnings,
        [
            "subscribers_dir \"subscribers.d\": holds no *.toml files and there are no [[subscribers]]: nobody gets a digest"
        ]
    );
    // Empty beside the main file's subscribers: nothing to say.
    std::fs::write(
        &install.config,
        format!("{MAIN}\n[[subscribers]]\nemail = \"a@example.org\"\n"),
    )
    .unwrap();
    let config = install.load().unwrap();
    assert_eq!(emails(&config), ["a@example.org"]);
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);

    std::fs::remove_dir(install.dir.path().join("subscribers.d")).unwrap();
    let missing = install.dir.path().join("subscribers.d");
    assert_eq!(
        problems(install.load()),
        [format!(
            "subscribers_dir \"subscribers.d\": {} does not exist: create it, or remove subscribers_dir",
            missing.display()
        )]
    );
    // The folder may come from the environment, which the problem then names.
    assert_eq!(
        problems(install.load_with_env(&[("PAPERBOY__SUBSCRIBERS_DIR", "people")])),
        [format!(
            "subscribers_dir \"people\" (set by PAPERBOY__SUBSCRIBERS_DIR): {} does not exist: create it, or remove subscribers_dir",
            install.dir.path().join("people").display()
        )]
    );
    std::fs::write(&missing, "").unwrap();
    assert_eq!(
        problems(install.load()),
        [format!(
            "subscribers_dir \"subscribers.d\": {} is not a folder",
            missing.display()
        )]
    );
}

#[test]
fn loading_again_as_sighup_does_sees_the_files_added_and_removed_since() {
    let install = Install::new(MAIN, &[("a.toml", "email = \"a@example.org\"\n")]);
    // SIGHUP reloads through App::load, as start-up does.
    let app = paperboy::app::App::load(&install.config).unwrap();
    assert_eq!(emails(&app.config), ["a@example.org"]);
    assert_eq!(app.recipients.len(), 1);

    install.write("b.toml", "email = \"b@example.org\"\n");
    std::fs::remove_file(install.dir.path().join("subscribers.d/a.toml")).unwrap();
    install.write("c.toml", "email = \"c@example.org\"\n");
    let app = paperboy::app::App::load(&install.config).unwrap();
    assert_eq!(emails(&app.config), ["b@example.org", "c@example.org"]);
    assert!(app.recipients.contains_key("c@example.org"));
    assert!(!app.recipients.contains_key("a@example.org"));
}

/// Puts `subscribers_dir` into the test env's main file (a top-level key, so before its
/// first table) and writes `files` into the folder.
fn with_subscribers_dir(env: &TestEnv, files: &[(&str, &str)]) -> PathBuf {
    let main = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(
        &env.config,
        format!("subscribers_dir = \"subscribers.d\"\n{main}"),
    )
    .unwrap();
    let dir = env.dir.path().join("subscribers.d");
    std::fs::create_dir(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn check_counts_the_folders_subscribers_and_send_now_delivers_to_them_in_name_order() {
    let env = TestEnv::new("[[subscribers]]\nemail = \"main@example.org\"\n").await;
    with_subscribers_dir(
        &env,
        &[
            (
                "1-zoe.toml",
                "email = \"zoe@example.org\"\ntopics = [\"title:agents\", \"llm\"]\n",
            ),
            (
                "2-adam.toml",
                "email = \"adam@example.org\"\ntopics = [\"title:agents\"]\n",
            ),
            ("3-bea.toml", "email = \"bea@example.org\"\n"),
            ("1-zoe.toml~", "email = \"zoe-backup@example.org\"\n"),
        ],
    );
    let out = env.run(&["check"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(": OK (4 subscribers, 3 topics, templates compiled"),
        "{}",
        stdout(&out)
    );

    let out = env.run(&["send-now", "--dry-run"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let order: Vec<&str> = lines(&text)
        .into_iter()
        .filter_map(|line| line.split_once(": would send").map(|(email, _)| email))
        .collect();
    assert_eq!(
        order,
        [
            "main@example.org",
            "zoe@example.org",
            "adam@example.org",
            "bea@example.org"
        ],
        "{text}"
    );

    let out = env
        .run(&["send-now", "--subscriber", "adam@example.org"])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mails = env.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails_to(&mails, "adam@example.org").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_lists_the_problems_of_every_file_together_and_exits_2() {
    let env = TestEnv::new("[[subscribers]]\nemail = \"a@example.org\"\n").await;
    with_subscribers_dir(
        &env,
        &[
            ("a.toml", "email = \"A@example.org\"\n"),
            (
                "b.toml",
                "email = \"b@example.org\"\ntopics = [\"x AND\"]\n",
            ),
            (
                "c.toml",
                "email = \"c@example.org\"\nschedul = \"0 0 7 * * *\"\n",
            ),
        ],
    );
    let out = env.run(&["check"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    for want in [
        "has 3 problems:",
        "  - subscribers.d/a.toml: email \"A@example.org\": is already used by subscribers[0]",
        "  - subscribers.d/b.toml: topics[0] \"x AND\": query ends after AND",
        "  - subscribers.d/c.toml: schedul: unknown key",
    ] {
        assert!(err.contains(want), "missing {want:?} in\n{err}");
    }
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

#[test]
fn an_absolute_folder_is_used_as_written_and_problems_name_it_so() {
    let install = Install::new(MAIN, &[]);
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(elsewhere.path().join("x.toml"), "email = \"x@\"\n").unwrap();
    let main = MAIN.replace(
        "\"subscribers.d\"",
        &format!("{:?}", elsewhere.path().display().to_string()),
    );
    std::fs::write(&install.config, main).unwrap();
    let file = elsewhere.path().join("x.toml");
    let found = problems(install.load());
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with(&format!(
            "{}: email \"x@\": not an email address",
            file.display()
        )),
        "{found:?}"
    );
}

#[test]
fn the_example_configs_subscribers_dir_line_works_uncommented() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/paperboy.toml");
    let text = std::fs::read_to_string(example).unwrap();
    let line = "# subscribers_dir = \"subscribers.d\"\n";
    assert!(text.contains(line), "the example documents subscribers_dir");
    let install = Install::new(
        &text.replace(line, &line[2..]),
        &[("carol.toml", "email = \"carol@example.org\"\n")],
    );
    let config = install.load().unwrap();
    assert_eq!(
        emails(&config),
        ["alice@example.org", "bob@example.org", "carol@example.org"]
    );
}
