//! Where each field of a YAML document sits: a field path -> line/column index
//! built from yaml-rust2's marked events, for errors found after parsing.

use std::collections::HashMap;
use std::fmt;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// How deeply mappings and sequences may nest in a document. Desired states
/// need well under 20 levels (a dashboard body is the deepest); the limit
/// keeps every later step (this index, serde, validation) linear in the
/// input, and is checked before anything is built.
pub(crate) const MAX_DEPTH: usize = 64;

/// One step of a field path: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A field path inside one document, shown as `spec.metrics[1].id`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct FieldPath(Vec<Seg>);

impl FieldPath {
    pub(crate) fn root() -> FieldPath {
        FieldPath(Vec::new())
    }

    /// This path followed by a mapping key.
    pub(crate) fn key(&self, key: &str) -> FieldPath {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_string()));
        FieldPath(segs)
    }

    /// This path followed by a sequence index.
    pub(crate) fn index(&self, index: usize) -> FieldPath {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        FieldPath(segs)
    }

    pub(crate) fn push(&mut self, seg: Seg) {
        self.0.push(seg);
    }

    pub(crate) fn segments(&self) -> &[Seg] {
        &self.0
    }

    pub(crate) fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path one step up; the root is its own parent.
    fn parent(&self) -> FieldPath {
        let mut segs = self.0.clone();
        segs.pop();
        FieldPath(segs)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(key) if i == 0 => f.write_str(key)?,
                Seg::Key(key) => write!(f, ".{key}")?,
                Seg::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// A 1-based line and column in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
    /// Offset in the text, to tell which of two marks comes first.
    offset: usize,
}

impl Pos {
    fn from_marker(mark: Marker) -> Pos {
        // yaml-rust2 counts lines from 1 and columns from 0.
        Pos {
            line: mark.line(),
            column: mark.col() + 1,
            offset: mark.index(),
        }
    }
}

/// The positions of one document's fields: for a mapping entry, where its
/// key starts; for a sequence item or the document itself, where it starts.
#[derive(Debug, Clone, Default)]
pub(crate) struct DocIndex {
    positions: HashMap<FieldPath, Pos>,
    /// The document holds nothing (or only `null`): such documents are skipped.
    pub(crate) is_empty: bool,
    /// Values the typed parse would change silently (a number that is not
    /// finite, a tag that is not a standard one): refused where they are.
    pub(crate) refused: Vec<Refused>,
}

/// A value that the loader refuses, at its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    /// `None` where the value has no field path (inside a complex key).
    pub path: Option<FieldPath>,
    pub pos: Pos,
    pub message: String,
}

impl DocIndex {
    /// Where a field is, or else its nearest ancestor that is written in the
    /// file (a missing field is reported where its parent is).
    /// An index that places every field of a document at `pos`: for a
    /// document the strict parser never reached (libyaml read further), so
    /// that its errors still name a place, the one where that parser stopped.
    pub(crate) fn at(pos: Pos) -> DocIndex {
        DocIndex {
            positions: HashMap::from([(FieldPath::root(), pos)]),
            ..DocIndex::default()
        }
    }

    pub(crate) fn locate(&self, path: &FieldPath) -> Option<Pos> {
        let mut path = path.clone();
        loop {
            if let Some(pos) = self.positions.get(&path) {
                return Some(*pos);
            }
            if path.is_root() {
                return None;
            }
            path = path.parent();
        }
    }

    /// Whether the field is written in the document (even as `[]` or `null`).
    pub(crate) fn contains(&self, path: &FieldPath) -> bool {
        self.positions.contains_key(path)
    }
}

/// A key written twice in one mapping; serde_yaml refuses the document and
/// this says where the second one is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DuplicateKey {
    pub path: FieldPath,
    pub pos: Pos,
    pub first: Pos,
}

/// The index of every document of a file, in order, empty ones included.
#[derive(Debug, Default)]
pub(crate) struct FileIndex {
    pub docs: Vec<DocIndex>,
    pub duplicate_keys: Vec<DuplicateKey>,
    /// The whole file was parsed; otherwise `docs` holds the documents
    /// before a syntax error (which serde_yaml reports itself).
    pub complete: bool,
    /// Where nesting first went deeper than [`MAX_DEPTH`]: indexing stopped
    /// there, and the file must not be parsed further.
    pub too_deep: Option<Pos>,
    /// Where the first alias is, for an error about aliases (which serde_yaml
    /// reports without a place).
    pub first_alias: Option<Pos>,
    /// The syntax error that stopped indexing, with its place.
    pub syntax_error: Option<(Pos, String)>,
}

