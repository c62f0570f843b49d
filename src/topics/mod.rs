// TEMPORARY STUB (replaced by the real module)
use crate::paper::Paper;
#[derive(Debug, Clone)]
pub struct TopicQuery(String);
#[derive(Debug, Clone, PartialEq)]
pub struct QueryError;
impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("bad")
    }
}
impl TopicQuery {
    pub fn parse(t: &str) -> Result<TopicQuery, QueryError> {
        if t.ends_with("AND") {
            Err(QueryError)
        } else {
            Ok(TopicQuery(t.to_lowercase()))
        }
    }
}
pub struct PaperIndex(Vec<String>);
impl PaperIndex {
    pub fn new<'a>(papers: impl IntoIterator<Item = &'a Paper>) -> PaperIndex {
        PaperIndex(
            papers
                .into_iter()
                .map(|p| format!("{} {}", p.title, p.summary).to_lowercase())
                .collect(),
        )
    }
}
#[derive(Clone, Copy)]
pub struct QueryId(usize);
#[derive(Default)]
pub struct QuerySet(Vec<String>);
impl QuerySet {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn add(&mut self, q: &TopicQuery) -> QueryId {
        self.0.push(q.0.clone());
        QueryId(self.0.len() - 1)
    }
    pub fn evaluate(&self, index: &PaperIndex) -> Matches {
        Matches(
            self.0
                .iter()
                .map(|q| PaperSet(index.0.iter().map(|t| t.contains(q.as_str())).collect()))
                .collect(),
        )
    }
}
pub struct Matches(Vec<PaperSet>);
impl Matches {
    pub fn papers(&self, id: QueryId) -> &PaperSet {
        &self.0[id.0]
    }
}
pub struct PaperSet(Vec<bool>);
impl PaperSet {
    pub fn contains(&self, i: usize) -> bool {
        self.0[i]
    }
}
