//! The lexer and recursive-descent parser for topic queries.
//!
//! Grammar (NOT binds tightest, then AND — explicit or by juxtaposition — then OR):
//!
//! ```text
//! query   = or
//! or      = and { "OR" and }
//! and     = operand { ["AND"] operand }
//! operand = "NOT" operand | term | "(" or ")"
//! term    = [field ":"] ( word | word "*" | '"' phrase '"' )   (no space after the colon)
//! ```
//!
//! Columns are 1-based character (not byte) positions, because they are shown to the person
//! who typed the query.

use std::iter::Peekable;
use std::vec;

use rust_stemmers::Stemmer;

use super::QueryError;
use super::query::{Expr, Term, TextField};
use super::text;

/// Parentheses and `NOT`s may nest this deep. The parser is recursive, so an absurd query like
/// ten thousand `(` must be refused rather than overflow the stack.
const MAX_DEPTH: usize = 100;

/// Prefix terms need this many characters before the `*`, so that `a*` cannot match half the
/// vocabulary.
const MIN_PREFIX_CHARS: usize = 2;

/// Parses `text` into an expression tree.
pub(crate) fn parse(text: &str) -> Result<Expr, QueryError> {
    let chars: Vec<char> = text.chars().collect();
    let tokens = Lexer::new(&chars).run()?;
    let end_column = chars.len() + 1;
    if tokens.is_empty() {
        return Err(QueryError::new("query is empty", 1));
    }
    let mut parser = Parser {
        tokens: tokens.into_iter().peekable(),
        end_column,
        depth: 0,
    };
    let expr = parser.or(Before::Start)?;
    match parser.tokens.next() {
        None => Ok(expr),
        // `or` stops only at the end or at a `)` it has no `(` for.
        Some(token) => Err(QueryError::new(
            "unexpected ) without a matching (",
            token.column,
        )),
    }
}

#[derive(Debug)]
enum Kind {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Term(Term),
}

#[derive(Debug)]
struct Token {
    kind: Kind,
    column: usize,
}

/// What a field prefix restricts a term to.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Field {
    /// No field: title or abstract.
    Bare,
    Title,
    Abstract,
    Author,
    Category,
}

impl Field {
    fn named(name: &str) -> Option<Field> {
        match name.to_lowercase().as_str() {
            "title" => Some(Field::Title),
            "abstract" => Some(Field::Abstract),
            "author" => Some(Field::Author),
            "category" => Some(Field::Category),
            _ => None,
        }
    }

    /// The text field for a title/abstract term (author and category terms never ask).
    fn text_field(self) -> TextField {
        match self {
            Field::Title => TextField::Title,
            Field::Abstract => TextField::Abstract,
            Field::Bare | Field::Author | Field::Category => TextField::Either,
        }
    }
}

/// The operators in the order [`lowercase_operators`] lists them.
const OPERATORS: [&str; 3] = ["and", "or", "not"];

/// The operators `text` writes other than in upper case as bare words (outside quotes, not a
/// field's value), each once, in the order and, or, not. They are searched as words, which is
/// right for a title saying "not", but `diffusion and not survey` then matches almost nothing.
/// Empty for text that does not parse.
pub(crate) fn lowercase_operators(text: &str) -> Vec<&'static str> {
    let chars: Vec<char> = text.chars().collect();
    let mut lexer = Lexer::new(&chars);
    if lexer.run().is_err() {
        return Vec::new();
    }
    OPERATORS
        .into_iter()
        .filter(|op| lexer.operator_words.contains(op))
        .collect()
}

struct Lexer<'a> {
    chars: &'a [char],
    pos: usize,
    stemmer: Stemmer,
    /// Bare words that spell an operator in another case than upper.
    operator_words: Vec<&'static str>,
}

fn is_word_char(c: char) -> bool {
    !(c.is_whitespace() || c == '(' || c == ')' || c == '"')
}

impl<'a> Lexer<'a> {
    fn new(chars: &'a [char]) -> Self {
        Lexer {
            chars,
            pos: 0,
            stemmer: text::stemmer(),
            operator_words: Vec::new(),
        }
    }

