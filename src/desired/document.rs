//! One desired-state file: its YAML documents, the envelope of each, the
//! typed parse of its spec, and every problem located at file:line:column.

use std::path::Path;
use std::sync::Arc;

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;
use serde_yaml::Value;

use crate::kinds::{
    alarm, dashboard, ecs_service, secret, topic, Kind, Mode, Origin, Resource, Spec,
};

use super::environment::{self, Environment};
use super::position::{self, DocIndex, FieldPath, Pos, Refused, Seg};
use super::validate::{self, Cx, Problem, Problems, Validate};
use super::{quote, suggest, LoadError};

/// The only API version this driftd reads.
pub(crate) const API_VERSION: &str = "driftd/v1";

/// The envelope of every document; `spec` is the kind's typed spec.
/// `apiVersion` and `kind` are checked before the typed parse, on the raw
/// value, so that a wrong one is reported even when the spec is broken too.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Document<S> {
    #[serde(default, rename = "apiVersion")]
    _api_version: Option<IgnoredAny>,
    #[serde(default, rename = "kind")]
    _kind: Option<IgnoredAny>,
    metadata: Metadata,
    spec: S,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Metadata {
    name: String,
    #[serde(default)]
    mode: Option<Mode>,
    /// The environments this document is instantiated in (default: all);
    /// read on the raw value before the typed parse.
    #[serde(default, rename = "environments")]
    _environments: Option<IgnoredAny>,
}

/// One document of a file as YAML read it, before variables are replaced
/// and before its typed parse.
#[derive(Debug, Clone)]
pub(crate) struct Parsed {
    pub file: std::path::PathBuf,
    pub value: Value,
    pub index: Option<Arc<DocIndex>>,
    /// Where an error that nothing else locates is placed.
    fallback: Option<Pos>,
}

impl Parsed {
    pub(crate) fn kind_name(&self) -> Option<&str> {
        self.value.get("kind").and_then(Value::as_str)
    }

    /// `Kind name` of the document as written (before its variables are
    /// replaced), for its errors; `None` without a kind.
    pub(crate) fn label(&self) -> Option<String> {
        self.kind_name()
            .map(|k| format!("{k} {}", self.name().unwrap_or_default()))
    }

    pub(crate) fn name(&self) -> Option<&str> {
        self.value
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
    }

    /// An error about a field of this document.
    pub(crate) fn error(&self, resource: Option<String>, problem: Problem) -> LoadError {
        let mut e = locate(
            &self.file,
            self.index.as_deref(),
            resource,
            &problem.path,
            problem.message,
        );
        self.place(std::slice::from_mut(&mut e));
        e
    }

    /// Gives a place to the errors serde left without one.
    fn place(&self, errors: &mut [LoadError]) {
        for e in errors {
            if e.line.is_none() {
                e.line = Some(self.fallback.map_or(1, |p| p.line));
                e.column = Some(self.fallback.map_or(1, |p| p.column));
            }
        }
    }

    /// Loads this document (its variables already replaced in `value`).
    pub(crate) fn load(
        &self,
        value: Value,
        root: &Path,
        declared: &mut Vec<Declared>,
        errors: &mut Vec<LoadError>,
    ) {
        let before = errors.len();
        load_document(
            &self.file,
            root,
            value,
            self.index.clone(),
            declared,
            errors,
        );
        self.place(&mut errors[before..]);
    }

    /// The environment an Environment document declares, or its problems.
    pub(crate) fn environment(&self, errors: &mut Vec<LoadError>) -> Option<Environment> {
        let label = self.label();
        let doc = match serde_path_to_error::deserialize::<_, Document<environment::Spec>>(
            self.value.clone(),
        ) {
            Ok(doc) => doc,
            Err(e) => {
                errors.push(self.error(label, serde_problem(e)));
                return None;
            }
        };
        let mut problems = Problems::default();
        if doc.metadata.mode.is_some() {
            problems.add(
                FieldPath::root().key("metadata").key("mode"),
                "an Environment has no mode",
            );
        }
        let name = doc.metadata.name;
        let ok = !name.is_empty()
            && name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            problems.add(
                FieldPath::root().key("metadata").key("name"),
                "must be 1 to 32 lowercase letters, digits and hyphens",
            );
        }
        let env = doc.spec.into_environment(name, &mut problems);
        let found = !problems.0.is_empty();
        errors.extend(problems.0.into_iter().map(|p| self.error(label.clone(), p)));
        (!found).then_some(env)
    }
}

