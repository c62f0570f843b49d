//! "More like these papers" as a new user meets it: a day of several hundred real arXiv
//! papers from many fields (tests/fixtures/arxiv_papers.json) announced on the stand-in
//! feed, subscribers who like a handful of papers of one field, the liked ones looked up on
//! the stand-in API.

mod support;

use support::*;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

#[derive(serde::Deserialize, Clone)]
struct Real {
    id: String,
    title: String,
    #[serde(rename = "abstract")]
    abstract_text: String,
    categories: Vec<String>,
}

fn real_papers() -> Vec<Real> {
    serde_json::from_str(include_str!("fixtures/arxiv_papers.json")).unwrap()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The day's announcement: every paper as a `new` item.
fn rss(papers: &[Real]) -> String {
    let items: String = papers
        .iter()
        .map(|p| {
            let categories: String = p
                .categories
                .iter()
                .map(|c| format!("<category>{c}</category>"))
                .collect();
            format!(
                "<item><title>{}</title><link>https://arxiv.org/abs/{id}</link>\
                 <description>arXiv:{id}v1 Announce Type: new \nAbstract: {}</description>\
                 <guid isPermaLink=\"false\">oai:arXiv.org:{id}v1</guid>{categories}\
                 <arxiv:announce_type>new</arxiv:announce_type>\
                 <dc:creator>Ada Lovelace</dc:creator></item>",
                escape(&p.title),
                escape(&p.abstract_text),
                id = p.id,
            )
        })
        .collect();
    format!(
        "<?xml version='1.0' encoding='UTF-8'?>\
         <rss xmlns:arxiv=\"http://arxiv.org/schemas/atom\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\" version=\"2.0\">\
         <channel><title>physics updates on arXiv.org</title><link>http://rss.arxiv.org/rss/physics</link>\
         <description>d</description><pubDate>Fri, 12 Jun 2026 00:00:00 -0400</pubDate>{items}</channel></rss>"
    )
}

/// The API's answer to a lookup of `papers` by id.
fn atom(papers: &[Real]) -> String {
    let entries: String = papers
        .iter()
        .map(|p| {
            let categories: String = p
                .categories
                .iter()
                .map(|c| format!("<category term=\"{c}\" scheme=\"http://arxiv.org/schemas/atom\"/>"))
                .collect();
            format!(
                "<entry><id>http://arxiv.org/abs/{}v1</id><title>{}</title><summary>{}</summary>\
                 {categories}<arxiv:primary_category term=\"{}\"/><published>2007-04-01T00:00:00Z</published>\
                 <author><name>Ada Lovelace</name></author></entry>",
                p.id,
                escape(&p.title),
                escape(&p.abstract_text),
                p.categories[0]
            )
        })
        .collect();
    format!(
        "<?xml version='1.0' encoding='UTF-8'?>\
         <feed xmlns:opensearch=\"http://a9.com/-/spec/opensearch/1.1/\" xmlns:arxiv=\"http://arxiv.org/schemas/atom\" xmlns=\"http://www.w3.org/2005/Atom\">\
         <id>https://arxiv.org/api/x</id><title>q</title>\
         <opensearch:itemsPerPage>{n}</opensearch:itemsPerPage><opensearch:totalResults>{n}</opensearch:totalResults>\
         <opensearch:startIndex>0</opensearch:startIndex>{entries}</feed>",
        n = papers.len()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn subscribers_who_like_papers_of_a_field_get_mostly_that_field_and_never_twice() {
    let papers = real_papers();
    let field = |p: &Real, archive: &str| p.categories.iter().any(|c| c.starts_with(archive));
    let of = |archive: &str| -> Vec<Real> {
        papers
            .iter()
            .filter(|p| p.categories[0].starts_with(archive))
            .take(6)
            .cloned()
            .collect()
    };
    let (astro, cond) = (of("astro-ph"), of("cond-mat"));
    let liked: Vec<Real> = astro.iter().chain(&cond).cloned().collect();
    let day: Vec<Real> = papers
        .iter()
        .filter(|p| !liked.iter().any(|l| l.id == p.id))
        .cloned()
        .collect();

    let ids = |list: &[Real]| {
        list.iter()
            .map(|p| format!("{:?}", p.id))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let env = TestEnv::empty("").await;
    let bib: String = cond
        .iter()
        .map(|p| {
            format!(
                "@article{{k{0}, eprint = {{{0}}}, archivePrefix = {{arXiv}}}}\n",
                p.id
            )
        })
        .collect();
    std::fs::write(env.dir.path().join("library.bib"), bib).unwrap();
    let config = std::fs::read_to_string(&env.config).unwrap().replace(
        "[sources.huggingface]\n",
        "[sources.huggingface]\nenabled = false\n",
    );
    std::fs::write(
        &env.config,
        format!(
            "{config}\n[sources.arxiv]\nenabled = true\ncategories = [\"physics\"]\n\
             rss_url = \"{uri}/rss\"\napi_url = \"{uri}/api/query\"\ntimeout = \"5s\"\n\
             [[subscribers]]\nemail = \"astro@example.org\"\nmax_papers = 25\n\
             topics = [{{ name = \"Like my work\", like = [{}, \"0704.99999\"] }}]\n\
             [[subscribers]]\nemail = \"cond@example.org\"\nmax_papers = 25\n\
             topics = [{{ name = \"My library\", like_file = \"library.bib\" }}]\n",
            ids(&astro),
            uri = env.hf.uri()
        ),
    )
    .unwrap();
    Mock::given(method("GET"))
        .and(path("/rss/physics"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(rss(&day), "application/rss+xml"))
        .mount(&env.hf)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/query"))
        .and(query_param("max_results", "13"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(atom(&liked), "application/atom+xml"))
        .expect(1)
        .mount(&env.hf)
        .await;

    let out = env.run(&["send-now"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("liked paper 0704.99999 was not found on arXiv"),
        "an unknown id warns and does not fail: {}",
        stderr(&out)
    );
    let mails = env.mails();
    for (address, archive, liked) in [
        ("astro@example.org", "astro-ph", &astro),
        ("cond@example.org", "cond-mat", &cond),
    ] {
        let mail = mails_to(&mails, address);
        assert_eq!(mail.len(), 1, "{address}: {}", stdout(&out));
        let sent = mail[0].arxiv_ids();
        assert!(sent.len() >= 5, "{address} got {}", sent.len());
        let relevant = sent
            .iter()
            .filter(|id| papers.iter().any(|p| &p.id == *id && field(p, archive)))
            .count();
        let precision = relevant as f64 / sent.len() as f64;
        eprintln!("{address}: {relevant} of {} sent are {archive}", sent.len());
        assert!(
            precision >= 0.9,
            "{address}: precision {precision} of {}",
            sent.len()
        );
        assert!(
            sent.iter().all(|id| !liked.iter().any(|l| &l.id == id)),
            "never a liked paper"
        );
        // Each paper names the liked paper it is closest to (the text part is wrapped:
        // read it as one line).
        let flat = mail[0]
            .text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            flat.matches("similar to: ").count(),
            sent.len(),
            "{}",
            mail[0].text
        );
        assert!(
            liked
                .iter()
                .any(|l| flat.contains(&format!("similar to: {}", l.title))),
            "{}",
            mail[0].text
        );
    }

    // The lookups are kept: a second run asks the API nothing (`expect(1)` above) and sends
    // nobody a paper again.
    let again = env.run(&["send-now"]).await;
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(env.mails().len(), mails.len(), "{}", stdout(&again));
}
