//! Kiln's one error type: a list of diagnostics, each with a kind, a message a user can act on,
//! and (where known) the file, line and column it points at.
//!
//! Loading collects every problem it finds (invariant 4), so an [`Error`] holds one or more
//! [`Diagnostic`]s. The alternate display (`{:#}`) quotes the offending line with a caret.

use std::fmt;
use std::path::{Path, PathBuf};

/// The category of a diagnostic; it decides the exit code and is written to JSON logs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum ErrorKind {
    /// A file could not be read or written.
    Io,
    /// The project file or its layout is invalid.
    Project,
    /// A YAML file is malformed or has unexpected keys or types.
    Yaml,
    /// `profiles.yml` or the chosen target is invalid.
    Profile,
    /// A Jinja template failed to parse or render.
    Template,
    /// Compiled SQL failed to parse.
    Sql,
    /// A `ref`, `source` or `doc` names something that does not exist.
    Reference,
    /// The dependency graph has a cycle.
    Cycle,
    /// Two resources share a name.
    Duplicate,
    /// A `--select`/`--exclude` expression is invalid.
    Selector,
    /// A command-line argument is invalid.
    Usage,
    /// The database rejected a statement or could not be reached.
    Database,
    /// A node failed while it was being executed.
    Execution,
}

impl ErrorKind {
    /// Short lowercase name used in messages and JSON logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Io => "io",
            ErrorKind::Project => "project",
            ErrorKind::Yaml => "yaml",
            ErrorKind::Profile => "profile",
            ErrorKind::Template => "template",
            ErrorKind::Sql => "sql",
            ErrorKind::Reference => "reference",
            ErrorKind::Cycle => "cycle",
            ErrorKind::Duplicate => "duplicate",
            ErrorKind::Selector => "selector",
            ErrorKind::Usage => "usage",
            ErrorKind::Database => "database",
            ErrorKind::Execution => "execution",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A position in a project file. Lines and columns are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Location {
    /// Path as the user should see it (relative to the project root where possible).
    pub file: PathBuf,
    /// 1-based line; 0 when only the file is known.
    pub line: usize,
    /// 1-based column; 0 when only the line is known.
    pub col: usize,
    /// The text of the offending line, quoted under the message.
    pub source_line: Option<Box<str>>,
}

impl Location {
    /// A location that names only a file.
    pub fn file(file: impl Into<PathBuf>) -> Location {
        Location {
            file: file.into(),
            line: 0,
            col: 0,
            source_line: None,
        }
    }

    /// A location at `line:col` in `file`, quoting the line out of `source` (the file's text).
    pub fn at(file: impl Into<PathBuf>, source: &str, line: usize, col: usize) -> Location {
        let source_line = if line > 0 {
            source
                .lines()
                .nth(line - 1)
                .map(|l| l.trim_end_matches('\r').into())
        } else {
            None
        };
        Location {
            file: file.into(),
            line,
            col,
            source_line,
        }
    }

    /// A location at a byte offset into `source`.
    pub fn at_offset(file: impl Into<PathBuf>, source: &str, offset: usize) -> Location {
        let (line, col) = line_col(source, offset);
        Location::at(file, source, line, col)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
            if self.col > 0 {
                write!(f, ":{}", self.col)?;
            }
        }
        Ok(())
    }
}

/// The option closest to a misspelt `name` (Jaro-Winkler, ignoring case), for "did you mean".
pub fn closest<'a, S: AsRef<str> + ?Sized + 'a>(
    name: &str,
    options: impl IntoIterator<Item = &'a S>,
) -> Option<&'a S> {
    let name = name.to_lowercase();
    options
        .into_iter()
        .map(|o| (strsim::jaro_winkler(&name, &o.as_ref().to_lowercase()), o))
        .filter(|(score, _)| *score > 0.75)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, o)| o)
}

