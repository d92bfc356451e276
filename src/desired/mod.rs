//! The desired state: the only place that knows YAML. Loads a directory of
//! desired-state files into a validated [`DesiredState`], reporting every
//! problem of the load at once with its file, line, column and field path.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use crate::files;
use crate::kinds::{Kind, Resource, Spec};

mod document;
pub mod environment;
mod position;
mod validate;

use document::{Declared, Parsed};
pub use environment::Environment;
use position::FieldPath;
use serde_yaml::Value;

/// A loaded, validated desired state: every resource once, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DesiredState {
    pub resources: Vec<Resource>,
}

impl DesiredState {
    /// The resources of one kind.
    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Resource> {
        self.resources.iter().filter(move |r| r.kind() == kind)
    }

    /// The resource of this kind and name, if declared.
    pub fn get(&self, kind: Kind, name: &str) -> Option<&Resource> {
        self.resources
            .iter()
            .find(|r| r.kind() == kind && r.name == name)
    }
}

/// One problem found while loading, located as precisely as possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// `Kind name` of the document, when known (e.g. `Alarm cpu-high`).
    pub resource: Option<String>,
    /// The field path, e.g. `spec.threshold` or `spec.metrics[1].id`.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for LoadError {
    /// `file:line:column: Kind name: field: message`, leaving out what is
    /// unknown. Control characters are shown escaped and every part is cut
    /// to a bounded length: a file name or a value may hold anything.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&clean(&self.file.display().to_string(), 1024))?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if let Some(resource) = &self.resource {
            write!(f, "{}: ", clean(resource, 600))?;
        }
        if let Some(field) = &self.field {
            write!(f, "{}: ", clean(field, 256))?;
        }
        f.write_str(&clean(&self.message, 1024))
    }
}

/// `text` with control characters escaped (`\n`, `\u{1b}`), cut after
/// `max` characters.
fn clean(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    let cut = text.char_indices().nth(max).map(|(i, _)| i);
    if cut.is_none() && !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let head = &text[..cut.unwrap_or(text.len())];
    let mut out = String::with_capacity(head.len() + 16);
    for c in head.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if cut.is_some() {
        out.push_str(&format!("… ({} bytes in all)", text.len()));
    }
    std::borrow::Cow::Owned(out)
}

/// A value as messages quote it: in quotes, control characters escaped, and
/// at most a short excerpt of a long one.
pub(crate) fn quote(value: &str) -> String {
    const MAX_CHARS: usize = 48;
    match value.char_indices().nth(MAX_CHARS) {
        None => format!("{value:?}"),
        Some((cut, _)) => format!("{:?}… ({} bytes)", &value[..cut], value.len()),
    }
}

/// Every problem of one load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadErrors(pub Vec<LoadError>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// The desired state of a directory without Environment documents: the
/// implicit environment's (the tests of the loader; the commands use
/// [`load_environments`]).
#[cfg(test)]
pub fn load(dir: &Path) -> Result<DesiredState, LoadErrors> {
    let loaded = load_environments(dir, &[])?;
    assert_eq!(loaded.environments.len(), 1, "load() reads one environment");
    Ok(loaded
        .environments
        .into_iter()
        .next()
        .map(|e| e.state)
        .unwrap_or_default())
}

/// The desired state of one environment, and its documents as they read
/// once its variables are replaced (for `driftd render`).
#[derive(Debug, Clone)]
pub struct EnvironmentState {
    pub environment: Environment,
    pub state: DesiredState,
    pub documents: Vec<Rendered>,
}

/// One effective document: what an environment's variables made of it.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub file: PathBuf,
    pub value: Value,
}

/// Every environment of a desired state (the implicit `default` when it
/// declares none), each loaded and validated.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub environments: Vec<EnvironmentState>,
}

/// Loads every environment of the desired state under `dir`, or only those
/// named in `only` (all when empty). Every problem of every environment is
/// reported; one that concerns a variable names its environment.
pub fn load_environments(dir: &Path, only: &[String]) -> Result<Loaded, LoadErrors> {
    load_with(dir, only, Documents::Drop)
}

/// [`load_environments`], keeping each environment's effective documents
/// for [`Loaded::render`].
pub fn render_environments(dir: &Path, only: &[String]) -> Result<Loaded, LoadErrors> {
    load_with(dir, only, Documents::Keep)
}

/// Whether a load keeps the effective documents (a copy of every document
/// per environment, which only `driftd render` prints).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Documents {
    Keep,
    Drop,
}