    fn run(&mut self) -> Result<Vec<Token>, QueryError> {
        let mut tokens = Vec::new();
        while let Some(&c) = self.chars.get(self.pos) {
            let column = self.pos + 1;
            let kind = match c {
                _ if c.is_whitespace() => {
                    self.pos += 1;
                    continue;
                }
                '(' => {
                    self.pos += 1;
                    Kind::LParen
                }
                ')' => {
                    self.pos += 1;
                    Kind::RParen
                }
                '"' => {
                    let phrase = self.phrase()?;
                    Kind::Term(self.phrase_term(Field::Bare, &phrase, column)?)
                }
                _ => self.word()?,
            };
            tokens.push(Token { kind, column });
        }
        Ok(tokens)
    }

    /// Reads a quoted phrase starting at the opening quote; returns its inner text.
    fn phrase(&mut self) -> Result<String, QueryError> {
        let open = self.pos;
        let rest = &self.chars[open + 1..];
        let Some(len) = rest.iter().position(|&c| c == '"') else {
            return Err(QueryError::new("quote is never closed", open + 1));
        };
        self.pos = open + 1 + len + 1;
        Ok(rest[..len].iter().collect())
    }

    /// Reads an operator, a word, or a field with its value.
    fn word(&mut self) -> Result<Kind, QueryError> {
        let start = self.pos;
        let len = self.chars[start..]
            .iter()
            .position(|&c| !is_word_char(c))
            .unwrap_or(self.chars.len() - start);
        self.pos = start + len;
        let word = &self.chars[start..start + len];
        let column = start + 1;
        match word {
            ['A', 'N', 'D'] => return Ok(Kind::And),
            ['O', 'R'] => return Ok(Kind::Or),
            ['N', 'O', 'T'] => return Ok(Kind::Not),
            _ => {}
        }
        if word.len() <= 3 {
            let lower: String = word.iter().collect::<String>().to_lowercase();
            if let Some(op) = OPERATORS.into_iter().find(|op| *op == lower) {
                self.operator_words.push(op);
            }
        }
        // `name:` is a field only when `name` is all letters; `10:30` or `cs.CL:x` is text.
        let field_name_len = word
            .iter()
            .position(|&c| c == ':')
            .filter(|&n| n > 0 && word[..n].iter().all(|c| c.is_alphabetic()));
        let Some(name_len) = field_name_len else {
            let word: String = word.iter().collect();
            return Ok(Kind::Term(self.word_term(Field::Bare, &word, column)?));
        };
        let name: String = word[..name_len].iter().collect();
        let Some(field) = Field::named(&name) else {
            return Err(QueryError::new(
                format!(
                    "unknown field \"{name}\"; valid fields are title, abstract, author and category"
                ),
                column,
            ));
        };
        let value = &word[name_len + 1..];
        let value_column = column + name_len + 1;
        if !value.is_empty() {
            let value: String = value.iter().collect();
            return Ok(Kind::Term(self.word_term(field, &value, value_column)?));
        }
        if self.chars.get(self.pos) == Some(&'"') {
            let phrase = self.phrase()?;
            return Ok(Kind::Term(self.phrase_term(
                field,
                &phrase,
                value_column,
            )?));
        }
        Err(QueryError::new(
            format!(
                "{}: must be followed directly by a word, prefix* or \"phrase\"",
                name.to_lowercase()
            ),
            value_column,
        ))
    }

    /// The term for an unquoted word (possibly a prefix) in `field`.
    fn word_term(&self, field: Field, word: &str, column: usize) -> Result<Term, QueryError> {
        let char_count = word.chars().count();
        if let Some(star) = word.chars().position(|c| c == '*') {
            if star + 1 != char_count {
                return Err(QueryError::new(
                    "* is only allowed at the end of a word",
                    column + star,
                ));
            }
            return self.prefix_term(field, word, &word[..word.len() - 1], column);
        }
        if field == Field::Category {
            return category_name(word, column).map(|name| Term::Category { name });
        }
        let tokens = text::tokens(word);
        if tokens.is_empty() {
            return Err(QueryError::new(
                format!("\"{word}\" has no letters or digits to search for"),
                column,
            ));
        }
        Ok(self.tokens_term(field, tokens))
    }

