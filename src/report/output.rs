//! Formats and destinations: how a report is rendered and where it is written.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::document::{Report, ReportError};
use super::text::Style;

/// A report format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Text for people: violations, leak summary, totals (colored on a terminal).
    Text,
    /// The JSON document, schema [`SCHEMA`](super::SCHEMA).
    Json,
    /// SARIF 2.1.0, for code-scanning services.
    Sarif,
    /// JUnit XML, one test case per rule.
    Junit,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 4] = [Format::Text, Format::Json, Format::Sarif, Format::Junit];

    /// The format's name, as `DMACHECK_REPORT` and the `dmacheck` command spell it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Sarif => "sarif",
            Format::Junit => "junit",
        }
    }

    /// The file name extension of a report in this format.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Text => "txt",
            Format::Json => "json",
            Format::Sarif => "sarif",
            Format::Junit => "xml",
        }
    }

    /// Render `report`; `color` applies to text only.
    pub fn render(self, report: &Report, color: bool) -> String {
        match self {
            Format::Text => Style::new(color).report(report),
            Format::Json => report.to_json() + "\n",
            Format::Sarif => super::sarif::render(report),
            Format::Junit => super::junit::render(report),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = ReportError;

    fn from_str(s: &str) -> Result<Format, ReportError> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s.trim())
            .ok_or_else(|| {
                ReportError::Destination(format!(
                    "unknown report format `{s}` (text, json, sarif or junit)"
                ))
            })
    }
}

/// Where a report goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Standard error (`-`).
    Stderr,
    /// This file, replaced if it exists.
    File(PathBuf),
    /// A new file in this directory, `dmacheck-<pid>-<stamp>-<n>.<ext>`: the process id, the
    /// time the process first wrote a report (nanoseconds, in hex), and `n` counting up from 0
    /// past the names already taken. Several processes (test binaries, CI shards) writing to
    /// one directory never overwrite each other's reports, and neither do shards on different
    /// machines whose reports end up in one directory (equal pids are common in containers).
    Directory(PathBuf),
}

/// A format and a place: one item of `DMACHECK_REPORT`.
///
/// Written `<format>:<path>`, where the format is `text`, `json`, `sarif` or `junit` and the
/// path is `-` for stderr, a directory (one that exists, or any path ending in `/`, created if
/// missing) for a new uniquely named file in it, or else a file, whose directory must exist (a
/// missing one is an error). `text` alone means `text:-`. Several
/// destinations are separated by commas: `DMACHECK_REPORT=json:target/dmacheck/,text:-`.
///
/// ```
/// use dmacheck::report::{Destination, Format, Target};
///
/// let d: Destination = "json:target/dmacheck/".parse().unwrap();
/// assert_eq!(d.format, Format::Json);
/// assert_eq!(d.target, Target::Directory("target/dmacheck/".into()));
/// assert_eq!("text".parse::<Destination>().unwrap().target, Target::Stderr);
/// assert!("json".parse::<Destination>().is_err(), "a file format needs a path");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    /// The format.
    pub format: Format,
    /// Where it goes.
    pub target: Target,
}

impl FromStr for Destination {
    type Err = ReportError;

    fn from_str(spec: &str) -> Result<Destination, ReportError> {
        let spec = spec.trim();
        let (format, path) = match spec.split_once(':') {
            Some((format, path)) => (format.parse::<Format>()?, Some(path.trim())),
            None => (spec.parse::<Format>()?, None),
        };
        let target = match path {
            None if format == Format::Text => Target::Stderr,
            None | Some("") => {
                return Err(ReportError::Destination(format!(
                    "`{spec}`: a {format} report needs a path: {format}:<file or directory/>"
                )));
            }
            Some("-" | "stderr") => Target::Stderr,
            Some(path) if path.ends_with('/') || Path::new(path).is_dir() => {
                Target::Directory(path.into())
            }
            Some(path) => Target::File(path.into()),
        };
        Ok(Destination { format, target })
    }
}

impl Destination {
    /// Parse a comma-separated list of destinations, as `DMACHECK_REPORT` holds.
    pub fn parse_list(spec: &str) -> Result<Vec<Destination>, ReportError> {
        spec.split(',')
            .filter(|d| !d.trim().is_empty())
            .map(str::parse)
            .collect()
    }

    /// Render `report` and write it; returns the file written (`None` for stderr).
    pub fn write(&self, report: &Report) -> Result<Option<PathBuf>, ReportError> {
        self.write_labeled(report, None)
    }