/// Converts a byte offset in `source` to a 1-based (line, column) pair; columns count characters.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..floor_char_boundary(source, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// One problem found in a project or a run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Diagnostic {
    /// What kind of problem this is.
    pub kind: ErrorKind,
    /// What went wrong, in one sentence.
    pub message: String,
    /// Where it went wrong, when that is known.
    pub location: Option<Location>,
    /// What the user can do about it.
    pub hint: Option<String>,
    /// What the database itself said, for a statement it rejected.
    pub database: Option<Box<DatabaseMessage>>,
}

/// A database's own account of a statement it rejected: PostgreSQL's position, DETAIL and HINT.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct DatabaseMessage {
    /// The statement that failed.
    pub statement: String,
    /// 1-based character position in `statement` the database pointed at.
    pub position: Option<usize>,
    /// The database's DETAIL.
    pub detail: Option<String>,
    /// The database's HINT.
    pub hint: Option<String>,
    /// The database's error code (SQLSTATE).
    pub code: Option<String>,
    /// Where in its work the database was (PostgreSQL's CONTEXT, e.g. `COPY s, line 3`).
    pub context: Option<String>,
    /// Where the position is in the node's compiled SQL (line, column; 1-based), once known.
    pub compiled_at: Option<(usize, usize)>,
}

impl Diagnostic {
    /// A diagnostic with no location yet.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            kind,
            message: message.into(),
            location: None,
            hint: None,
            database: None,
        }
    }

    /// Attaches a location.
    pub fn at(mut self, location: Location) -> Diagnostic {
        self.location = Some(location);
        self
    }

    /// Attaches a location only if none is set yet.
    pub fn or_at(mut self, location: Location) -> Diagnostic {
        if self.location.is_none() {
            self.location = Some(location);
        }
        self
    }

    /// Attaches a hint saying what to do.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    /// The file this diagnostic points at, if any.
    pub fn file(&self) -> Option<&Path> {
        self.location.as_ref().map(|l| l.file.as_path())
    }
}

impl fmt::Display for Diagnostic {
    /// `{}` prints `file:line:col: message`; `{:#}` adds the quoted line, a caret and the hint.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !f.alternate() {
            if let Some(loc) = &self.location {
                write!(f, "{loc}: ")?;
            }
            write!(f, "{}", self.message)?;
            if let Some(hint) = &self.hint {
                write!(f, " ({hint})")?;
            }
            return Ok(());
        }
        writeln!(f, "error[{}]: {}", self.kind, self.message)?;
        if let Some(loc) = &self.location {
            writeln!(f, "  --> {loc}")?;
            if let Some(text) = &loc.source_line {
                let num = loc.line.to_string();
                let pad = " ".repeat(num.len());
                writeln!(f, " {pad} |")?;
                writeln!(f, " {num} | {text}")?;
                if loc.col > 0 {
                    // Keep tabs so the caret lines up under the same column in a terminal.
                    let lead: String = text
                        .chars()
                        .take(loc.col - 1)
                        .map(|c| if c == '\t' { '\t' } else { ' ' })
                        .collect();
                    writeln!(f, " {pad} | {lead}^")?;
                }
            }
        }
        if let Some(hint) = &self.hint {
            writeln!(f, "  = help: {hint}")?;
        }
        Ok(())
    }
}

/// Kiln's error: one or more diagnostics, never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    diagnostics: Vec<Diagnostic>,
}

