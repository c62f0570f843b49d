//! A subscriber's topics: query strings, `{ name, query }` tables, and "more like these
//! papers" tables (`like`, `like_file`, `unlike`, `min_score`, `max_papers`).

use std::path::Path;

use super::problems::Problems;
use super::{bibtex, raw, resolve};
use crate::paper::normalize_arxiv_id;
use crate::topics::TopicQuery;

/// A "more like these papers" topic needs at least this many liked papers to learn from.
const MIN_LIKED: usize = 2;

#[derive(Debug, Clone)]
pub struct Topic {
    /// The heading of its group in the email: the table's `name`, else the query text.
    pub name: String,
    pub kind: TopicKind,
}

#[derive(Debug, Clone)]
pub enum TopicKind {
    Query(TopicQuery),
    /// Boxed: twice the size of a query, and most topics are queries.
    Like(Box<LikeTopic>),
}

impl Topic {
    /// The query, for a query topic.
    pub fn query(&self) -> Option<&TopicQuery> {
        match &self.kind {
            TopicKind::Query(query) => Some(query),
            TopicKind::Like(_) => None,
        }
    }
}

/// Papers like the ones a subscriber likes.
#[derive(Debug, Clone, PartialEq)]
pub struct LikeTopic {
    /// arXiv ids of the liked papers, from `like` and `like_file`, without versions.
    pub liked: Vec<String>,
    /// Liked papers a BibTeX file gives by title and abstract alone.
    pub liked_texts: Vec<LikedText>,
    /// Papers the subscriber does not want more of.
    pub unliked: Vec<String>,
    /// The score a paper needs; `None`: the scorer's default.
    pub min_score: Option<f64>,
    /// At most this many of the digest's papers from this topic.
    pub max_papers: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LikedText {
    pub title: String,
    pub abstract_text: String,
}

/// What `validate_topic` needs to know of the rest of the config.
pub(super) struct TopicContext<'a> {
    pub base: &'a Path,
    /// `None`: [sources.arxiv] has problems of its own; `Some(None)`: it is disabled.
    pub followed_categories: &'a Option<Option<Vec<String>>>,
}

/// The topic at `key`, or `None` with its problems reported.
pub(super) fn validate_topic(
    topic: &raw::RawTopic,
    key: &str,
    context: &TopicContext<'_>,
    problems: &mut Problems,
) -> Option<Topic> {
    match topic {
        raw::RawTopic::Query(query) => query_topic(None, query, key, context, problems),
        raw::RawTopic::Invalid(text) => {
            problems.report(
                key,
                text,
                "must be a query string or a table { name = \"...\", query = \"...\" } or \
                 { name = \"...\", like = [\"2406.12345\", ...] }",
            );
            None
        }
        raw::RawTopic::Named(table) => {
            let raw::RawTopicTable {
                name,
                query,
                like,
                like_file,
                unlike,
                min_score,
                max_papers,
            } = table.as_ref();
            let name_key = format!("{key}.name");
            let name = match problems.valid_opt(&name_key, name) {
                None if name.is_none() => {
                    problems.report(&name_key, "", "is required in a topic table");
                    return None;
                }
                None => return None,
                Some(name) if name.trim().is_empty() => {
                    problems.report(&name_key, &name, "must not be empty");
                    return None;
                }
                Some(name) => name,
            };
            let is_like = like.is_some() || like_file.is_some();
            match (query, is_like) {
                (Some(_), true) => {
                    problems.report(
                        key,
                        &name,
                        "has both query and like/like_file: a topic is one or the other",
                    );
                    None
                }
                (None, false) => {
                    problems.report(
                        &format!("{key}.query"),
                        "",
                        "is required in a topic table (or like = [...] / like_file)",
                    );
                    None
                }
                (Some(query), false) => {
                    if unlike.is_some() || min_score.is_some() || max_papers.is_some() {
                        problems.report(
                            key,
                            &name,
                            "unlike, min_score and max_papers belong to like topics",
                        );
                    }
                    let query = problems.valid(&format!("{key}.query"), query)?;
                    query_topic(Some(name), &query, key, context, problems)
                }
                (None, true) => {
                    let like = LikeFields {
                        like: like.as_ref(),
                        like_file: like_file.as_ref(),
                        unlike: unlike.as_ref(),
                        min_score: min_score.as_ref(),
                        max_papers: max_papers.as_ref(),
                    };
                    let kind = like_topic(&like, key, context, problems)?;
                    Some(Topic {
                        name,
                        kind: TopicKind::Like(Box::new(kind)),
                    })
                }
            }
        }
    }
}

fn query_topic(
    name: Option<String>,
    query: &str,
    key: &str,
    context: &TopicContext<'_>,
    problems: &mut Problems,
) -> Option<Topic> {
    let parsed = TopicQuery::parse(query)
        .map_err(|e| problems.report(key, query, e))
        .ok()?;
    if let Some(followed) = context.followed_categories
        && let Some(warning) = category_warning(&parsed.categories(), followed.as_deref())
    {
        problems.warn(key, query, warning);
    }
    let operators = parsed.lowercase_operators();
    if !operators.is_empty() {
        let words = operators
            .iter()
            .map(|op| format!("{op:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let verb = if operators.len() == 1 {
            "is searched as a word"
        } else {
            "are searched as words"
        };
        problems.warn(
            key,
            query,
            format!("{words} {verb}; write AND, OR, NOT in upper case for the operators"),
        );
    }
    Some(Topic {
        name: name.unwrap_or_else(|| query.to_string()),
        kind: TopicKind::Query(parsed),
    })
}

struct LikeFields<'a> {
    like: Option<&'a raw::Section<Vec<raw::Lenient<String>>>>,
    like_file: Option<&'a raw::Lenient<std::path::PathBuf>>,
    unlike: Option<&'a raw::Section<Vec<raw::Lenient<String>>>>,
    min_score: Option<&'a raw::Lenient<f64>>,
    max_papers: Option<&'a raw::Lenient<u32>>,
}