/// A document that names its kind and resource, whether or not it is valid:
/// enough to find duplicates and `topic:` references without cascades.
#[derive(Debug)]
pub(crate) struct Declared {
    pub file: std::path::PathBuf,
    pub kind: Kind,
    pub name: String,
    /// Where `metadata.name` is written.
    pub name_pos: Option<Pos>,
    /// Where each `topic:` reference of an alarm is written. The document's
    /// whole index is dropped once it is loaded (at scale it outweighs every
    /// resource together): the checks across documents need only these.
    pub references: Vec<(FieldPath, Pos)>,
    /// The resource, when its typed parse succeeded (valid or not: the load
    /// fails as a whole when any document has a problem).
    pub resource: Option<Resource>,
}

impl Declared {
    pub(crate) fn label(&self) -> String {
        format!("{} {}", self.kind, self.name)
    }

    /// An error about a field of this document.
    /// An error about its name or one of its `topic:` references.
    pub(crate) fn error(&self, path: &FieldPath, message: String) -> LoadError {
        let name = FieldPath::root().key("metadata").key("name");
        let pos = if *path == name {
            self.name_pos
        } else {
            self.references
                .iter()
                .find_map(|(at, pos)| (at == path).then_some(*pos))
        };
        error_at(&self.file, pos, Some(self.label()), path, message)
    }
}

fn locate(
    file: &Path,
    index: Option<&DocIndex>,
    resource: Option<String>,
    path: &FieldPath,
    message: String,
) -> LoadError {
    error_at(
        file,
        index.and_then(|i| i.locate(path)),
        resource,
        path,
        message,
    )
}

fn error_at(
    file: &Path,
    pos: Option<Pos>,
    resource: Option<String>,
    path: &FieldPath,
    message: String,
) -> LoadError {
    LoadError {
        resource,
        field: (!path.is_root()).then(|| path.to_string()),
        ..LoadError::at(file, pos, message)
    }
}

/// Loads every document of one file into `declared`, problems into `errors`.
/// Reads the documents of one file; its syntax errors go to `errors`.
pub(crate) fn parse_file(file: &Path, text: &str, errors: &mut Vec<LoadError>) -> Vec<Parsed> {
    let mut parsed = Vec::new();
    parse_into(file, text, &mut parsed, errors);
    parsed
}