    /// The term for `body*`.
    fn prefix_term(
        &self,
        field: Field,
        word: &str,
        body: &str,
        column: usize,
    ) -> Result<Term, QueryError> {
        let too_short = || {
            QueryError::new(
                format!(
                    "prefix \"{word}\" is too short; put at least {MIN_PREFIX_CHARS} letters or digits before *"
                ),
                column,
            )
        };
        if field == Field::Category {
            let prefix = body.to_lowercase();
            if prefix.chars().filter(|c| c.is_alphanumeric()).count() < MIN_PREFIX_CHARS {
                return Err(too_short());
            }
            return Ok(Term::CategoryPrefix { prefix });
        }
        let mut tokens = text::tokens(body);
        if tokens.len() > 1 {
            return Err(QueryError::new(
                format!(
                    "prefix \"{word}\" must be a single word; only letters and digits may come before *"
                ),
                column,
            ));
        }
        let Some(prefix) = tokens.pop() else {
            return Err(too_short());
        };
        if prefix.chars().count() < MIN_PREFIX_CHARS {
            return Err(too_short());
        }
        Ok(match field {
            Field::Author => Term::AuthorPrefix { prefix },
            _ => Term::TextPrefix {
                field: field.text_field(),
                prefix,
            },
        })
    }

    /// The term for a quoted phrase in `field`; `column` points at the opening quote.
    fn phrase_term(&self, field: Field, phrase: &str, column: usize) -> Result<Term, QueryError> {
        if phrase.trim().is_empty() {
            return Err(QueryError::new("empty phrase \"\"", column));
        }
        if field == Field::Category {
            return category_name(phrase.trim(), column).map(|name| Term::Category { name });
        }
        let tokens = text::tokens(phrase);
        if tokens.is_empty() {
            return Err(QueryError::new(
                format!("phrase \"{phrase}\" has no letters or digits to search for"),
                column,
            ));
        }
        Ok(self.tokens_term(field, tokens))
    }

    /// A word or phrase term from its (one or more) tokens: stemmed for title and abstract,
    /// kept as they are for author names.
    fn tokens_term(&self, field: Field, tokens: Vec<String>) -> Term {
        match field {
            Field::Author => Term::Author { tokens },
            _ => Term::Stems {
                field: field.text_field(),
                stems: tokens
                    .iter()
                    .map(|t| text::stem(&self.stemmer, t))
                    .collect(),
            },
        }
    }
}

/// A category value, lowercased; categories are matched whole, not tokenised.
fn category_name(value: &str, column: usize) -> Result<String, QueryError> {
    if !value.chars().any(char::is_alphanumeric) {
        return Err(QueryError::new(
            format!("category \"{value}\" has no letters or digits"),
            column,
        ));
    }
    Ok(value.to_lowercase())
}

/// What came before the operand being parsed; it decides the error when the operand is missing.
#[derive(Clone, Copy)]
enum Before {
    Start,
    /// An opening parenthesis, at this column.
    Paren(usize),
    Operator(&'static str),
}

struct Parser {
    tokens: Peekable<vec::IntoIter<Token>>,
    end_column: usize,
    depth: usize,
}

impl Parser {
    fn peek_kind(&mut self) -> Option<&Kind> {
        self.tokens.peek().map(|t| &t.kind)
    }

    fn or(&mut self, before: Before) -> Result<Expr, QueryError> {
        let mut items = vec![self.and(before)?];
        while let Some(Kind::Or) = self.peek_kind() {
            self.tokens.next();
            items.push(self.and(Before::Operator("OR"))?);
        }
        Ok(combine(items, Combine::Or))
    }

    fn and(&mut self, before: Before) -> Result<Expr, QueryError> {
        let mut items = vec![self.operand(before)?];
        loop {
            match self.peek_kind() {
                Some(Kind::And) => {
                    self.tokens.next();
                    items.push(self.operand(Before::Operator("AND"))?);
                }
                // Juxtaposition: `a b` is `a AND b`.
                Some(Kind::Not | Kind::LParen | Kind::Term(_)) => {
                    items.push(self.operand(Before::Operator("AND"))?);
                }
                Some(Kind::Or | Kind::RParen) | None => break,
            }
        }
        Ok(combine(items, Combine::And))
    }

