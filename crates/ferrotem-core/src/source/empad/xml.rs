//! A small XML reader: enough for detector metadata files (elements, attributes, text; the
//! declaration, comments, doctype and processing instructions skipped; CDATA as text; the five
//! named entities and numeric character references decoded).
//!
//! It builds the whole tree of one root element, without recursion, and refuses trees nested
//! deeper than [`MAX_DEPTH`] (so that dropping a tree cannot exhaust the stack either).
//! Namespaces, DTD entities and encodings other than UTF-8 are not supported: metadata files
//! do not use them.

/// Deepest nesting of elements accepted.
pub const MAX_DEPTH: usize = 256;

/// An element: its name, attributes, child elements and its own text (concatenated, trimmed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// The tag name.
    pub name: String,
    /// Attributes in document order.
    pub attributes: Vec<(String, String)>,
    /// Child elements in document order.
    pub children: Vec<Element>,
    /// The text directly inside the element (not in its children), trimmed.
    pub text: String,
}

impl Element {
    /// The value of attribute `name`.
    #[must_use]
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first child element called `name`.
    #[must_use]
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The child elements called `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// Decodes the entities of `raw` (`&amp;`, `&#65;`, `&#x41;`, …); an unknown or malformed one
/// stays as written.
fn decode_entities(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest.find(';').filter(|&end| end <= 12).and_then(|end| {
            let name = &rest[1..end];
            let c = match name {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => {
                    let code =
                        if let Some(hex) = name.strip_prefix("#x").or(name.strip_prefix("#X")) {
                            u32::from_str_radix(hex, 16).ok()
                        } else {
                            name.strip_prefix('#').and_then(|d| d.parse::<u32>().ok())
                        };
                    code.and_then(char::from_u32)
                }
            };
            c.map(|c| (c, end))
        });
        if let Some((c, end)) = decoded {
            out.push(c);
            rest = &rest[end + 1..];
        } else {
            out.push('&');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')
}

/// Parses the inside of a start tag (`name a="1" b='2'`, without `<`, `>` and a closing `/`).
fn parse_start_tag(inner: &str) -> Result<Element, String> {
    let inner = inner.trim_end();
    let name_end = inner
        .find(|c: char| !is_name_char(c))
        .unwrap_or(inner.len());
    let name = &inner[..name_end];
    if name.is_empty() {
        return Err(format!("a tag without a name: <{}>", clip(inner)));
    }
    let mut attributes = Vec::new();
    let mut rest = inner[name_end..].trim_start();
    while !rest.is_empty() {
        let key_end = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
        let key = &rest[..key_end];
        let after = rest[key_end..].trim_start();
        let Some(after) = after.strip_prefix('=') else {
            return Err(format!(
                "attribute {:?} of <{name}> has no value",
                clip(if key.is_empty() { rest } else { key })
            ));
        };
        if key.is_empty() {
            return Err(format!("an attribute without a name in <{name}>"));
        }
        let after = after.trim_start();
        let quote = after
            .chars()
            .next()
            .filter(|&q| q == '"' || q == '\'')
            .ok_or_else(|| format!("attribute {key:?} of <{name}> is not quoted"))?;
        let body = &after[1..];
        let close = body
            .find(quote)
            .ok_or_else(|| format!("attribute {key:?} of <{name}> has no closing quote"))?;
        attributes.push((key.to_owned(), decode_entities(&body[..close])));
        rest = body[close + 1..].trim_start();
    }
    Ok(Element {
        name: name.to_owned(),
        attributes,
        ..Element::default()
    })
}

/// At most 40 characters of `s`, for messages.
fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Parses `text` into its root element.
///
/// # Errors
/// A message saying what is wrong and where (byte offset): an unclosed or mismatched tag, a
/// malformed attribute, no root element, a second root element, nesting deeper than
/// [`MAX_DEPTH`].
pub fn parse(text: &str) -> Result<Element, String> {
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut pos = 0;
    let bytes = text.as_bytes();
    while pos < text.len() {
        let Some(lt) = text[pos..].find('<').map(|i| pos + i) else {
            push_text(&mut stack, &text[pos..]);
            break;
        };
        push_text(&mut stack, &text[pos..lt]);
        let rest = &text[lt..];
        let unclosed = |what: &str| format!("{what} at byte {lt} is not closed");
        if let Some(body) = rest.strip_prefix("<!--") {
            let end = body.find("-->").ok_or_else(|| unclosed("a comment"))?;
            pos = lt + 4 + end + 3;
        } else if let Some(body) = rest.strip_prefix("<![CDATA[") {
            let end = body
                .find("]]>")
                .ok_or_else(|| unclosed("a CDATA section"))?;
            if let Some(top) = stack.last_mut() {
                top.text.push_str(&body[..end]);
            }
            pos = lt + 9 + end + 3;
        } else if rest.starts_with("<?") {
            let end = rest
                .find("?>")
                .ok_or_else(|| unclosed("a processing instruction"))?;
            pos = lt + end + 2;
        } else if rest.starts_with("<!") {
            // a doctype: skip to its end, past an internal subset in brackets
            let end = match (rest.find('['), rest.find('>')) {
                (Some(open), Some(gt)) if open < gt => rest[open..]
                    .find("]>")
                    .map(|e| open + e + 1)
                    .ok_or_else(|| unclosed("a doctype"))?,
                (_, Some(gt)) => gt,
                _ => return Err(unclosed("a doctype")),
            };
            pos = lt + end + 1;
        } else if let Some(body) = rest.strip_prefix("</") {
            let end = body.find('>').ok_or_else(|| unclosed("an end tag"))?;
            let name = body[..end].trim();
            let open = stack.pop().ok_or_else(|| {
                format!(
                    "the end tag </{}> at byte {lt} closes no element",
                    clip(name)
                )
            })?;
            if open.name != name {
                return Err(format!(
                    "the end tag </{}> at byte {lt} does not match <{}>",
                    clip(name),
                    clip(&open.name)
                ));
            }
            close(&mut stack, &mut root, open, lt)?;
            pos = lt + 2 + end + 1;
        } else {
            let end = find_tag_end(bytes, lt + 1).ok_or_else(|| unclosed("a tag"))?;
            let inner = &text[lt + 1..end];
            let (inner, empty) = match inner.strip_suffix('/') {
                Some(i) => (i, true),
                None => (inner, false),
            };
            let mut element = parse_start_tag(inner)?;
            element.text = String::new();
            if empty {
                close(&mut stack, &mut root, element, lt)?;
            } else {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!(
                        "elements are nested deeper than {MAX_DEPTH} levels"
                    ));
                }
                if stack.is_empty() && root.is_some() {
                    return Err(format!(
                        "a second root element <{}> at byte {lt}",
                        clip(&element.name)
                    ));
                }
                stack.push(element);
            }
            pos = end + 1;
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!("the element <{}> is not closed", clip(&open.name)));
    }
    let mut root = root.ok_or_else(|| "no root element".to_owned())?;
    trim_texts(&mut root);
    Ok(root)
}