fn parse_into(file: &Path, text: &str, parsed: &mut Vec<Parsed>, errors: &mut Vec<LoadError>) {
    let index = position::index(text);
    if let Some(pos) = index.too_deep {
        // Nothing more is read of this file: serde would go as deep.
        errors.push(LoadError::at(
            file,
            Some(pos),
            format!(
                "nested deeper than {} levels of mappings and lists",
                position::MAX_DEPTH
            ),
        ));
        return;
    }
    let mut values = Vec::new();
    let errors_before = errors.len();
    // serde_yaml yields the same error forever once a document fails to
    // parse: stop at the first one (the rest of the file cannot be read).
    for document in serde_yaml::Deserializer::from_str(text) {
        match Value::deserialize(document) {
            Ok(value) => values.push(value),
            Err(e) => {
                errors.push(syntax_error(file, &e, &index));
                break;
            }
        }
    }
    // libyaml (serde_yaml) is laxer than YAML 1.2 in places (a flow list
    // continued at column 0, say) where yaml-rust2 is not: such a file
    // could be loaded but not located. It is refused, at the place the
    // strict parser stopped, so that every error keeps its line.
    if let Some((pos, info)) = &index.syntax_error {
        if errors_before == errors.len() {
            errors.push(LoadError::at(
                file,
                Some(*pos),
                format!("invalid YAML: {info}"),
            ));
            return;
        }
    }
    // Both parsers agree on the documents that hold something; empty ones
    // (`---` alone, comments only, `null`) are skipped on both sides. Before
    // a syntax error, both hold the documents that precede it.
    values.retain(|v| !v.is_null());
    // Where to place an error that nothing else locates: where the strict
    // parser stopped, else the first alias, else the top of the file.
    let fallback = index
        .syntax_error
        .as_ref()
        .map(|(pos, _)| *pos)
        .or(index.first_alias);
    let docs: Vec<DocIndex> = index.docs.into_iter().filter(|d| !d.is_empty).collect();
    // The documents are matched one by one, as far as both parsers got and
    // as long as they agree on every field of a document; past a syntax
    // error of the strict parser only (serde_yaml is laxer), documents are
    // placed where it stopped.
    let root_path = FieldPath::root();
    let first_disagreement = values
        .iter()
        .zip(&docs)
        .enumerate()
        .find_map(|(i, (value, doc))| disagreement(value, doc, &root_path).map(|f| (i, f)));
    let agreeing = first_disagreement
        .as_ref()
        .map_or(values.len().min(docs.len()), |(i, _)| *i);
    // When serde_yaml stopped at an error of its own (a duplicate key, say)
    // that the index read past, its values are the first documents.
    let serde_stopped = errors.len() > errors_before;
    let counts_agree = !index.complete || serde_stopped || docs.len() == values.len();
    if agreeing < values.len().min(docs.len()) || !counts_agree {
        // The two parsers read the file's structure differently (libyaml is
        // laxer than YAML 1.2 in places): its documents cannot be matched to
        // their places, so none is loaded, and the file is refused at the
        // first field they read differently (where its parent is).
        let field = first_disagreement.map_or(root_path, |(_, f)| f);
        let pos = docs
            .get(agreeing)
            .or(docs.last())
            .and_then(|d| d.locate(&field))
            .or(fallback);
        errors.push(LoadError {
            file: file.to_path_buf(),
            line: Some(pos.map_or(1, |p| p.line)),
            column: Some(pos.map_or(1, |p| p.column)),
            resource: None,
            field: None,
            message: "invalid YAML: YAML parsers read the documents of this file differently \
                      from here on; check quoting, indentation and `---` separators"
                .to_string(),
        });
        return;
    }
    let mut docs = docs.into_iter();
    for value in values {
        // A document past the strict parser's stop (serde_yaml read
        // further): its errors are placed where that parser stopped.
        let index = docs
            .next()
            .or_else(|| fallback.map(DocIndex::at))
            .map(Arc::new);
        parsed.push(Parsed {
            file: file.to_path_buf(),
            value,
            index,
            fallback,
        });
    }
    // Anything still without a place (serde_yaml gives none for some of its
    // errors) is placed there too, or at the top of the file.
    for e in &mut errors[errors_before..] {
        if e.line.is_none() {
            e.line = Some(fallback.map_or(1, |p| p.line));
            e.column = Some(fallback.map_or(1, |p| p.column));
        }
    }
}

/// The first field of this value the index does not hold (`None`: both
/// parsers read the document alike, so the index places its errors).
fn disagreement(value: &Value, doc: &DocIndex, path: &FieldPath) -> Option<FieldPath> {
    let check = |field: FieldPath, v: &Value| {
        if doc.contains(&field) {
            disagreement(v, doc, &field)
        } else {
            Some(field)
        }
    };
    match value {
        // A complex key has no field path to check.
        Value::Mapping(map) => map
            .iter()
            .find_map(|(k, v)| k.as_str().and_then(|k| check(path.key(k), v))),
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| check(path.index(i), v)),
        Value::Tagged(tagged) => disagreement(&tagged.value, doc, path),
        _ => None,
    }
}

