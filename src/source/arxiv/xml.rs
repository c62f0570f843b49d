//! A small element tree read with quick-xml's pull reader, which both arXiv formats are walked
//! on. Feeds are at most a few megabytes, and a tree lets a bad item be skipped without
//! tracking the reader's state by hand.

use quick_xml::Reader;
use quick_xml::XmlVersion;
use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::{BytesStart, Event};

use super::FeedError;

/// Feeds are a handful of levels deep; the bound keeps a hostile body from building a tree
/// whose drop recurses past the stack.
const MAX_DEPTH: usize = 64;

/// An element by its local name: arXiv's feeds use each local name once per context (`title`,
/// `dc:creator`, `arxiv:announce_type`), and prefixes are the publisher's choice.
#[derive(Debug, Default)]
pub(super) struct Element {
    pub name: String,
    /// Local name and value, entities resolved; namespace declarations are left out.
    pub attributes: Vec<(String, String)>,
    /// The element's own text, entities resolved, CDATA included, children's text not.
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The element's text on one line; `None` when it is missing or blank.
    pub fn child_text(&self, name: &str) -> Option<String> {
        self.child(name)
            .map(Element::collapsed)
            .filter(|t| !t.is_empty())
    }

    pub fn collapsed(&self) -> String {
        crate::paper::collapse_whitespace(&self.text)
    }
}

/// The document's root element, or `None` when the body holds no element at all.
pub(super) fn parse(body: &[u8]) -> Result<Option<Element>, FeedError> {
    let mut reader = Reader::from_reader(body);
    let xml_error = |reader: &Reader<&[u8]>, source| FeedError::Xml {
        position: reader.error_position(),
        source,
    };
    // Open elements, innermost last.
    let mut open: Vec<Element> = Vec::new();
    loop {
        let event = reader.read_event().map_err(|e| xml_error(&reader, e))?;
        match event {
            Event::Start(start) => {
                if open.len() == MAX_DEPTH {
                    return Err(FeedError::TooDeep {
                        position: reader.buffer_position(),
                        depth: MAX_DEPTH,
                    });
                }
                open.push(element(&start).map_err(|e| xml_error(&reader, e))?);
            }
            Event::Empty(start) => {
                let empty = element(&start).map_err(|e| xml_error(&reader, e))?;
                match open.last_mut() {
                    Some(parent) => parent.children.push(empty),
                    None => return Ok(Some(empty)),
                }
            }
            Event::End(_) => {
                // The reader checks that end names match their start.
                let done = open.pop().expect("the reader refuses an unmatched end tag");
                match open.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Ok(Some(done)),
                }
            }
            Event::Text(text) => {
                if let Some(current) = open.last_mut() {
                    current.text.push_str(&text.xml10_content());
                }
            }
            Event::CData(cdata) => {
                if let Some(current) = open.last_mut() {
                    current.text.push_str(&cdata.xml10_content());
                }
            }
            Event::GeneralRef(reference) => {
                let Some(current) = open.last_mut() else {
                    continue;
                };
                match reference.resolve_char_ref() {
                    Ok(Some(c)) => current.text.push(c),
                    Ok(None) => match resolve_xml_entity(&reference) {
                        Some(resolved) => current.text.push_str(resolved),
                        // Undeclared entities are not well-formed XML, but an `&nbsp;` in one
                        // abstract should not cost the whole announcement: keep it as written.
                        None => {
                            current.text.push('&');
                            current.text.push_str(&reference);
                            current.text.push(';');
                        }
                    },
                    Err(e) => return Err(xml_error(&reader, e)),
                }
            }
            Event::Eof => {
                return match open.pop() {
                    // A cut-off download reads as well-formed up to the cut.
                    Some(unclosed) => Err(FeedError::Truncated {
                        element: unclosed.name,
                    }),
                    None => Ok(None),
                };
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
}

fn element(start: &BytesStart) -> Result<Element, quick_xml::Error> {
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute?;
        let key = attribute.key;
        if key.as_namespace_binding().is_some() {
            continue;
        }
        let value = attribute.normalized_value(XmlVersion::Implicit1_0)?;
        attributes.push((key.local_name().as_ref().to_string(), value.into_owned()));
    }
    Ok(Element {
        name: start.local_name().as_ref().to_string(),
        attributes,
        ..Element::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_text_entities_cdata_and_attributes() {
        let root = parse(
            br#"<?xml version="1.0"?><a xmlns:x="urn:x"><x:b k="1 &amp; 2">A &lt;b&gt; &#39;c&#x27; <![CDATA[<d>]]> &nbsp;</x:b><c/></a>"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(root.name, "a");
        assert!(root.attributes.is_empty(), "{:?}", root.attributes);
        let b = root.child("b").unwrap();
        assert_eq!(b.attribute("k"), Some("1 & 2"));
        assert_eq!(b.text, "A <b> 'c' <d> &nbsp;");
        assert!(root.child("c").is_some());
    }

    #[test]
    fn a_body_without_elements_has_no_root() {
        assert!(parse(b"").unwrap().is_none());
        assert!(parse(b"Service Unavailable").unwrap().is_none());
    }

    #[test]
    fn refuses_broken_and_truncated_documents() {
        for broken in [&b"<a><b></a>"[..], b"</a>", b"<a x=1></a>", b"<a>\xff</a>"] {
            let err = parse(broken).unwrap_err();
            assert!(matches!(err, FeedError::Xml { .. }), "{err:?}");
        }
        let err = parse(b"<rss><channel><item><title>cut").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the document ends inside <title>: the download was cut off"
        );
    }

    #[test]
    fn refuses_nesting_past_the_bound() {
        let body = "<a>".repeat(MAX_DEPTH + 1);
        let err = parse(body.as_bytes()).unwrap_err();
        assert!(matches!(err, FeedError::TooDeep { .. }), "{err:?}");
    }
}
