use super::*;

const SUBJECT_TEMPLATE: &str = "{{ count }} new papers for you · {{ date }}";

fn paper(title: &str, authors: &[&str]) -> Paper {
    Paper {
        summary: "An abstract with <b>markup</b> & ampersands.".into(),
        authors: authors.iter().map(|a| a.to_string()).collect(),
        upvotes: Some(7),
        ..Paper::new("2606.00467", title)
    }
}

fn input<'a>(sections: &'a [Section<'a>], topics: &'a [&'a str]) -> DigestInput<'a> {
    DigestInput {
        name: Some("Alice"),
        email: "alice@example.org",
        date: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
        sections,
        topics,
        unsubscribe: Some("mailto:admin@example.org?subject=unsubscribe"),
        contact: "papers@example.org",
    }
}

fn renderer() -> Renderer {
    Renderer::new(SUBJECT_TEMPLATE, None).unwrap()
}

/// One paper that the topic `query` matched, under its heading.
fn render_with(paper: &Paper, query: &str) -> Rendered {
    let query = TopicQuery::parse(query).unwrap();
    let sections = [Section {
        heading: "diffusion",
        entries: vec![DigestEntry {
            paper,
            topics: vec!["diffusion"],
            queries: vec![&query],
            like: None,
        }],
    }];
    renderer()
        .render(&input(&sections, &["diffusion"]))
        .unwrap()
}

fn render(paper: &Paper) -> Rendered {
    render_with(paper, "diffusion")
}

#[test]
fn escapes_paper_text_in_html_and_keeps_it_verbatim_in_text() {
    let p = paper(
        "<script>alert(1)</script> & \"quotes\"",
        &["Eve <eve@evil>"],
    );
    let r = render(&p);
    assert!(!r.html.contains("<script>"), "{}", r.html);
    assert!(
        r.html
            .contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;"),
        "{}",
        r.html
    );
    assert!(r.html.contains("Eve &lt;eve@evil&gt;"));
    assert!(r.html.contains("&lt;b&gt;markup&lt;/b&gt;"));
    assert!(r.text.contains("<script>alert(1)</script> & \"quotes\""));
    assert!(
        r.text
            .contains("An abstract with <b>markup</b> & ampersands.")
    );
}

#[test]
fn marks_matched_words_without_breaking_escaping() {
    let p = Paper {
        summary: "We <b>unlearn</b> facts & \"forget\" them. Unlearning works.".into(),
        ..paper("Machine Unlearning <em>&</em> unlearned models", &["A"])
    };
    let r = render_with(&p, "unlearning");
    let mark = |word: &str| format!("{MARK_OPEN}{word}</mark>");
    assert!(
        r.html.contains(&format!(
            "Machine {} &lt;em&gt;&amp;&lt;/em&gt; {} models",
            mark("Unlearning"),
            mark("unlearned")
        )),
        "{}",
        r.html
    );
    assert!(
        r.html.contains(&format!(
            "We &lt;b&gt;{}&lt;/b&gt; facts &amp; &quot;forget&quot; them. {} works.",
            mark("unlearn"),
            mark("Unlearning")
        )),
        "{}",
        r.html
    );
    assert!(!r.html.contains("<em>") && !r.html.contains("<b>"));
    // The text part is not marked up.
    assert!(
        r.text
            .contains("Machine Unlearning <em>&</em> unlearned models")
    );
    assert!(!r.text.contains("mark"));
}

#[test]
fn the_snippet_is_the_sentences_around_the_first_match() {
    let p = Paper {
        summary: "Models grow. Data grows too. Compute is scarce. We propose sparse \
                  diffusion for video. It is fast. It is small. Code is out."
            .into(),
        ai_summary: Some("A short summary.".into()),
        ..paper("A title", &["A"])
    };
    let r = render(&p);
    assert!(
        r.text
            .contains("… We propose sparse diffusion for video. It is fast. It is small. …"),
        "{}",
        r.text
    );
    // No word of the abstract matched (a title match): the short summary instead.
    let r = render_with(&p, "title");
    assert!(r.text.contains("A short summary."), "{}", r.text);
}

#[test]
fn shows_links_authors_and_the_subject() {
    let p = paper("Title", &["A", "B", "C", "D", "E"]);
    let r = render(&p);
    assert_eq!(r.subject, "1 new papers for you · Thu 26 Nov 2026");
    assert!(
        r.html
            .contains("href=\"https://huggingface.co/papers/2606.00467\""),
        "{}",
        r.html
    );
    assert!(r.html.contains("href=\"https://arxiv.org/pdf/2606.00467\""));
    assert!(
        r.text
            .contains("[1] https://huggingface.co/papers/2606.00467")
    );
    assert!(r.text.contains("[2] https://arxiv.org/abs/2606.00467"));
    assert!(r.text.contains("[3] https://arxiv.org/pdf/2606.00467"));
    assert!(
        r.text
            .contains("[1]\u{a0}Hugging\u{a0}Face · [2]\u{a0}arXiv:2606.00467 · [3]\u{a0}PDF")
    );
    assert!(r.text.contains("A, B, C et al."));
}

#[test]
fn groups_papers_under_their_first_topic_and_names_the_others() {
    let agents = TopicQuery::parse("agents").unwrap();
    let diffusion = TopicQuery::parse("diffusion").unwrap();
    let both = Paper {
        upvotes: Some(3),
        ..Paper::new("2606.00001", "Diffusion agents")
    };
    let one = Paper {
        upvotes: Some(2),
        ..Paper::new("2606.00002", "Diffusion only")
    };
    let entry = |paper, topics: Vec<&'static str>, queries| DigestEntry {
        paper,
        topics,
        queries,
        like: None,
    };
    let sections = [
        Section {
            heading: "LLM agents",
            entries: vec![entry(
                &both,
                vec!["LLM agents", "Diffusion"],
                vec![&agents, &diffusion],
            )],
        },
        Section {
            heading: "Diffusion",
            entries: vec![entry(&one, vec!["Diffusion"], vec![&diffusion])],
        },
    ];
    let r = renderer()
        .render(&input(&sections, &["LLM agents", "Diffusion"]))
        .unwrap();
    let text = &r.text;
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} in {text}"))
    };
    assert!(at("LLM agents\n----------") < at("1. Diffusion agents"));
    assert!(at("1. Diffusion agents") < at("also: Diffusion"));
    assert!(at("also: Diffusion") < at("Diffusion\n---------"));
    assert!(at("Diffusion\n---------") < at("2. Diffusion only"));
    assert_eq!(text.matches("Diffusion agents").count(), 1);
    assert!(r.html.contains(">LLM agents</h2>") && r.html.contains(">Diffusion</h2>"));
    assert!(r.html.contains("also: Diffusion"));
    assert!(
        r.html
            .contains("with the topics LLM agents &#183; Diffusion"),
        "{}",
        r.html
    );
}

