//! The desired state: the only place that knows YAML. Loads a directory of
//! desired-state files into a validated [`DesiredState`], reporting every
//! problem of the load at once with its file, line, column and field path.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::kinds::{Kind, Resource};

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
    /// `file:line:column: Kind name: field: message`, leaving out what is unknown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if let Some(resource) = &self.resource {
            write!(f, "{resource}: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
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

/// Loads and validates every `*.yaml`/`*.yml` file under `dir` (recursively,
/// skipping hidden files and directories).
pub fn load(dir: &Path) -> Result<DesiredState, LoadErrors> {
    let _ = dir;
    todo!("desired-state loader")
}