/// The kinds, as the contract lists them.
fn kind_names() -> String {
    Kind::LISTED.map(Kind::as_str).join(", ")
}

/// Errors for the values the index refused (non-finite numbers, unknown
/// tags), each at its exact place.
fn refusals<'a>(
    file: &'a Path,
    refused: &'a [Refused],
    label: Option<&'a String>,
) -> impl Iterator<Item = LoadError> + 'a {
    refused.iter().map(move |r| LoadError {
        resource: label.cloned(),
        field: r
            .path
            .as_ref()
            .filter(|p| !p.is_root())
            .map(ToString::to_string),
        ..LoadError::at(file, Some(r.pos), r.message.clone())
    })
}

/// A document serde_yaml could not read: a syntax error, a duplicate key.
fn syntax_error(file: &Path, e: &serde_yaml::Error, index: &position::FileIndex) -> LoadError {
    let text = e.to_string();
    if text.contains("duplicate entry with key") {
        if let Some(dup) = index.duplicate_keys.first() {
            let message = format!(
                "duplicate key (first at line {} column {})",
                dup.first.line, dup.first.column
            );
            return LoadError {
                field: Some(dup.path.to_string()),
                ..LoadError::at(file, Some(dup.pos), message)
            };
        }
    }
    let location = e.location();
    if location.is_none() && text.contains("repetition limit exceeded") {
        // An alias bomb: serde_yaml gives no place; the first alias is one.
        return LoadError::at(
            file,
            index.first_alias,
            "invalid YAML: aliases expand to too many values".to_string(),
        );
    }
    let message = match &location {
        Some(l) => text.replacen(
            &format!(" at line {} column {}", l.line(), l.column()),
            "",
            1,
        ),
        None => text,
    };
    LoadError {
        file: file.to_path_buf(),
        line: location.as_ref().map(|l| l.line()),
        column: location.as_ref().map(|l| l.column()),
        resource: None,
        field: None,
        message: format!("invalid YAML: {message}"),
    }
}