/// The `>` that ends the tag starting at `from`, skipping `>` inside quoted attribute values.
fn find_tag_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut quote = None;
    for (i, &b) in bytes.iter().enumerate().skip(from) {
        match quote {
            Some(q) if b == q => quote = None,
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => return Some(i),
            None if b == b'<' => return None,
            _ => {}
        }
    }
    None
}

fn push_text(stack: &mut [Element], raw: &str) {
    if let Some(top) = stack.last_mut() {
        if !raw.trim().is_empty() {
            top.text.push_str(&decode_entities(raw));
        }
    }
}

/// Attaches a finished element to its parent, or makes it the root.
fn close(
    stack: &mut [Element],
    root: &mut Option<Element>,
    element: Element,
    at: usize,
) -> Result<(), String> {
    if let Some(parent) = stack.last_mut() {
        parent.children.push(element);
    } else if root.is_some() {
        return Err(format!(
            "a second root element <{}> at byte {at}",
            clip(&element.name)
        ));
    } else {
        *root = Some(element);
    }
    Ok(())
}

/// Trims every element's text, without recursion.
fn trim_texts(root: &mut Element) {
    let mut todo = vec![root];
    while let Some(e) = todo.pop() {
        let trimmed = e.text.trim();
        if trimmed.len() != e.text.len() {
            e.text = trimmed.to_owned();
        }
        todo.extend(e.children.iter_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_attributes_and_text_parse() {
        let doc = r#"<?xml version="1.0"?>
            <!DOCTYPE root [ <!ELEMENT root ANY> ]>
            <!-- a comment -->
            <root version='2'>
              <raw_file filename="a &amp; b.raw"/>
              <count> 12 </count>
              <note><![CDATA[<not a tag>]]> &#65;&#x42;</note>
            </root>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "root");
        assert_eq!(root.attribute("version"), Some("2"));
        assert_eq!(
            root.child("raw_file").unwrap().attribute("filename"),
            Some("a & b.raw")
        );
        assert_eq!(root.child("count").unwrap().text, "12");
        assert_eq!(root.child("note").unwrap().text, "<not a tag> AB");
        assert_eq!(root.children_named("count").count(), 1);
    }

    #[test]
    fn malformed_documents_are_errors() {
        for (doc, needle) in [
            ("", "no root"),
            ("<a>", "not closed"),
            ("<a></b>", "does not match"),
            ("</a>", "closes no element"),
            ("<a/><b/>", "second root"),
            ("<a x=1/>", "not quoted"),
            ("<a x='1/>", "not closed"),
            ("<a x/>", "no value"),
            ("<a><!-- </a>", "not closed"),
            ("< />", "without a name"),
        ] {
            let err = parse(doc).unwrap_err();
            assert!(err.contains(needle), "{doc:?}: {err}");
        }
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert!(parse(&deep).unwrap_err().contains("deeper"));
    }
}
