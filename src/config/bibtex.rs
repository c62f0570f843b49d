//! BibTeX exports (Zotero, Google Scholar, Mendeley, JabRef) as lists of liked papers: each
//! entry names an arXiv id (`eprint`, `arxivId`, an arxiv.org `url`, an arXiv DOI) or carries
//! a title and an abstract. Hand-written: a reference manager's export needs entries, fields
//! and braces, not the whole language (`@string` macros are not expanded).

use crate::paper::normalize_arxiv_id;

/// A liked paper as an export describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BibEntry {
    /// The citation key, for messages.
    pub key: String,
    /// 1-based line of the entry's `@`.
    pub line: usize,
    pub arxiv_id: Option<String>,
    pub title: Option<String>,
    pub abstract_text: Option<String>,
}

/// An entry that could not be read, with where it starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct BibError {
    pub line: usize,
    pub message: String,
}

/// Every entry of `text` that names a paper, and the problems of those that could not be read.
/// A problem ends only its own entry: reading goes on at the next `@`.
pub fn parse(text: &str) -> (Vec<BibEntry>, Vec<BibError>) {
    let mut parser = Parser {
        chars: text.char_indices().collect(),
        pos: 0,
        text,
    };
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    while parser.skip_to_entry() {
        let start = parser.pos;
        match parser.entry() {
            Ok(Some(entry)) => entries.push(entry),
            Ok(None) => {}
            Err(message) => {
                errors.push(BibError {
                    line: parser.line_of(start),
                    message,
                });
                parser.pos = start + 1;
            }
        }
    }
    (entries, errors)
}

struct Parser<'a> {
    chars: Vec<(usize, char)>,
    pos: usize,
    text: &'a str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).map(|&(_, c)| c)
    }

    fn line_of(&self, pos: usize) -> usize {
        let byte = self.chars.get(pos).map_or(self.text.len(), |&(b, _)| b);
        self.text[..byte].matches('\n').count() + 1
    }

    /// Moves to the next `@`; false at the end. Text between entries is a comment in BibTeX.
    fn skip_to_entry(&mut self) -> bool {
        while let Some(c) = self.peek() {
            if c == '@' {
                return true;
            }
            self.pos += 1;
        }
        false
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn word(&mut self) -> String {
        let mut word = String::new();
        while let Some(c) = self.peek() {
            if c.is_alphanumeric() || "_-:.+/'".contains(c) {
                word.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        word
    }

    /// One `@type{key, field = value, ...}`; `None` for `@comment`, `@string`, `@preamble`.
    fn entry(&mut self) -> Result<Option<BibEntry>, String> {
        let line = self.line_of(self.pos);
        self.pos += 1; // '@'
        let kind = self.word().to_lowercase();
        if kind.is_empty() {
            return Err("an @ without an entry type".into());
        }
        self.skip_space();
        let close = match self.peek() {
            Some('{') => '}',
            Some('(') => ')',
            _ => return Err(format!("@{kind} is not followed by {{")),
        };
        self.pos += 1;
        if matches!(kind.as_str(), "comment" | "string" | "preamble") {
            self.balanced(close)?;
            return Ok(None);
        }
        self.skip_space();
        let key = self.word();
        if key.is_empty() {
            return Err(format!("@{kind} has no citation key"));
        }
        let mut entry = BibEntry {
            key: key.clone(),
            line,
            arxiv_id: None,
            title: None,
            abstract_text: None,
        };
        let mut fields: Vec<(String, String)> = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                Some(',') => {
                    self.pos += 1;
                    continue;
                }
                Some(c) if c == close => {
                    self.pos += 1;
                    break;
                }
                None => return Err(format!("entry {key} is not closed")),
                _ => {}
            }
            let name = self.word().to_lowercase();
            if name.is_empty() {
                return Err(format!(
                    "entry {key}: a field name was expected at line {}",
                    self.line_of(self.pos)
                ));
            }
            self.skip_space();
            if self.peek() != Some('=') {
                return Err(format!("entry {key}: field {name} has no ="));
            }
            self.pos += 1;
            self.skip_space();
            let value = self.value(&key, &name)?;
            fields.push((name, value));
        }
        for (name, value) in &fields {
            let value = clean(value);
            match name.as_str() {
                "title" => entry.title = Some(value),
                "abstract" => entry.abstract_text = Some(value),
                _ => {}
            }
        }
        entry.arxiv_id = arxiv_id(&fields);
        let has_text = entry.title.is_some() && entry.abstract_text.is_some();
        if entry.arxiv_id.is_none() && !has_text {
            return Err(format!(
                "entry {key} names no arXiv id (eprint, arxivId, an arxiv.org url) and has no \
                 title and abstract to go by"
            ));
        }
        Ok(Some(entry))
    }

    /// A field's value: `{...}` (nested braces), `"..."`, a number or a macro name, joined
    /// by `#`.
    fn value(&mut self, key: &str, field: &str) -> Result<String, String> {
        let mut value = String::new();
        loop {
            match self.peek() {
                Some('{') => {
                    self.pos += 1;
                    value.push_str(&self.balanced('}')?);
                }
                Some('"') => {
                    self.pos += 1;
                    let start = self.pos;
                    let mut depth = 0usize;
                    loop {
                        match self.peek() {
                            None => {
                                return Err(format!(
                                    "entry {key}: the quoted {field} is not closed"
                                ));
                            }
                            Some('{') => depth += 1,
                            Some('}') => depth = depth.saturating_sub(1),
                            Some('"') if depth == 0 => break,
                            _ => {}
                        }
                        self.pos += 1;
                    }
                    value.extend(self.chars[start..self.pos].iter().map(|&(_, c)| c));
                    self.pos += 1;
                }
                Some(c) if c.is_alphanumeric() => value.push_str(&self.word()),
                _ => return Err(format!("entry {key}: field {field} has no value")),
            }
            self.skip_space();
            if self.peek() == Some('#') {
                self.pos += 1;
                self.skip_space();
            } else {
                return Ok(value);
            }
        }
    }

    /// The text up to the `close` that ends the group just opened, braces balanced.
    fn balanced(&mut self, close: char) -> Result<String, String> {
        let open = if close == ')' { '(' } else { '{' };
        let start = self.pos;
        let mut depth = 0usize;
        loop {
            match self.peek() {
                None => return Err("a { is never closed".into()),
                Some(c) if c == close && depth == 0 => {
                    let text = self.chars[start..self.pos]
                        .iter()
                        .map(|&(_, c)| c)
                        .collect();
                    self.pos += 1;
                    return Ok(text);
                }
                Some(c) if c == open => depth += 1,
                Some(c) if c == close => depth -= 1,
                _ => {}
            }
            self.pos += 1;
        }
    }
}