/// Result type used throughout Kiln.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with a single diagnostic.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error::from(Diagnostic::new(kind, message))
    }

    /// Builds an error from collected diagnostics; `None` when there are none.
    pub fn from_diagnostics(mut diagnostics: Vec<Diagnostic>) -> Option<Error> {
        if diagnostics.is_empty() {
            return None;
        }
        // Stable order: by file, then line, then column, then message.
        diagnostics.sort_by(|a, b| {
            let key = |d: &Diagnostic| d.location.as_ref().map(|l| (l.file.clone(), l.line, l.col));
            key(a).cmp(&key(b)).then_with(|| a.message.cmp(&b.message))
        });
        diagnostics.dedup();
        Some(Error { diagnostics })
    }

    /// All diagnostics, in a stable order.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// The first diagnostic's kind.
    pub fn kind(&self) -> ErrorKind {
        self.diagnostics[0].kind
    }

    /// Attaches a location to every diagnostic that has none.
    pub fn or_at(mut self, location: &Location) -> Error {
        for d in &mut self.diagnostics {
            if d.location.is_none() {
                d.location = Some(location.clone());
            }
        }
        self
    }

    /// Attaches a hint to every diagnostic that has none.
    pub fn with_hint(mut self, hint: &str) -> Error {
        for d in &mut self.diagnostics {
            if d.hint.is_none() {
                d.hint = Some(hint.to_string());
            }
        }
        self
    }

    /// Appends the diagnostics of another error.
    pub fn extend(&mut self, other: Error) {
        self.diagnostics.extend(other.diagnostics);
    }
}

impl From<Diagnostic> for Error {
    fn from(d: Diagnostic) -> Error {
        Error {
            diagnostics: vec![d],
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if f.alternate() {
                if i > 0 {
                    writeln!(f)?;
                }
                write!(f, "{d:#}")?;
            } else {
                if i > 0 {
                    writeln!(f)?;
                }
                write!(f, "{d}")?;
            }
        }
        if f.alternate() && self.diagnostics.len() > 1 {
            writeln!(f, "\n{} errors found", self.diagnostics.len())?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// Collects diagnostics while a stage goes on, so one pass reports every problem.
#[derive(Debug, Default)]
pub struct Collector {
    diagnostics: Vec<Diagnostic>,
}

impl Extend<Diagnostic> for Collector {
    fn extend<I: IntoIterator<Item = Diagnostic>>(&mut self, iter: I) {
        self.diagnostics.extend(iter);
    }
}

impl Collector {
    /// An empty collector.
    pub fn new() -> Collector {
        Collector::default()
    }

    /// Records one diagnostic.
    pub fn push(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    /// Records every diagnostic of an error.
    pub fn push_error(&mut self, e: Error) {
        self.diagnostics.extend(e.diagnostics);
    }

    /// Unwraps a result, recording its error and returning `None` on failure.
    pub fn take<T>(&mut self, r: Result<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.push_error(e);
                None
            }
        }
    }

    /// Records every diagnostic `other` recorded, after this one's.
    pub fn append(&mut self, mut other: Collector) {
        self.diagnostics.append(&mut other.diagnostics);
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.diagnostics.is_empty()
    }

    /// `Ok(value)` when nothing was recorded, else every recorded diagnostic.
    pub fn finish<T>(self, value: T) -> Result<T> {
        match Error::from_diagnostics(self.diagnostics) {
            None => Ok(value),
            Some(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_points_at_column() {
        let src = "select 1\nselect {{ foo }}\n";
        let d = Diagnostic::new(ErrorKind::Template, "undefined variable `foo`")
            .at(Location::at("models/a.sql", src, 2, 11))
            .with_hint("define it under `vars:`");
        let text = format!("{d:#}");
        assert_eq!(
            text,
            "error[template]: undefined variable `foo`\n  --> models/a.sql:2:11\n   |\n 2 | select {{ foo }}\n   |           ^\n  = help: define it under `vars:`\n"
        );
        assert_eq!(
            d.to_string(),
            "models/a.sql:2:11: undefined variable `foo` (define it under `vars:`)"
        );
    }

    #[test]
    fn offsets_map_to_lines_and_columns() {
        let src = "ab\ncdé\nf";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 3), (2, 1));
        assert_eq!(line_col(src, 7), (2, 4));
        assert_eq!(line_col(src, 100), (3, 2));
    }

    #[test]
    fn errors_sort_by_location() {
        let e = Error::from_diagnostics(vec![
            Diagnostic::new(ErrorKind::Sql, "b").at(Location::file("z.sql")),
            Diagnostic::new(ErrorKind::Sql, "a").at(Location::file("a.sql")),
        ])
        .unwrap();
        assert_eq!(e.diagnostics()[0].message, "a");
    }
}