fn like_topic(
    fields: &LikeFields<'_>,
    key: &str,
    context: &TopicContext<'_>,
    problems: &mut Problems,
) -> Option<LikeTopic> {
    let mut ok = true;
    let mut ids = |list: Option<&raw::Section<Vec<raw::Lenient<String>>>>,
                   field: &str,
                   problems: &mut Problems| {
        let mut ids = Vec::new();
        let Some(list) = list else { return ids };
        problems.section(
            &format!("{key}.{field}"),
            list,
            "must be a list of arXiv ids, e.g. [\"2406.12345\", \"arXiv:2311.00001v2\"]",
        );
        for (i, item) in list.iter().enumerate() {
            let item_key = format!("{key}.{field}[{i}]");
            let Some(text) = problems.valid(&item_key, item) else {
                ok = false;
                continue;
            };
            match normalize_arxiv_id(&text) {
                Some(id) => ids.push(id),
                None => {
                    problems.report(
                        &item_key,
                        &text,
                        "not an arXiv id (e.g. 2406.12345, arXiv:2311.00001v2, hep-th/9901001)",
                    );
                    ok = false;
                }
            }
        }
        ids
    };
    let mut liked = ids(fields.like, "like", problems);
    let unliked = ids(fields.unlike, "unlike", problems);
    let mut liked_texts = Vec::new();
    if let Some(file) = fields.like_file {
        let file_key = format!("{key}.like_file");
        if let Some(file) = problems.valid(&file_key, file) {
            let path = resolve(context.base, &file);
            let shown = file.display().to_string();
            match std::fs::read_to_string(&path) {
                Err(e) => {
                    problems.report(&file_key, &shown, format!("cannot be read: {e}"));
                    ok = false;
                }
                Ok(text) => {
                    let (entries, errors) = bibtex::parse(&text);
                    for error in errors {
                        problems.report(&file_key, &shown, error);
                        ok = false;
                    }
                    for entry in entries {
                        match (entry.arxiv_id, entry.title, entry.abstract_text) {
                            (Some(id), _, _) => liked.push(id),
                            (None, Some(title), Some(abstract_text)) => {
                                liked_texts.push(LikedText {
                                    title,
                                    abstract_text,
                                })
                            }
                            // The parser reports entries with neither.
                            _ => {}
                        }
                    }
                }
            }
        } else {
            ok = false;
        }
    }
    liked.sort();
    liked.dedup();
    let usable = liked.len() + liked_texts.len();
    if ok && usable < MIN_LIKED {
        problems.report(
            key,
            &usable.to_string(),
            format!("a like topic needs at least {MIN_LIKED} liked papers to go by"),
        );
        ok = false;
    }
    let min_score = match fields.min_score {
        None => None,
        Some(field) => {
            let score = problems.valid(&format!("{key}.min_score"), field);
            match score {
                Some(s) if s.is_finite() => Some(s),
                Some(s) => {
                    problems.report(
                        &format!("{key}.min_score"),
                        &s.to_string(),
                        "must be a number",
                    );
                    ok = false;
                    None
                }
                None => {
                    ok = false;
                    None
                }
            }
        }
    };
    let max_papers = match fields.max_papers {
        None => None,
        Some(field) => match problems.valid(&format!("{key}.max_papers"), field) {
            Some(0) => {
                problems.report(&format!("{key}.max_papers"), "0", "must be at least 1");
                ok = false;
                None
            }
            Some(n) => Some(n as usize),
            None => {
                ok = false;
                None
            }
        },
    };
    ok.then_some(LikeTopic {
        liked,
        liked_texts,
        unliked,
        min_score,
        max_papers,
    })
}

/// Why a topic's `category:` terms may never match, given the categories arXiv is asked
/// for (`None`: the arXiv source is disabled).
fn category_warning(terms: &[String], followed: Option<&[String]>) -> Option<String> {
    if terms.is_empty() {
        return None;
    }
    let Some(followed) = followed else {
        return Some(
            "category: terms never match, since no enabled source reports arXiv categories \
             (Hugging Face does not; enable [sources.arxiv])"
                .into(),
        );
    };
    let followed: Vec<String> = followed.iter().map(|c| c.to_lowercase()).collect();
    // A followed archive (`cs`) brings all its categories; a prefix term (`cs.*`) is covered
    // by any followed category it starts.
    let covered = |term: &str| match term.strip_suffix('*') {
        Some(prefix) => followed
            .iter()
            .any(|f| f.starts_with(prefix) || prefix.starts_with(&format!("{f}."))),
        None => followed.iter().any(|f| {
            f == term
                || term
                    .split_once('.')
                    .is_some_and(|(archive, _)| archive == f)
        }),
    };
    let outside: Vec<&str> = terms
        .iter()
        .map(String::as_str)
        .filter(|t| !covered(t))
        .collect();
    let verb = if outside.len() == 1 { "is" } else { "are" };
    (!outside.is_empty()).then(|| {
        format!(
            "category:{} {verb} not among sources.arxiv.categories: only papers cross-listed \
             into those can match",
            outside.join(", category:")
        )
    })
}