fn load_with(dir: &Path, only: &[String], keep: Documents) -> Result<Loaded, LoadErrors> {
    let mut errors = Vec::new();
    let files = discover(dir, &mut errors);
    // Files a document points at must resolve to somewhere under here.
    let root = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut texts = Vec::with_capacity(files.len());
    for file in &files {
        match files::read_text(file, files::MAX_YAML_BYTES) {
            Ok(text) => texts.push((file, text)),
            Err(e) => errors.push(LoadError::of_file(file, format!("cannot read file: {e}"))),
        }
    }
    // The environments first: a document of any file may be in any of
    // them. The files are parsed twice so that only one file's documents
    // are held at a time (the second read reports the syntax errors).
    let env_docs: Vec<Parsed> = texts
        .iter()
        .flat_map(|(file, text)| document::parse_file(file, text, &mut Vec::new()))
        .filter(|p| p.kind_name() == Some(environment::KIND))
        .collect();
    let environments = environments(&env_docs, &mut errors);
    for name in only {
        if !environments.iter().any(|e| &e.name == name) {
            let known: Vec<&str> = environments.iter().map(|e| e.name.as_str()).collect();
            errors.push(LoadError::of_file(
                dir,
                format!(
                    "--env {}: no such environment (declared: {})",
                    quote(name),
                    known.join(", ")
                ),
            ));
        }
    }
    let selected: Vec<(usize, &Environment)> = environments
        .iter()
        .enumerate()
        .filter(|(_, env)| only.is_empty() || only.contains(&env.name))
        .collect();
    let mut states: Vec<(Vec<Declared>, Vec<Rendered>)> =
        selected.iter().map(|_| Default::default()).collect();
    for (file, text) in &texts {
        for mut doc in document::parse_file(file, text, &mut errors) {
            if doc.kind_name() == Some(environment::KIND) {
                continue;
            }
            for (slot, &(i, env)) in selected.iter().enumerate() {
                // Which environments a document is in is reported once, with the first.
                if !in_environment(&doc, env, &environments, i == 0, &mut errors) {
                    continue;
                }
                let label = doc.label();
                // The last environment to load takes the document as it is.
                let mut value = if slot + 1 == selected.len() {
                    std::mem::take(&mut doc.value)
                } else {
                    doc.value.clone()
                };
                let mut problems = validate::Problems::default();
                environment::substitute(&mut value, env, &mut problems);
                if !problems.0.is_empty() {
                    errors.extend(problems.0.into_iter().map(|p| doc.error(label.clone(), p)));
                    continue;
                }
                let (declared, documents) = &mut states[slot];
                if keep == Documents::Keep {
                    let mut effective = value.clone();
                    // Merge keys resolved, as the typed parse sees the document.
                    let _ = effective.apply_merge();
                    documents.push(Rendered {
                        file: doc.file.clone(),
                        value: effective,
                    });
                }
                doc.load(value, &root, declared, &mut errors);
            }
        }
    }
    let mut loaded = Vec::with_capacity(selected.len());
    for ((_, env), (declared, documents)) in selected.into_iter().zip(states) {
        check_duplicates(&declared, &mut errors);
        check_topic_references(&declared, &mut errors);
        loaded.push((env.clone(), declared, documents));
    }
    check_shared_accounts(&loaded, &mut errors);

    if !errors.is_empty() {
        // Reading order: file by file, top to bottom (errors without a file
        // of the list, such as an unreadable directory, first).
        let rank: HashMap<&Path, usize> = files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.as_path(), i))
            .collect();
        errors.sort_by_key(|e| {
            (
                rank.get(e.file.as_path()).copied(),
                e.line.unwrap_or(0),
                e.column.unwrap_or(0),
            )
        });
        // The same problem of a document found in every environment is said once.
        errors.dedup();
        return Err(LoadErrors(errors));
    }
    Ok(Loaded {
        environments: loaded
            .into_iter()
            .map(|(environment, declared, documents)| {
                let resources = declared
                    .into_iter()
                    .filter_map(|d| d.resource)
                    .map(|mut r| {
                        r.environment.clone_from(&environment.name);
                        r
                    })
                    .collect();
                EnvironmentState {
                    environment,
                    state: DesiredState { resources },
                    documents,
                }
            })
            .collect(),
    })
}

impl Loaded {
    /// The implicit environment alone, with this state (what a directory
    /// without Environment documents loads to).
    pub fn single(state: DesiredState) -> Loaded {
        Loaded {
            environments: vec![EnvironmentState {
                environment: Environment::implicit(),
                state,
                documents: Vec::new(),
            }],
        }
    }