fn load_document(
    file: &Path,
    desired_root: &Path,
    mut value: Value,
    index: Option<Arc<DocIndex>>,
    declared: &mut Vec<Declared>,
    errors: &mut Vec<LoadError>,
) {
    let root = FieldPath::root();
    let error = |resource: Option<String>, problem: Problem| {
        locate(
            file,
            index.as_deref(),
            resource,
            &problem.path,
            problem.message,
        )
    };
    if !value.is_mapping() {
        errors.push(error(
            None,
            Problem {
                path: root,
                message: "a document must be a mapping of apiVersion, kind, metadata and spec"
                    .to_string(),
            },
        ));
        return;
    }
    let mut problems = Problems::default();

    let kind = match value.get("kind") {
        None => {
            problems.add(root.key("kind"), "missing required field");
            None
        }
        Some(Value::String(kind)) => match Kind::parse(kind) {
            Some(kind) => Some(kind),
            None => {
                let hint = match suggest(kind, Kind::LISTED.iter().map(|k| k.as_str())) {
                    Some(s) => format!("did you mean {s}?"),
                    None => format!("expected one of: {}", kind_names()),
                };
                problems.add(
                    root.key("kind"),
                    format!("unknown kind {} ({hint})", quote(kind)),
                );
                None
            }
        },
        Some(_) => {
            problems.add(
                root.key("kind"),
                format!("must be one of: {}", kind_names()),
            );
            None
        }
    };
    match value.get("apiVersion") {
        None => problems.add(root.key("apiVersion"), "missing required field"),
        Some(Value::String(v)) if v == API_VERSION => {}
        Some(Value::String(v)) => problems.add(
            root.key("apiVersion"),
            format!(
                "unsupported apiVersion {} (expected {API_VERSION})",
                quote(v)
            ),
        ),
        Some(_) => problems.add(root.key("apiVersion"), format!("must be {API_VERSION}")),
    }
    let name = value
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let label = match (kind, &name) {
        (Some(kind), Some(name)) if !name.is_empty() => Some(format!("{kind} {name}")),
        (Some(kind), _) => Some(kind.to_string()),
        (None, _) => None,
    };

    if let Some(index) = &index {
        errors.extend(refusals(file, &index.refused, label.as_ref()));
    }
    // What serde says of a refused value (`1e400` read as a string) adds
    // nothing to the refusal.
    let refused: Vec<FieldPath> = index
        .iter()
        .flat_map(|i| i.refused.iter().filter_map(|r| r.path.clone()))
        .collect();
    let error = |resource: Option<String>, problem: Problem| {
        (!refused.contains(&problem.path)).then(|| error(resource, problem))
    };

    let Some(kind) = kind else {
        errors.extend(
            problems
                .0
                .into_iter()
                .filter_map(|p| error(label.clone(), p)),
        );
        return;
    };

    // YAML merge keys (`<<: *defaults`) let operators share alarm settings.
    let mut resource = None;
    if let Err(e) = value.apply_merge() {
        problems.add(root.clone(), format!("invalid merge key: {e}"));
    } else {
        match typed(kind, value) {
            Err(problem) => problems.0.push(problem),
            Ok((metadata, mut spec)) => {
                validate::check_name(kind, &metadata.name, &mut problems);
                let cx = Cx {
                    yaml_file: file,
                    root: desired_root,
                    index: index.as_deref(),
                };
                match &mut spec {
                    Spec::Alarm(s) => s.validate(&metadata.name, &cx, &mut problems),
                    Spec::Dashboard(s) => s.validate(&metadata.name, &cx, &mut problems),
                    Spec::Topic(s) => s.validate(&metadata.name, &cx, &mut problems),
                    Spec::Secret(s) => s.validate(&metadata.name, &cx, &mut problems),
                    Spec::EcsService(s) => s.validate(&metadata.name, &cx, &mut problems),
                }
                let origin = index
                    .as_ref()
                    .and_then(|i| i.locate(&root))
                    .map_or((1, 1), |p| (p.line, p.column));
                resource = Some(Resource {
                    // Set by the loader, which knows the environment.
                    environment: crate::kinds::DEFAULT_ENVIRONMENT.to_string(),
                    name: metadata.name,
                    mode: metadata.mode,
                    origin: Origin {
                        file: file.to_path_buf(),
                        line: origin.0,
                        column: origin.1,
                    },
                    spec,
                });
            }
        }
    }

    errors.extend(
        problems
            .0
            .into_iter()
            .filter_map(|p| error(label.clone(), p)),
    );
    if let Some(name) = name {
        let locate = |path: &FieldPath| index.as_ref().and_then(|i| i.locate(path));
        let references = match &resource {
            Some(Resource {
                spec: Spec::Alarm(alarm),
                ..
            }) => topic_references(alarm)
                .filter_map(|(path, _)| Some((path.clone(), locate(&path)?)))
                .collect(),
            _ => Vec::new(),
        };
        declared.push(Declared {
            file: file.to_path_buf(),
            kind,
            name,
            name_pos: locate(&root.key("metadata").key("name")),
            references,
            resource,
        });
    }
}

/// Each `topic:<name>` an alarm's actions name, with its field path.
pub(crate) fn topic_references(alarm: &alarm::Spec) -> impl Iterator<Item = (FieldPath, &str)> {
    [
        ("alarmActions", &alarm.alarm_actions),
        ("okActions", &alarm.ok_actions),
        ("insufficientDataActions", &alarm.insufficient_data_actions),
    ]
    .into_iter()
    .flat_map(|(field, actions)| {
        actions.iter().enumerate().filter_map(move |(i, action)| {
            let topic = action.strip_prefix("topic:")?;
            Some((FieldPath::root().key("spec").key(field).index(i), topic))
        })
    })
}