#[test]
fn the_html_is_ascii_with_every_other_character_a_reference() {
    let p = paper("Schrödinger bridges — fast", &["Ana Núñez"]);
    let r = render(&p);
    assert!(r.html.is_ascii());
    assert!(
        r.html.contains("Schr&#246;dinger bridges &#8212; fast"),
        "{}",
        r.html
    );
    assert!(r.html.contains("Ana N&#250;&#241;ez"), "{}", r.html);
    // The text part keeps the characters themselves.
    assert!(r.text.contains("Schrödinger bridges — fast"), "{}", r.text);
}

#[test]
fn a_style_sheet_keeps_its_characters() {
    let html = "<p>é</p><style>p::after { content: \"é\" }</style><p>ü</p>".to_string();
    assert_eq!(
        super::ascii_html(html),
        "<p>&#233;</p><style>p::after { content: \"é\" }</style><p>&#252;</p>"
    );
}

#[test]
fn the_subject_is_one_line_whatever_the_template_puts_in_it() {
    let p = paper("Title\r\nBcc: victim@example.org", &["A"]);
    let sections = [Section {
        heading: TRENDING,
        entries: vec![DigestEntry {
            paper: &p,
            topics: vec![],
            queries: vec![],
            like: None,
        }],
    }];
    let rendered = Renderer::new("{% for p in papers %}{{ p.title }}{% endfor %}", None)
        .unwrap()
        .render(&input(&sections, &[]))
        .unwrap();
    assert_eq!(rendered.subject, "Title Bcc: victim@example.org");
}