    /// [`write`](Self::write), a new file in a directory being named after `label` (a test's
    /// name): `dmacheck-<label>-<pid>-<stamp>-<n>.<ext>`, the label reduced to letters, digits,
    /// `_`, `-` and `.` (`::` becomes `.`) and to 80 characters.
    pub fn write_labeled(
        &self,
        report: &Report,
        label: Option<&str>,
    ) -> Result<Option<PathBuf>, ReportError> {
        match &self.target {
            Target::Stderr => {
                let color = self.format == Format::Text && Style::stderr().colored();
                // Straight to the stream, in one write: a test harness captures `eprint!` on a
                // test's thread (and discards it when the test passes), and parallel tests'
                // reports must not interleave.
                let text = self.format.render(report, color);
                let _ = std::io::stderr().lock().write_all(text.as_bytes());
                Ok(None)
            }
            Target::File(path) => {
                // A file's directory must exist: a mistyped path is an error, not a new tree of
                // directories (a destination ending in `/` is the way to ask for one).
                let io = |e| ReportError::Io(path.clone(), e);
                std::fs::write(path, self.format.render(report, false)).map_err(io)?;
                Ok(Some(path.clone()))
            }
            Target::Directory(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| ReportError::Io(dir.clone(), e))?;
                let (path, mut file) = create_unique(dir, label, self.format.extension())?;
                file.write_all(self.format.render(report, false).as_bytes())
                    .map_err(|e| ReportError::Io(path.clone(), e))?;
                Ok(Some(path))
            }
        }
    }
}

/// Create `dmacheck-[<label>-]<pid>-<stamp>-<n>.<ext>` in `dir` with the first `n` not taken.
/// The file is created exclusively, so processes and threads racing for a name each get their
/// own.
fn create_unique(
    dir: &Path,
    label: Option<&str>,
    ext: &str,
) -> Result<(PathBuf, std::fs::File), ReportError> {
    let (pid, stamp) = unique_prefix();
    let prefix = match label.map(file_name_part).filter(|l| !l.is_empty()) {
        Some(label) => format!("dmacheck-{label}-{pid}-{stamp}"),
        None => format!("dmacheck-{pid}-{stamp}"),
    };
    for n in 0u64.. {
        let path = dir.join(format!("{prefix}-{n}.{ext}"));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(ReportError::Io(path, e)),
        }
    }
    unreachable!("some report file name in {} is free", dir.display())
}

/// `<pid>` and `<stamp>` of this process's report file names, the same for all of them.
fn unique_prefix() -> &'static (u32, String) {
    static PREFIX: crate::sync::process::OnceLock<(u32, String)> =
        crate::sync::process::OnceLock::new();
    PREFIX.get_or_init(|| {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        (std::process::id(), format!("{stamp:x}"))
    })
}

/// `label` as part of a file name: `::` as `.`, other characters than letters, digits, `_`, `-`
/// and `.` as `_`, at most 80 characters.
fn file_name_part(label: &str) -> String {
    label
        .replace("::", ".")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect::<String>()
        .trim_start_matches('.')
        .to_string()
}

#[cfg(test)]
mod path_tests {
    use super::*;

    /// A fresh, empty scratch directory for one test.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dmacheck-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        dir
    }

    fn json(target: Target) -> Destination {
        Destination {
            format: Format::Json,
            target,
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "file system")]
    fn a_file_under_a_missing_directory_is_an_error_and_creates_nothing() {
        let dir = scratch("missing-parent");
        let report = crate::Checker::builder().env(false).build().report();
        let missing = dir.join("missing/deeper");
        let err = json(Target::File(missing.join("x.json")))
            .write(&report)
            .expect_err("no directory is made for a file");
        assert!(matches!(err, ReportError::Io(..)), "{err}");
        assert!(!missing.exists() && !dir.join("missing").exists());
        // A file in an existing directory is written.
        let file = dir.join("x.json");
        assert_eq!(
            json(Target::File(file.clone())).write(&report).unwrap(),
            Some(file)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    #[cfg_attr(miri, ignore = "file system")]
    fn a_destination_ending_in_a_slash_creates_its_directory() {
        let dir = scratch("new-directory");
        let report = crate::Checker::builder().env(false).build().report();
        let spec = format!("json:{}/made/here/", dir.display());
        let dest: Destination = spec.parse().unwrap();
        let written = dest.write(&report).unwrap().expect("a file");
        assert_eq!(written.parent(), Some(dir.join("made/here").as_path()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