/// The arXiv id an entry names, by what each reference manager writes: `eprint` (with
/// `archivePrefix = {arXiv}`, or an id on its own), `arxivId` (Mendeley), an arxiv.org `url`,
/// or an arXiv DOI (`10.48550/arXiv.2406.12345`).
fn arxiv_id(fields: &[(String, String)]) -> Option<String> {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
    };
    let from_url = |url: &str| {
        let lower = url.to_lowercase();
        let at = lower
            .find("arxiv.org/abs/")
            .or_else(|| lower.find("arxiv.org/pdf/"))?;
        let id = url[at + "arxiv.org/abs/".len()..].trim_end_matches(".pdf");
        normalize_arxiv_id(id)
    };
    field("eprint")
        .and_then(normalize_arxiv_id)
        .or_else(|| field("arxivid").and_then(normalize_arxiv_id))
        .or_else(|| field("url").and_then(from_url))
        .or_else(|| {
            let doi = field("doi")?.to_lowercase();
            normalize_arxiv_id(doi.strip_prefix("10.48550/arxiv.")?)
        })
}

/// A value as text: the braces that protect capitals gone, whitespace collapsed.
fn clean(value: &str) -> String {
    crate::paper::collapse_whitespace(&value.replace(['{', '}'], ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZOTERO: &str = r#"
Exported by Zotero, 2026-11-30.

@misc{vaswani_attention_2017,
	title = {Attention {Is} {All} {You} {Need}},
	url = {http://arxiv.org/abs/1706.03762},
	doi = {10.48550/arXiv.1706.03762},
	publisher = {arXiv},
	author = {Vaswani, Ashish and Shazeer, Noam},
	year = {2017},
	note = {arXiv:1706.03762 [cs]},
}

@article{smith2024,
  title="Quantum {G}ravity \& You",
  abstract = "We study {quantum} gravity
              at length.",
  journal = jhep,
}

@comment{jabref-meta: databaseType:bibtex;}

@article{lee2023, eprint = {2311.00001v2}, archivePrefix = {arXiv}, title = {T}}
@article{mendeley, arxivId = {hep-th/9901001}}
@inproceedings{broken, title = {Nothing to go by}}
@article{unclosed, title = {Never {closed}
"#;

    #[test]
    fn entries_name_their_arxiv_id_in_every_manager_s_way() {
        let (entries, errors) = parse(ZOTERO);
        let ids: Vec<(&str, Option<&str>)> = entries
            .iter()
            .map(|e| (e.key.as_str(), e.arxiv_id.as_deref()))
            .collect();
        assert_eq!(
            ids,
            [
                ("vaswani_attention_2017", Some("1706.03762")),
                ("smith2024", None),
                ("lee2023", Some("2311.00001")),
                ("mendeley", Some("hep-th/9901001")),
            ]
        );
        assert_eq!(
            entries[0].title.as_deref(),
            Some("Attention Is All You Need")
        );
        assert_eq!(entries[0].line, 4);
        assert_eq!(
            entries[1].abstract_text.as_deref(),
            Some("We study quantum gravity at length.")
        );
        // The rest is read on after each bad entry, which is named with its line.
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert_eq!(errors[0].line, 25);
        assert!(
            errors[0].message.contains("entry broken names no arXiv id"),
            "{}",
            errors[0]
        );
        assert_eq!(errors[1].line, 26);
        assert!(
            errors[1].to_string().starts_with("line 26: "),
            "{}",
            errors[1]
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for text in [
            "@",
            "@{",
            "@article",
            "@article{",
            "@article{k,",
            "@article{k, t = ",
            "@@@",
        ] {
            let (entries, errors) = parse(text);
            assert!(entries.is_empty(), "{text}");
            assert!(!errors.is_empty(), "{text}");
        }
        assert_eq!(parse("no entries here"), (vec![], vec![]));
    }
}
