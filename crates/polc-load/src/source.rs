//! Reading inputs: files, directories (recursively) and stdin.

use crate::{Document, Limits, LoadError, LoadErrorKind, Span, parse_documents};
use std::io::Read;
use std::path::{Path, PathBuf};

/// An input named on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A file or a directory (walked recursively for `*.yaml`, `*.yml`, `*.json`).
    Path(PathBuf),
    /// Standard input (`-`).
    Stdin,
}

impl Input {
    /// `-` is stdin, anything else a path.
    pub fn parse(arg: &str) -> Input {
        if arg == "-" { Input::Stdin } else { Input::Path(PathBuf::from(arg)) }
    }
}

/// One loaded file: its text (for source snippets), its documents and its errors.
#[derive(Clone, Debug, Default)]
pub struct SourceFile {
    /// Display name: the path as reached from the input, or `<stdin>`.
    pub name: String,
    /// The text (empty when it could not be read or decoded).
    pub text: String,
    /// The documents that loaded.
    pub documents: Vec<Document>,
    /// The errors; documents without errors are still loaded.
    pub errors: Vec<LoadError>,
}

impl SourceFile {
    fn failed(name: String, kind: LoadErrorKind) -> SourceFile {
        SourceFile {
            name,
            errors: vec![LoadError { span: None, field: crate::FieldPath::root(), kind }],
            ..SourceFile::default()
        }
    }
}

/// Decode and parse one file's bytes. Never panics; every problem is an error in the
/// returned file.
pub fn load_input(name: String, bytes: &[u8], limits: &Limits) -> SourceFile {
    if bytes.len() as u64 > limits.max_file_bytes {
        let kind = LoadErrorKind::TooLarge { size: bytes.len() as u64, max: limits.max_file_bytes };
        return SourceFile::failed(name, kind);
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t.to_owned(),
        Err(e) => {
            let offset = e.valid_up_to();
            let before = &bytes[..offset];
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
            let col = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
            let span =
                Span { line: u32::try_from(line).unwrap_or(u32::MAX), col: u32::try_from(col).unwrap_or(u32::MAX) };
            return SourceFile {
                name,
                errors: vec![LoadError {
                    span: Some(span),
                    field: crate::FieldPath::root(),
                    kind: LoadErrorKind::NotUtf8 { offset },
                }],
                ..SourceFile::default()
            };
        }
    };
    let (documents, errors) = parse_documents(&text, limits);
    SourceFile { name, text, documents, errors }
}

/// Read every input. Directories are walked in sorted order, skipping hidden entries
/// and symlinked directories; files named explicitly are read whatever their
/// extension. Unreadable paths become files with an error, so one bad path never
/// hides the others.
pub fn read_inputs(inputs: &[Input], limits: &Limits) -> Vec<SourceFile> {
    let mut out = Vec::new();
    for input in inputs {
        match input {
            Input::Stdin => {
                let mut buf = Vec::new();
                let name = "<stdin>".to_string();
                let res = std::io::stdin().lock().take(limits.max_file_bytes + 1).read_to_end(&mut buf);
                match res {
                    Ok(_) => out.push(load_input(name, &buf, limits)),
                    Err(e) => out.push(SourceFile::failed(name, LoadErrorKind::Io { message: e.to_string() })),
                }
            }
            Input::Path(p) => walk(p, true, limits, &mut out),
        }
    }
    out
}

fn is_manifest(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
}

fn walk(path: &Path, explicit: bool, limits: &Limits, out: &mut Vec<SourceFile>) {
    let name = path.display().to_string();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            return out.push(SourceFile::failed(name, LoadErrorKind::Io { message: e.to_string() }));
        }
    };
    if meta.is_dir() {
        if !explicit && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            return;
        }
        let entries = match std::fs::read_dir(path) {
            Ok(rd) => rd.filter_map(Result::ok).map(|e| e.path()).collect::<Vec<_>>(),
            Err(e) => {
                return out.push(SourceFile::failed(name, LoadErrorKind::Io { message: e.to_string() }));
            }
        };
        let mut entries: Vec<PathBuf> = entries
            .into_iter()
            .filter(|p| !p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')))
            .collect();
        entries.sort();
        for e in entries {
            if e.is_dir() || is_manifest(&e) {
                walk(&e, false, limits, out);
            }
        }
        return;
    }
    if meta.len() > limits.max_file_bytes {
        return out
            .push(SourceFile::failed(name, LoadErrorKind::TooLarge { size: meta.len(), max: limits.max_file_bytes }));
    }
    match std::fs::File::open(path).and_then(|f| {
        let mut buf = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        f.take(limits.max_file_bytes + 1).read_to_end(&mut buf).map(|_| buf)
    }) {
        Ok(buf) => out.push(load_input(name, &buf, limits)),
        Err(e) => out.push(SourceFile::failed(name, LoadErrorKind::Io { message: e.to_string() })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_utf8_is_located() {
        let f = load_input("x.yaml".into(), b"a: 1\nb: \xff\xfe\n", &Limits::default());
        assert_eq!(f.errors.len(), 1);
        assert_eq!(f.errors[0].kind, LoadErrorKind::NotUtf8 { offset: 8 });
        assert_eq!(f.errors[0].span, Some(Span { line: 2, col: 4 }));
    }

    #[test]
    fn too_large_is_refused_before_parsing() {
        let limits = Limits { max_file_bytes: 4, ..Limits::default() };
        let f = load_input("x.yaml".into(), b"a: 12345", &limits);
        assert!(matches!(f.errors[0].kind, LoadErrorKind::TooLarge { size: 8, max: 4 }));
    }

    #[test]
    fn missing_path_is_an_error_not_a_panic() {
        let files = read_inputs(&[Input::parse("/nonexistent/polc")], &Limits::default());
        assert_eq!(files.len(), 1);
        assert!(matches!(files[0].errors[0].kind, LoadErrorKind::Io { .. }));
    }
}