    /// `driftd render`: per environment, a comment naming it and where it
    /// is, then each of its effective documents as YAML, in file order.
    /// Secret values are never read: `initialValue` shows where one comes from.
    pub fn render(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        for env in &self.environments {
            let e = &env.environment;
            writeln!(
                out,
                "# environment: {} (account {}, region {})",
                e.name,
                e.account_id.as_deref().unwrap_or("ambient"),
                e.region.as_deref().unwrap_or("ambient")
            )?;
            for doc in &env.documents {
                let yaml = serde_yaml::to_string(&doc.value).map_err(std::io::Error::other)?;
                writeln!(out, "---\n# {}\n{}", doc.file.display(), yaml.trim_end())?;
            }
        }
        Ok(())
    }
}

/// The declared environments (the implicit one without any), each name once.
fn environments(docs: &[Parsed], errors: &mut Vec<LoadError>) -> Vec<Environment> {
    if docs.is_empty() {
        return vec![Environment::implicit()];
    }
    let mut found: Vec<(Environment, &Parsed)> = Vec::new();
    for doc in docs {
        let Some(env) = doc.environment(errors) else {
            continue;
        };
        if let Some((_, first)) = found.iter().find(|(e, _)| e.name == env.name) {
            errors.push(doc.error(
                Some(format!("{} {}", environment::KIND, env.name)),
                validate::Problem {
                    path: FieldPath::root().key("metadata").key("name"),
                    message: format!(
                        "Environment {} declared twice, first in {}",
                        env.name,
                        first.file.display()
                    ),
                },
            ));
            continue;
        }
        found.push((env, doc));
    }
    found.into_iter().map(|(e, _)| e).collect()
}

/// Whether `doc` is instantiated in `env`: `metadata.environments`, when
/// given, lists the environments it is in (each must be declared).
fn in_environment(
    doc: &Parsed,
    env: &Environment,
    all: &[Environment],
    report: bool,
    errors: &mut Vec<LoadError>,
) -> bool {
    let Some(listed) = doc
        .value
        .get("metadata")
        .and_then(|m| m.get("environments"))
    else {
        return true;
    };
    let path = FieldPath::root().key("metadata").key("environments");
    let label = doc.label();
    let problem = |path: FieldPath, message: String| validate::Problem { path, message };
    let Some(items) = listed.as_sequence() else {
        if report {
            errors.push(doc.error(
                label,
                problem(path, "must be a list of environment names".into()),
            ));
        }
        return false;
    };
    let mut found = false;
    for (i, item) in items.iter().enumerate() {
        match item.as_str() {
            Some(name) if name == env.name => found = true,
            Some(name) if all.iter().any(|e| e.name == name) => {}
            other => {
                if report {
                    let names: Vec<&str> = all.iter().map(|e| e.name.as_str()).collect();
                    let message = match other {
                        Some(name) => format!(
                            "no Environment named {} is declared (declared: {})",
                            quote(name),
                            names.join(", ")
                        ),
                        None => "must be an environment name".to_string(),
                    };
                    errors.push(doc.error(label.clone(), problem(path.index(i), message)));
                }
            }
        }
    }
    found
}

/// Two environments in the same account and region cannot both declare a
/// resource of the same kind and name: they would fight over it.
fn check_shared_accounts(
    loaded: &[(Environment, Vec<Declared>, Vec<Rendered>)],
    errors: &mut Vec<LoadError>,
) {
    /// Account, region, kind and name.
    type Place<'a> = (Option<&'a str>, Option<&'a str>, Kind, &'a str);
    let mut first: HashMap<Place, &str> = HashMap::new();
    for (env, declared, _) in loaded {
        for doc in declared {
            let key = (
                env.account_id.as_deref(),
                env.region.as_deref(),
                doc.kind,
                doc.name.as_str(),
            );
            match first.get(&key) {
                None => {
                    first.insert(key, &env.name);
                }
                // Twice in one environment: check_duplicates said it.
                Some(other) if *other == env.name => {}
                Some(other) => errors.push(doc.error(
                    &FieldPath::root().key("metadata").key("name"),
                    format!(
                        "{} is declared in environments {other} and {}, which share account {} \
                         and region {}: name it after ${{env}}, or list one of them in \
                         metadata.environments",
                        doc.label(),
                        env.name,
                        env.account_id.as_deref().unwrap_or("(ambient)"),
                        env.region.as_deref().unwrap_or("(ambient)")
                    ),
                )),
            }
        }
    }
}

impl LoadError {
    /// A problem of a whole file or directory.
    fn of_file(file: &Path, message: String) -> LoadError {
        LoadError::at(file, None, message)
    }

    /// A problem at this place of a file (`None`: no place is known).
    pub(crate) fn at(file: &Path, pos: Option<position::Pos>, message: String) -> LoadError {
        LoadError {
            file: file.to_path_buf(),
            line: pos.map(|p| p.line),
            column: pos.map(|p| p.column),
            resource: None,
            field: None,
            message,
        }
    }
}