/// Indexes every document of `text`, up to a syntax error or excessive
/// nesting. Linear in the text: the parser is driven event by event and
/// stopped at the first level beyond [`MAX_DEPTH`].
pub(crate) fn index(text: &str) -> FileIndex {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    let complete = loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => break true,
            Ok((event, mark)) => {
                builder.on_event(event, mark);
                if builder.out.too_deep.is_some() {
                    break false;
                }
            }
            Err(e) => {
                // The scanner looks ahead, and stops flow collections at 255
                // levels itself: that is too deep as well.
                let pos = Pos::from_marker(*e.marker());
                if e.info() == "recursion limit exceeded" {
                    builder.out.too_deep = Some(pos);
                } else {
                    builder.out.syntax_error = Some((pos, e.info().to_string()));
                }
                // What was indexed of the document the error is in still
                // locates its fields (serde_yaml may read further: libyaml
                // is laxer about indentation inside flow collections).
                if !builder.doc.positions.is_empty() {
                    let doc = std::mem::take(&mut builder.doc);
                    builder.out.docs.push(doc);
                }
                break false;
            }
        }
    };
    FileIndex {
        complete,
        ..builder.out
    }
}

/// The tags of YAML's core schema; any other (`!custom`, `!!binary`) would
/// be dropped or misread by the typed parse.
fn standard_tag(tag: &Tag) -> bool {
    let core = tag.handle == "!!" || tag.handle == "tag:yaml.org,2002:";
    core && matches!(
        tag.suffix.as_str(),
        "str" | "int" | "float" | "bool" | "null" | "map" | "seq"
    )
}

/// Why a plain scalar is refused: YAML reads it as a float that JSON and
/// AWS cannot hold (`.nan`, `.inf`, or a number too large such as `1e400`).
fn non_finite(value: &str) -> Option<String> {
    let lower = value.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['-', '+']);
    if unsigned == ".inf" || lower == ".nan" {
        return Some(format!("{value} is not a finite number"));
    }
    let mut digits = false;
    let numeric = unsigned.chars().all(|c| {
        digits |= c.is_ascii_digit();
        c.is_ascii_digit() || matches!(c, '.' | 'e' | '-' | '+')
    });
    if !(digits && numeric) {
        return None;
    }
    match unsigned.parse::<f64>() {
        Ok(f) if f.is_infinite() => Some(format!(
            "{} is out of range: not a finite number",
            super::quote(value).trim_matches('"')
        )),
        _ => None,
    }
}

/// Where the builder is inside a container.
#[derive(Debug)]
enum Frame {
    Map {
        /// `None` inside a complex (non-scalar) key, which has no field path.
        path: Option<FieldPath>,
        /// The key whose value comes next, or `None` when a key comes next.
        key: Option<Option<String>>,
    },
    Seq {
        path: Option<FieldPath>,
        next: usize,
    },
}

#[derive(Debug, Default)]
struct Builder {
    out: FileIndex,
    doc: DocIndex,
    stack: Vec<Frame>,
    at_root: bool,
}

impl Builder {
    fn record(&mut self, path: &FieldPath, pos: Pos) {
        self.doc.positions.entry(path.clone()).or_insert(pos);
    }

    /// A block mapping's start mark lies after its first key (at the `:`);
    /// the first key is where the mapping really starts.
    fn pull_back(&mut self, path: &FieldPath, pos: Pos) {
        if let Some(existing) = self.doc.positions.get_mut(path) {
            if pos.offset < existing.offset {
                *existing = pos;
            }
        }
    }

    /// A node starts: returns its path (`None` when it has none) after
    /// recording its position and advancing the enclosing container.
    fn node(&mut self, event: &Event, pos: Pos) -> Option<FieldPath> {
        if self.at_root {
            self.at_root = false;
            self.doc.is_empty = matches!(
                event,
                Event::Scalar(value, TScalarStyle::Plain, _, None)
                    if matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL")
            );
            let root = FieldPath::root();
            self.record(&root, pos);
            return Some(root);
        }
        let key_of = match self.stack.last_mut() {
            None => return None,
            Some(Frame::Seq { path, next }) => {
                let item = path.as_ref().map(|p| p.index(*next));
                *next += 1;
                if let Some(item) = &item {
                    self.record(item, pos);
                }
                return item;
            }
            Some(Frame::Map { path, key }) => match key.take() {
                // A value: its key was recorded already.
                Some(Some(k)) => return path.as_ref().map(|p| p.key(&k)),
                Some(None) => return None,
                // A key: only a scalar key names a field; a complex key's
                // insides are not fields and its value has no path.
                None => match (event, path) {
                    (Event::Scalar(k, ..), Some(parent)) => {
                        *key = Some(Some(k.clone()));
                        parent.clone()
                    }
                    _ => {
                        *key = Some(None);
                        return None;
                    }
                },
            },
        };
        if let Event::Scalar(k, ..) = event {
            let field = key_of.key(k);
            self.pull_back(&key_of, pos);
            match self.doc.positions.get(&field) {
                Some(first) => self.out.duplicate_keys.push(DuplicateKey {
                    path: field,
                    pos,
                    first: *first,
                }),
                None => self.record(&field, pos),
            }
        }
        None
    }
}

impl Builder {
    fn refuse(&mut self, path: Option<FieldPath>, pos: Pos, message: String) {
        self.doc.refused.push(Refused { path, pos, message });
    }