#[test]
fn shortens_authors_and_abstracts() {
    let names = |n: usize| (0..n).map(|i| format!("N{i}")).collect::<Vec<_>>();
    assert_eq!(short_authors(&names(4)), "N0, N1, N2, N3");
    assert_eq!(short_authors(&names(5)), "N0, N1, N2 et al.");
    let long = "word ".repeat(100);
    let cut = truncate_words(&long, 50);
    assert!(cut.ends_with("word…") && cut.chars().count() <= 51, "{cut}");
    assert_eq!(truncate_words("short", 50), "short");
}

#[test]
fn a_broken_override_is_reported_with_its_name_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("digest.txt"),
        "one\n{{ papers | nosuchfilter }}",
    )
    .unwrap();
    let err = Renderer::new(SUBJECT_TEMPLATE, Some(dir.path()))
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .starts_with("template digest.txt: line 2, column"),
        "{err}"
    );
    assert!(err.to_string().contains("nosuchfilter"), "{err}");
    // An unclosed block is reported where it opens, not at the end of the file.
    std::fs::write(
        dir.path().join("digest.txt"),
        "one\n{% for paper in papers %}\n{{ paper.title }}\n\n\nend\n",
    )
    .unwrap();
    let err = Renderer::new(SUBJECT_TEMPLATE, Some(dir.path()))
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "template digest.txt: line 2: {% for paper in papers %} is never closed"
    );
    let err = Renderer::new("{{ count", None).err().unwrap();
    assert!(
        err.to_string().starts_with("template mail.subject:"),
        "{err}"
    );
    let err = Renderer::new("{{ nosuchvariable }}", None).err().unwrap();
    assert!(err.to_string().contains("nosuchvariable"), "{err}");
    // A template that only breaks on an empty digest is caught too.
    let err = Renderer::new("{{ papers[0].title }}", None).err().unwrap();
    assert!(
        err.to_string().starts_with("template mail.subject:"),
        "{err}"
    );
}

#[test]
fn one_star_is_a_star() {
    let p = Paper {
        github_repo: Some("https://github.com/example/one".into()),
        github_stars: Some(1),
        ..paper("A paper", &["A"])
    };
    let rendered = render(&p);
    assert!(
        rendered.text.contains("code\u{a0}(1\u{a0}star)"),
        "{}",
        rendered.text
    );
    assert!(!rendered.text.contains("stars"), "{}", rendered.text);
}

#[test]
fn the_text_part_is_wrapped_at_72_columns() {
    let p = Paper {
        summary: "word ".repeat(120),
        authors: (0..3)
            .map(|i| format!("Author Number{i} Withalongname"))
            .collect(),
        organization: Some("An Organisation With A Rather Long Name Indeed".into()),
        github_repo: Some("https://github.com/example/a-repository".into()),
        github_stars: Some(1200),
        project_page: Some("https://example.org/project".into()),
        num_comments: 3,
        ..paper(
            &"A Title That Goes On and On About Sparse Attention ".repeat(3),
            &[],
        )
    };
    let rendered = render(&p);
    for line in rendered.text.lines() {
        if !line.contains("http") {
            assert!(line.chars().count() <= 72, "{line:?} in\n{}", rendered.text);
        }
    }
    assert_eq!(wrap("a bb ccc", 5, 2), "a\n  bb\n  ccc");
    assert_eq!(wrap("a\nb c", 80, 1), "a\n b c");
    assert_eq!(
        wrap("https://example.org/a/long/link", 10, 3),
        "https://example.org/a/long/link"
    );
    // Empty lines keep their indent; characters, not bytes, fill a line; runs of spaces fold.
    assert_eq!(wrap("a\n\nb", 80, 2), "a\n  \n  b");
    assert_eq!(wrap("", 80, 2), "");
    assert_eq!(wrap("é é é  é", 5, 0), "é é é\né");
    assert_eq!(wrap("x\u{a0}y z", 3, 0), "x\u{a0}y\nz");
}