#[cfg(test)]
impl LoadError {
    /// A problem of a field of a document, at `(line, column)`.
    pub fn test(
        file: &str,
        (line, column): (usize, usize),
        resource: &str,
        field: &str,
        message: &str,
    ) -> LoadError {
        LoadError {
            file: file.into(),
            line: Some(line),
            column: Some(column),
            resource: Some(resource.into()),
            field: Some(field.into()),
            message: message.into(),
        }
    }
}

/// Every desired-state file under `dir`, sorted. Symbolic links are followed
/// (Kubernetes mounts ConfigMaps through them); a directory is visited once.
fn discover(dir: &Path, errors: &mut Vec<LoadError>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut visited = HashSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        if let Ok(canonical) = fs::canonicalize(&current) {
            if !visited.insert(canonical) {
                continue;
            }
        }
        let entries = match fs::read_dir(&current) {
            Ok(entries) => entries,
            Err(e) => {
                errors.push(LoadError::of_file(
                    &current,
                    format!("cannot read directory: {e}"),
                ));
                continue;
            }
        };
        let mut names = Vec::new();
        for entry in entries {
            match entry {
                Ok(entry) => names.push(entry.file_name()),
                Err(e) => errors.push(LoadError::of_file(
                    &current,
                    format!("cannot read directory: {e}"),
                )),
            }
        }
        // Sorted, and pushed in reverse so that subdirectories are visited in
        // order: where two links lead to one directory, the first name wins.
        names.sort();
        for name in names.into_iter().rev() {
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let path = current.join(&name);
            let yaml = path
                .extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml");
            // `metadata` follows links; a dangling link to YAML is reported.
            match fs::metadata(&path) {
                Ok(meta) if meta.is_dir() => pending.push(path),
                Ok(meta) if meta.is_file() && yaml => files.push(path),
                // A FIFO, a device or a socket named like YAML: never read
                // (a FIFO would block), never skipped silently.
                Ok(meta) if yaml => errors.push(LoadError::of_file(
                    &path,
                    format!(
                        "cannot read file: not a regular file (a {})",
                        files::describe(&meta.file_type())
                    ),
                )),
                Ok(_) => {}
                Err(e) if yaml => {
                    errors.push(LoadError::of_file(&path, format!("cannot read: {e}")))
                }
                Err(_) => {}
            }
        }
    }
    files.sort();
    files
}

/// The same (kind, name) twice is an error at the later place, naming the first.
fn check_duplicates(declared: &[Declared], errors: &mut Vec<LoadError>) {
    let mut first: HashMap<(Kind, &str), &Declared> = HashMap::new();
    for doc in declared {
        match first.get(&(doc.kind, doc.name.as_str())) {
            None => {
                first.insert((doc.kind, doc.name.as_str()), doc);
            }
            Some(earlier) => {
                let place = match earlier.name_pos {
                    Some(pos) => format!("{}:{}:{}", earlier.file.display(), pos.line, pos.column),
                    None => earlier.file.display().to_string(),
                };
                errors.push(doc.error(
                    &FieldPath::root().key("metadata").key("name"),
                    format!("{} declared twice, first at {place}", doc.label()),
                ));
            }
        }
    }
}

/// Every `topic:<name>` an alarm names must be a Topic of this desired state.
fn check_topic_references(declared: &[Declared], errors: &mut Vec<LoadError>) {
    let topics: BTreeSet<&str> = declared
        .iter()
        .filter(|d| d.kind == Kind::Topic)
        .map(|d| d.name.as_str())
        .collect();
    for doc in declared {
        let Some(Resource {
            spec: Spec::Alarm(alarm),
            ..
        }) = &doc.resource
        else {
            continue;
        };
        for (path, topic) in document::topic_references(alarm) {
            if topic.is_empty() || topics.contains(topic) {
                continue;
            }
            let hint = match suggest(topic, topics.iter().copied()) {
                Some(s) => format!(" (did you mean topic:{s}?)"),
                None => String::new(),
            };
            errors.push(doc.error(
                &path,
                format!("no Topic named {} is declared{hint}", quote(topic)),
            ));
        }
    }
}

/// The candidate closest to a mistyped `word`, when it is close enough to be
/// what was meant (same letters in another case, or a few edits away).
pub(crate) fn suggest<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    // The edit distance costs the product of both lengths: a long word is
    // no typo of a field name, and must not take seconds.
    if word.len() > 64 {
        return None;
    }
    let lower = word.to_lowercase();
    candidates
        .map(|c| (strsim::damerau_levenshtein(&lower, &c.to_lowercase()), c))
        .filter(|(distance, c)| *distance <= (c.chars().count() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests;