    /// `NOT operand`, a term, or a parenthesised query.
    fn operand(&mut self, before: Before) -> Result<Expr, QueryError> {
        let Some(token) = self.tokens.next() else {
            return Err(match before {
                Before::Start => QueryError::new("query is empty", 1),
                Before::Paren(column) => QueryError::new("( is never closed", column),
                Before::Operator(op) => {
                    QueryError::new(format!("query ends after {op}"), self.end_column)
                }
            });
        };
        let column = token.column;
        let found = match token.kind {
            Kind::Term(term) => return Ok(Expr::Term(term)),
            Kind::Not => {
                self.enter(column)?;
                let operand = self.operand(Before::Operator("NOT"));
                self.depth -= 1;
                return Ok(match operand? {
                    // NOT NOT x is x.
                    Expr::Not(inner) => *inner,
                    operand => Expr::Not(Box::new(operand)),
                });
            }
            Kind::LParen => {
                self.enter(column)?;
                let inner = self.or(Before::Paren(column));
                self.depth -= 1;
                let inner = inner?;
                // `or` stops only at `)` or at the end.
                return match self.tokens.next() {
                    Some(Token {
                        kind: Kind::RParen, ..
                    }) => Ok(inner),
                    _ => Err(QueryError::new("( is never closed", column)),
                };
            }
            Kind::RParen => ")",
            Kind::And => "AND",
            Kind::Or => "OR",
        };
        Err(match (before, found) {
            (Before::Start, ")") => QueryError::new("unexpected ) without a matching (", column),
            (Before::Paren(_), ")") => QueryError::new("empty parentheses ()", column),
            (Before::Start | Before::Paren(_), op) => {
                QueryError::new(format!("{op} needs a term before it"), column)
            }
            (Before::Operator(op), found) => QueryError::new(
                format!("expected a word, \"phrase\" or ( after {op}, found {found}"),
                column,
            ),
        })
    }

