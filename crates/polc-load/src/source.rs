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

/// [`load_input`] over many files (name and bytes), on up to `threads` threads (0:
/// one per available CPU), in runs of consecutive files of about equal size. The
/// files come back in the order given, whatever the number of threads.
pub fn load_many<B: AsRef<[u8]> + Sync>(files: &[(String, B)], limits: &Limits, threads: usize) -> Vec<SourceFile> {
    let load = |run: &[(String, B)]| -> Vec<SourceFile> {
        run.iter().map(|(name, bytes)| load_input(name.clone(), bytes.as_ref(), limits)).collect()
    };
    let n = match threads {
        0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        n => n,
    };
    // A thread is only worth starting for a few files.
    let n = n.min(files.len() / 8).max(1);
    if n == 1 {
        return load(files);
    }
    let weight = |f: &(String, B)| f.1.as_ref().len() + 64;
    let total: usize = files.iter().map(weight).sum();
    let mut runs = Vec::with_capacity(n);
    let (mut start, mut acc) = (0, 0);
    for (i, f) in files.iter().enumerate() {
        acc += weight(f);
        if runs.len() + 1 < n && acc * n >= total * (runs.len() + 1) {
            runs.push(&files[start..=i]);
            start = i + 1;
        }
    }
    runs.push(&files[start..]);
    std::thread::scope(|s| {
        let handles: Vec<_> = runs[1..].iter().map(|&r| s.spawn(move || load(r))).collect();
        let mut out = load(runs[0]);
        for h in handles {
            // A panic while loading is a bug: pass it on as it is.
            out.extend(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        out
    })
}

/// Read every input. Directories are walked in sorted order, skipping hidden entries
/// and symlinked directories; files named explicitly are read whatever their
/// extension. A file met twice (named twice, or through a symlink) is read once,
/// at its first name. Unreadable paths become files with an error, so one bad path never
/// hides the others.
///
/// Files are read in order, then parsed on one thread per available CPU.
pub fn read_inputs(inputs: &[Input], limits: &Limits) -> Vec<SourceFile> {
    let read = read_raw(inputs, limits);
    let mut bytes = Vec::new();
    let mut failed = Vec::new();
    for (i, r) in read.into_iter().enumerate() {
        match r {
            RawInput::Bytes(name, b) => bytes.push((name, b)),
            RawInput::Failed(f) => failed.push((i, f)),
        }
    }
    let mut loaded = load_many(&bytes, limits, 0).into_iter();
    let mut out = Vec::with_capacity(loaded.len() + failed.len());
    let mut failed = failed.into_iter().peekable();
    while out.len() < out.capacity() {
        if failed.peek().is_some_and(|(i, _)| *i == out.len()) {
            out.extend(failed.next().map(|(_, f)| f));
        } else if let Some(f) = loaded.next() {
            out.push(f);
        } else {
            out.extend(failed.by_ref().map(|(_, f)| f));
        }
    }
    out
}

/// Read every input as [`read_inputs`] does, without parsing: for callers that
/// parse the files where they use them ([`RawInput::load`]).
pub fn read_raw(inputs: &[Input], limits: &Limits) -> Vec<RawInput> {
    read_raw_except(inputs, limits, &|_| false)
}

/// [`read_raw`], leaving out the files and directories that walking a directory
/// finds and `skip` says to leave out (a directory with everything below it). Paths
/// named in `inputs` are read whatever `skip` says.
pub fn read_raw_except(inputs: &[Input], limits: &Limits, skip: &dyn Fn(&Path) -> bool) -> Vec<RawInput> {
    let mut read = Vec::new();
    let mut seen = Seen::default();
    for input in inputs {
        match input {
            Input::Stdin => {
                let mut buf = Vec::new();
                let name = "<stdin>".to_string();
                let res = std::io::stdin().lock().take(limits.max_file_bytes + 1).read_to_end(&mut buf);
                match res {
                    Ok(_) => read.push(RawInput::Bytes(name, buf)),
                    Err(e) => read
                        .push(RawInput::Failed(SourceFile::failed(name, LoadErrorKind::Io { message: e.to_string() }))),
                }
            }
            Input::Path(p) => walk(p, true, limits, skip, &mut seen, &mut read),
        }
    }
    read
}

/// A file read (not yet parsed), or one that could not be read.
#[derive(Clone, Debug)]
pub enum RawInput {
    /// Its name and bytes.
    Bytes(String, Vec<u8>),
    /// The error of reading it.
    Failed(SourceFile),
}

impl RawInput {
    /// The file, parsed ([`load_input`]), or its read error.
    pub fn load(&self, limits: &Limits) -> SourceFile {
        match self {
            RawInput::Bytes(name, bytes) => load_input(name.clone(), bytes, limits),
            RawInput::Failed(f) => f.clone(),
        }
    }
}

fn is_manifest(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
}

/// The files read so far, by device and inode: a file named twice (`polc lint a.yaml
/// a.yaml`, a directory and a file in it, a symlink to a file also read) is read
/// once, at its first name, so that its objects are not defined twice.
#[derive(Default)]
struct Seen(std::collections::HashSet<(u64, u64)>);

impl Seen {
    /// Is this the first time the file of `meta` is met?
    #[cfg(unix)]
    fn first(&mut self, meta: &std::fs::Metadata) -> bool {
        use std::os::unix::fs::MetadataExt;
        self.0.insert((meta.dev(), meta.ino()))
    }

    #[cfg(not(unix))]
    fn first(&mut self, _: &std::fs::Metadata) -> bool {
        true
    }
}

fn walk(
    path: &Path,
    explicit: bool,
    limits: &Limits,
    skip: &dyn Fn(&Path) -> bool,
    seen: &mut Seen,
    out: &mut Vec<RawInput>,
) {
    let name = path.display().to_string();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            return out.push(RawInput::Failed(SourceFile::failed(name, LoadErrorKind::Io { message: e.to_string() })));
        }
    };
    if meta.is_dir() {
        if !explicit && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            return;
        }
        let entries = match std::fs::read_dir(path) {
            Ok(rd) => rd.filter_map(Result::ok).map(|e| e.path()).collect::<Vec<_>>(),
            Err(e) => {
                return out
                    .push(RawInput::Failed(SourceFile::failed(name, LoadErrorKind::Io { message: e.to_string() })));
            }
        };
        let mut entries: Vec<PathBuf> = entries
            .into_iter()
            .filter(|p| !p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')))
            .collect();
        entries.sort();
        for e in entries {
            if (e.is_dir() || is_manifest(&e)) && !skip(&e) {
                walk(&e, false, limits, skip, seen, out);
            }
        }
        return;
    }
    if !seen.first(&meta) {
        return;
    }
    if meta.len() > limits.max_file_bytes {
        let kind = LoadErrorKind::TooLarge { size: meta.len(), max: limits.max_file_bytes };
        return out.push(RawInput::Failed(SourceFile::failed(name, kind)));
    }
    match std::fs::File::open(path).and_then(|f| {
        let mut buf = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        f.take(limits.max_file_bytes + 1).read_to_end(&mut buf).map(|_| buf)
    }) {
        Ok(buf) => out.push(RawInput::Bytes(name, buf)),
        Err(e) => out.push(RawInput::Failed(SourceFile::failed(name, LoadErrorKind::Io { message: e.to_string() }))),
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
    fn load_many_keeps_the_order_whatever_the_threads() {
        let files: Vec<(String, Vec<u8>)> = (0..50)
            .map(|i| {
                let text = if i == 7 { b"a: [1\n".to_vec() } else { format!("n: {i}\n---\nm: {i}\n").into_bytes() };
                (format!("f{i}.yaml"), text)
            })
            .collect();
        let one = load_many(&files, &Limits::default(), 1);
        for threads in [0, 2, 3, 16] {
            let many = load_many(&files, &Limits::default(), threads);
            let names: Vec<&str> = many.iter().map(|f| f.name.as_str()).collect();
            assert_eq!(names, one.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), "{threads} threads");
            for (a, b) in many.iter().zip(&one) {
                assert_eq!((&a.documents, &a.errors), (&b.documents, &b.errors));
            }
        }
        assert_eq!(one.len(), 50);
        assert_eq!(one[7].errors.len(), 1);
        assert_eq!(one[8].documents[1].value, serde_json::json!({"m": 8}));
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn read_inputs_keeps_unreadable_paths_in_place() {
        let dir = std::env::temp_dir().join(format!("polc-load-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..20 {
            std::fs::write(dir.join(format!("{i:02}.yaml")), format!("i: {i}\n")).unwrap();
        }
        let extra = dir.with_extension("extra");
        std::fs::create_dir_all(&extra).unwrap();
        std::fs::write(extra.join("20.yaml"), "i: 20\n").unwrap();
        let inputs = [Input::Path(dir.clone()), Input::parse("/nonexistent/polc"), Input::Path(extra.clone())];
        let files = read_inputs(&inputs, &Limits::default());
        let _ = (std::fs::remove_dir_all(&dir), std::fs::remove_dir_all(&extra));
        assert_eq!(files.len(), 22);
        assert!(files[..20].iter().enumerate().all(|(i, f)| f.documents[0].value == serde_json::json!({"i": i})));
        assert!(matches!(files[20].errors[0].kind, LoadErrorKind::Io { .. }));
        assert_eq!(files[21].documents[0].value, serde_json::json!({"i": 20}));
    }

    /// A file named twice, or met again through a symlink, is read once, at its
    /// first name (its objects would otherwise be defined twice).
    #[test]
    #[cfg(unix)]
    #[allow(clippy::unwrap_used)]
    fn a_file_met_twice_is_read_once() {
        let dir = std::env::temp_dir().join(format!("polc-load-twice-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.yaml"), "a: 1\n").unwrap();
        std::fs::write(dir.join("b.yaml"), "b: 2\n").unwrap();
        std::os::unix::fs::symlink(dir.join("a.yaml"), dir.join("c.yaml")).unwrap();
        let inputs = [Input::Path(dir.join("b.yaml")), Input::Path(dir.clone()), Input::Path(dir.join("a.yaml"))];
        let files = read_inputs(&inputs, &Limits::default());
        let _ = std::fs::remove_dir_all(&dir);
        let names: Vec<String> = files.iter().map(|f| f.name.rsplit('/').next().unwrap().to_string()).collect();
        assert_eq!(names, ["b.yaml", "a.yaml"]);
    }

    #[test]
    fn missing_path_is_an_error_not_a_panic() {
        let files = read_inputs(&[Input::parse("/nonexistent/polc")], &Limits::default());
        assert_eq!(files.len(), 1);
        assert!(matches!(files[0].errors[0].kind, LoadErrorKind::Io { .. }));
    }
}