/// The typed parse of a document of `kind`: its metadata and spec, or the
/// first problem serde found.
fn typed(kind: Kind, value: Value) -> Result<(Metadata, Spec), Problem> {
    fn parse<S: DeserializeOwned>(
        value: Value,
        wrap: fn(S) -> Spec,
    ) -> Result<(Metadata, Spec), Problem> {
        serde_path_to_error::deserialize::<_, Document<S>>(value)
            .map(|doc| (doc.metadata, wrap(doc.spec)))
            .map_err(serde_problem)
    }
    match kind {
        Kind::Alarm => parse::<alarm::Spec>(value, Spec::Alarm),
        Kind::Dashboard => parse::<dashboard::Spec>(value, Spec::Dashboard),
        Kind::Topic => parse::<topic::Spec>(value, Spec::Topic),
        Kind::Secret => parse::<secret::Spec>(value, Spec::Secret),
        Kind::EcsService => parse::<ecs_service::Spec>(value, Spec::EcsService),
    }
}

/// The names serde lists after "expected" (`` `a`, `b` `` or `` `a` or `b` ``).
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// Turns serde's message into an operator's: field paths in our format,
/// "did you mean" for typos, YAML words instead of Rust types.
fn serde_problem(err: serde_path_to_error::Error<serde_yaml::Error>) -> Problem {
    let mut path = FieldPath::root();
    for segment in err.path().iter() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => path.push(Seg::Index(*index)),
            serde_path_to_error::Segment::Map { key } => path.push(Seg::Key(key.clone())),
            serde_path_to_error::Segment::Enum { variant } => path.push(Seg::Key(variant.clone())),
            serde_path_to_error::Segment::Unknown => path.push(Seg::Key("?".to_string())),
        }
    }
    // Deserializing from a Value, serde_yaml's errors carry no position or
    // path of their own: the text is serde's message alone.
    let text = err.into_inner().to_string();
    let message = if let Some(rest) = text.strip_prefix("unknown field `") {
        // The path already ends with the unknown key.
        let expected = rest.split_once(", expected ").map(|(_, e)| backticked(e));
        match expected {
            Some(names) => {
                let field = rest.split('`').next().unwrap_or_default();
                match suggest(field, names.iter().copied()) {
                    Some(s) => format!("unknown field (did you mean {s}?)"),
                    None => format!("unknown field (expected one of: {})", names.join(", ")),
                }
            }
            None => "unknown field (this mapping takes no fields)".to_string(),
        }
    } else if let Some(rest) = text.strip_prefix("missing field `") {
        let field = rest.trim_end_matches('`');
        path.push(Seg::Key(field.to_string()));
        "missing required field".to_string()
    } else if let Some(rest) = text.strip_prefix("unknown variant `") {
        let value = rest.split('`').next().unwrap_or_default();
        let names = rest
            .split_once(", expected ")
            .map(|(_, e)| backticked(e))
            .unwrap_or_default();
        match suggest(value, names.iter().copied()) {
            Some(s) => format!("unknown value {} (did you mean {s}?)", quote(value)),
            None => format!(
                "unknown value {} (expected one of: {})",
                quote(value),
                names.join(", ")
            ),
        }
    } else if text.starts_with("invalid type: ") || text.starts_with("invalid value: ") {
        match text.rsplit_once(", expected ") {
            Some((found, expected)) => {
                let expected = yaml_words(expected);
                if found.starts_with("invalid value: integer") && expected == "an integer" {
                    let number = found.trim_start_matches("invalid value: integer ");
                    format!("{} is out of range", number.trim_matches('`'))
                } else {
                    format!(
                        "{}, expected {expected}",
                        found.replace("unit value", "null")
                    )
                }
            }
            None => text,
        }
    } else {
        text
    };
    Problem { path, message }
}

/// serde's "expected ..." in the words of a YAML author.
fn yaml_words(expected: &str) -> &str {
    match expected {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" | "isize" => {
            "an integer"
        }
        "f32" | "f64" => "a number",
        "a map" => "a mapping",
        "a Value::Tagged enum" => "a string",
        s if s.starts_with("struct ") => "a mapping",
        s => s,
    }
}