    /// Counts one level of nesting at `column`, refusing absurd depths.
    fn enter(&mut self, column: usize) -> Result<(), QueryError> {
        if self.depth >= MAX_DEPTH {
            return Err(QueryError::new(
                format!("query nests parentheses and NOTs more than {MAX_DEPTH} deep"),
                column,
            ));
        }
        self.depth += 1;
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Combine {
    And,
    Or,
}

/// One item stays itself; several become an AND/OR node, absorbing children of the same kind
/// so that `a (b c)` is one three-way AND.
fn combine(mut items: Vec<Expr>, how: Combine) -> Expr {
    if items.len() == 1
        && let Some(only) = items.pop()
    {
        return only;
    }
    let mut flat = Vec::with_capacity(items.len());
    for item in items {
        match (how, item) {
            (Combine::And, Expr::And(children)) | (Combine::Or, Expr::Or(children)) => {
                flat.extend(children)
            }
            (_, item) => flat.push(item),
        }
    }
    match how {
        Combine::And => Expr::And(flat),
        Combine::Or => Expr::Or(flat),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parse as an s-expression, so tests can state the tree they expect.
    fn tree(query: &str) -> String {
        fn show(expr: &Expr) -> String {
            let list = |name: &str, items: &[Expr]| {
                let items: Vec<String> = items.iter().map(show).collect();
                format!("({name} {})", items.join(" "))
            };
            match expr {
                Expr::Term(term) => show_term(term),
                Expr::Not(inner) => format!("(not {})", show(inner)),
                Expr::And(items) => list("and", items),
                Expr::Or(items) => list("or", items),
            }
        }
        fn show_term(term: &Term) -> String {
            let field = |f: &TextField| match f {
                TextField::Title => "title:",
                TextField::Abstract => "abstract:",
                TextField::Either => "",
            };
            let words = |w: &[String]| match w {
                [one] => one.clone(),
                many => format!("\"{}\"", many.join(" ")),
            };
            match term {
                Term::Stems { field: f, stems } => format!("{}{}", field(f), words(stems)),
                Term::TextPrefix { field: f, prefix } => format!("{}{prefix}*", field(f)),
                Term::Author { tokens } => format!("author:{}", words(tokens)),
                Term::AuthorPrefix { prefix } => format!("author:{prefix}*"),
                Term::Category { name } => format!("category:{name}"),
                Term::CategoryPrefix { prefix } => format!("category:{prefix}*"),
            }
        }
        match parse(query) {
            Ok(expr) => show(&expr),
            Err(e) => panic!("{query:?} failed to parse: {e}"),
        }
    }

    fn error(query: &str) -> String {
        match parse(query) {
            Ok(expr) => panic!("{query:?} parsed as {expr:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn not_binds_tightest_then_and_then_or() {
        assert_eq!(tree("a OR b c"), "(or a (and b c))");
        assert_eq!(tree("a b OR c"), "(or (and a b) c)");
        assert_eq!(tree("a AND b OR c AND d"), "(or (and a b) (and c d))");
        assert_eq!(tree("NOT a b"), "(and (not a) b)");
        assert_eq!(tree("a AND NOT b"), "(and a (not b))");
        assert_eq!(tree("a NOT b"), "(and a (not b))");
        assert_eq!(tree("NOT a OR b"), "(or (not a) b)");
        assert_eq!(tree("NOT (a OR b)"), "(not (or a b))");
        assert_eq!(tree("NOT a"), "(not a)");
        assert_eq!(tree("NOT NOT a"), "a");
    }

    #[test]
    fn parentheses_group_and_nest() {
        assert_eq!(tree("(a OR b) c"), "(and (or a b) c)");
        assert_eq!(tree("a (b OR (c d))"), "(and a (or b (and c d)))");
        assert_eq!(tree("((a))"), "a");
        assert_eq!(tree("x(y)z"), "(and x y z)");
        assert_eq!(tree("a OR (b OR c)"), "(or a b c)");
        assert_eq!(
            tree("(a OR b) AND NOT (c OR d)"),
            "(and (or a b) (not (or c d)))"
        );
    }

    #[test]
    fn lower_case_operators_are_words() {
        assert_eq!(tree("cats and dogs"), "(and cat and dog)");
        assert_eq!(tree("this or that"), "(and this or that)");
        assert_eq!(tree("not a"), "(and not a)");
        assert_eq!(tree("And Or Not"), "(and and or not)");
    }

    #[test]
    fn operators_not_in_upper_case_are_listed_once_each() {
        let cases: [(&str, &[&str]); 9] = [
            ("diffusion and not survey", &["and", "not"]),
            ("not a or b and c or d", &["and", "or", "not"]),
            ("Diffusion And Not Survey", &["and", "not"]),
            ("diffusion AND NOT survey", &[]),
            // Quoted, a field's value, or part of a longer word: meant as words.
            ("\"rock and roll\"", &[]),
            ("title:not author:or", &[]),
            ("android notation oracle and-or", &[]),
            ("(diffusion or(flow))", &["or"]),
            ("broken and \"quote", &[]),
        ];
        for (query, expected) in cases {
            assert_eq!(lowercase_operators(query), expected, "{query:?}");
        }
    }

    #[test]
    fn terms_are_tokenised_lowercased_and_stemmed() {
        assert_eq!(tree("Models"), "model");
        assert_eq!(tree("\"Large Language Models\""), "\"larg languag model\"");
        assert_eq!(tree("text-to-image"), "\"text to imag\"");
        assert_eq!(tree("GPT-4"), "\"gpt 4\"");
        assert_eq!(tree("Embed*"), "embed*");
        assert_eq!(tree("-embed*"), "embed*");
        assert_eq!(tree("\"foo\"bar"), "(and foo bar)");
    }

    #[test]
    fn fields_prefix_words_phrases_and_prefixes() {
        assert_eq!(tree("title:diffusion"), "title:diffus");
        assert_eq!(tree("TITLE:Diffusion"), "title:diffus");
        assert_eq!(tree("abstract:\"image models\""), "abstract:\"imag model\"");
        assert_eq!(tree("title:embed*"), "title:embed*");
        assert_eq!(tree("author:Lovelace"), "author:lovelace");
        assert_eq!(tree("author:\"Ada  Lovelace\""), "author:\"ada lovelace\"");
        assert_eq!(tree("author:de-la-cruz"), "author:\"de la cruz\"");
        assert_eq!(tree("author:lov*"), "author:lov*");
        assert_eq!(tree("category:cs.CL"), "category:cs.cl");
        assert_eq!(tree("category:\" cs.LG \""), "category:cs.lg");
        assert_eq!(tree("category:cs.*"), "category:cs.*");
        assert_eq!(tree("title:a:b"), "title:\"a b\"");
    }

    #[test]
    fn a_colon_after_anything_but_letters_is_text() {
        assert_eq!(tree("10:30"), "\"10 30\"");
        assert_eq!(tree("cs.CL:x"), "\"cs cl x\"");
        assert_eq!(tree(":x"), "x");
        assert_eq!(tree("x2:y"), "\"x2 y\"");
    }

    #[test]
    fn errors_name_the_problem_and_its_column() {
        let cases = [
            ("", "query is empty (column 1)"),
            ("   ", "query is empty (column 1)"),
            ("diffusion AND", "query ends after AND (column 14)"),
            ("a OR", "query ends after OR (column 5)"),
            ("NOT", "query ends after NOT (column 4)"),
            ("a NOT", "query ends after NOT (column 6)"),
            ("a AND NOT", "query ends after NOT (column 10)"),
            ("foo \"bar", "quote is never closed (column 5)"),
            ("title:\"bar", "quote is never closed (column 7)"),
            ("a \"\"", "empty phrase \"\" (column 3)"),
            ("a \"  \"", "empty phrase \"\" (column 3)"),
            (
                "\"--\"",
                "phrase \"--\" has no letters or digits to search for (column 1)",
            ),
            ("(a OR b", "( is never closed (column 1)"),
            ("x (a OR (b c)", "( is never closed (column 3)"),
            ("(", "( is never closed (column 1)"),
            ("a)", "unexpected ) without a matching ( (column 2)"),
            (")", "unexpected ) without a matching ( (column 1)"),
            ("(a) b)", "unexpected ) without a matching ( (column 6)"),
            ("()", "empty parentheses () (column 2)"),
            ("OR x", "OR needs a term before it (column 1)"),
            ("(AND x)", "AND needs a term before it (column 2)"),
            (
                "a AND OR b",
                "expected a word, \"phrase\" or ( after AND, found OR (column 7)",
            ),
            (
                "a OR AND b",
                "expected a word, \"phrase\" or ( after OR, found AND (column 6)",
            ),
            (
                "NOT AND b",
                "expected a word, \"phrase\" or ( after NOT, found AND (column 5)",
            ),
            (
                "(a AND )",
                "expected a word, \"phrase\" or ( after AND, found ) (column 8)",
            ),
            (
                "title:",
                "title: must be followed directly by a word, prefix* or \"phrase\" (column 7)",
            ),
            (
                "title: x",
                "title: must be followed directly by a word, prefix* or \"phrase\" (column 7)",
            ),
            (
                "a Author:(b)",
                "author: must be followed directly by a word, prefix* or \"phrase\" (column 10)",
            ),
            (
                "foo:bar",
                "unknown field \"foo\"; valid fields are title, abstract, author and category (column 1)",
            ),
            (
                "x arXiv:2301.00001",
                "unknown field \"arXiv\"; valid fields are title, abstract, author and category (column 3)",
            ),
            (
                "-",
                "\"-\" has no letters or digits to search for (column 1)",
            ),
            (
                "x title:--",
                "\"--\" has no letters or digits to search for (column 9)",
            ),
            (
                "category:--",
                "category \"--\" has no letters or digits (column 10)",
            ),
            (
                "e*",
                "prefix \"e*\" is too short; put at least 2 letters or digits before * (column 1)",
            ),
            (
                "*",
                "prefix \"*\" is too short; put at least 2 letters or digits before * (column 1)",
            ),
            (
                "category:c*",
                "prefix \"c*\" is too short; put at least 2 letters or digits before * (column 10)",
            ),
            (
                "em*bed",
                "* is only allowed at the end of a word (column 3)",
            ),
            (
                "x title:em*b",
                "* is only allowed at the end of a word (column 11)",
            ),
            (
                "embed**",
                "* is only allowed at the end of a word (column 6)",
            ),
            (
                "text-to*",
                "prefix \"text-to*\" must be a single word; only letters and digits may come before * (column 1)",
            ),
            (
                "é \"x",
                "quote is never closed (column 3)", // columns count characters, not bytes
            ),
        ];
        for (query, expected) in cases {
            assert_eq!(error(query), expected, "query {query:?}");
        }
    }

    #[test]
    fn column_is_exposed_for_callers_messages() {
        let err = parse("diffusion AND").unwrap_err();
        assert_eq!(err.column(), 14);
        assert_eq!(err.message(), "query ends after AND");
        assert_eq!(
            format!("subscribers[3].topics[1] \"diffusion AND\": {err}"),
            "subscribers[3].topics[1] \"diffusion AND\": query ends after AND (column 14)"
        );
    }

    #[test]
    fn absurd_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("{}a{}", "(".repeat(5000), ")".repeat(5000));
        assert_eq!(
            error(&deep),
            "query nests parentheses and NOTs more than 100 deep (column 101)"
        );
        let nots = "NOT ".repeat(5000) + "a";
        assert_eq!(
            error(&nots),
            "query nests parentheses and NOTs more than 100 deep (column 401)"
        );
        assert_eq!(
            tree(&format!("{}a{}", "(".repeat(100), ")".repeat(100))),
            "a"
        );
    }
}