    /// A node's tag, when it is not a standard one.
    fn check_tag(&mut self, tag: Option<&Tag>, path: &Option<FieldPath>, pos: Pos) {
        if let Some(tag) = tag.filter(|t| !standard_tag(t)) {
            let shown = if tag.handle == "tag:yaml.org,2002:" {
                format!("!!{}", tag.suffix)
            } else {
                format!("{}{}", tag.handle, tag.suffix)
            };
            let message = format!(
                "the YAML tag {} is not supported (only standard YAML values)",
                super::quote(&shown)
            );
            self.refuse(path.clone(), pos, message);
        }
    }

    /// A container starts: nested too deeply, indexing stops here.
    fn open(&mut self, frame: Frame, pos: Pos) {
        if self.stack.len() >= MAX_DEPTH {
            self.out.too_deep = Some(pos);
        }
        self.stack.push(frame);
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let pos = Pos::from_marker(mark);
        match &event {
            Event::DocumentStart => {
                self.doc = DocIndex::default();
                self.stack.clear();
                self.at_root = true;
            }
            Event::DocumentEnd => {
                let doc = std::mem::take(&mut self.doc);
                self.out.docs.push(doc);
            }
            Event::Alias(_) => {
                self.out.first_alias.get_or_insert(pos);
                self.node(&event, pos);
            }
            Event::Scalar(value, style, _, tag) => {
                let path = self.node(&event, pos);
                self.check_tag(tag.as_ref(), &path, pos);
                if *style == TScalarStyle::Plain && tag.is_none() {
                    if let Some(message) = non_finite(value) {
                        self.refuse(path, pos, message);
                    }
                }
            }
            Event::MappingStart(_, tag) => {
                let path = self.node(&event, pos);
                self.check_tag(tag.as_ref(), &path, pos);
                self.open(Frame::Map { path, key: None }, pos);
            }
            Event::SequenceStart(_, tag) => {
                let path = self.node(&event, pos);
                self.check_tag(tag.as_ref(), &path, pos);
                self.open(Frame::Seq { path, next: 0 }, pos);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(index: &DocIndex, path: &FieldPath) -> (usize, usize) {
        let pos = index.locate(path).expect("a position");
        (pos.line, pos.column)
    }

    #[test]
    fn keys_items_and_documents_are_located() {
        let text = "\
# leading comment
---
apiVersion: driftd/v1
spec:
    threshold: 5
    metrics:
      - id: a
        expression: m1
      - {id: b, returnData: false}
---
---
kind: Topic
";
        let index = index(text);
        assert!(index.complete);
        assert_eq!(index.docs.len(), 3);
        let doc = &index.docs[0];
        let spec = FieldPath::root().key("spec");
        assert_eq!(at(doc, &FieldPath::root()), (3, 1));
        assert_eq!(at(doc, &spec), (4, 1));
        assert_eq!(at(doc, &spec.key("threshold")), (5, 5));
        assert_eq!(at(doc, &spec.key("metrics").index(0)), (7, 9));
        assert_eq!(at(doc, &spec.key("metrics").index(1)), (9, 9));
        assert_eq!(
            at(doc, &spec.key("metrics").index(1).key("returnData")),
            (9, 17)
        );
        // A field that is not written is located at its nearest ancestor.
        assert_eq!(at(doc, &spec.key("period")), (4, 1));
        assert!(index.docs[1].is_empty);
        assert_eq!(at(&index.docs[2], &FieldPath::root().key("kind")), (12, 1));
    }

    #[test]
    fn duplicate_keys_are_noted_with_both_places() {
        let index = index("a: 1\nb:\n  c: 1\n  c: 2\n");
        assert_eq!(index.duplicate_keys.len(), 1);
        let dup = &index.duplicate_keys[0];
        assert_eq!(dup.path.to_string(), "b.c");
        assert_eq!((dup.pos.line, dup.pos.column), (4, 3));
        assert_eq!((dup.first.line, dup.first.column), (3, 3));
    }

    #[test]
    fn complex_keys_and_aliases_do_not_derail_the_paths() {
        let text = "base: &b {x: 1}\n? [k1, k2]\n: ignored\nafter: *b\nlast: 1\n";
        let index = index(text);
        let doc = &index.docs[0];
        assert_eq!(at(doc, &FieldPath::root().key("after")), (4, 1));
        assert_eq!(at(doc, &FieldPath::root().key("last")), (5, 1));
        assert_eq!(at(doc, &FieldPath::root().key("base").key("x")), (1, 11));
    }

    #[test]
    fn documents_before_a_syntax_error_are_indexed() {
        let index = index("a: 1\n---\nb: 2\n---\nc: [\n");
        assert!(!index.complete);
        // The document the error is in, as far as it was read, too.
        assert_eq!(index.docs.len(), 3);
        assert_eq!(at(&index.docs[2], &FieldPath::root().key("c")), (5, 1));
        assert_eq!(at(&index.docs[1], &FieldPath::root().key("b")), (3, 1));
    }

    #[test]
    fn paths_display_like_field_paths() {
        let path = FieldPath::root()
            .key("spec")
            .key("metrics")
            .index(1)
            .key("id");
        assert_eq!(path.to_string(), "spec.metrics[1].id");
    }
}
