//! `polc compile`: lint, plan, run the backends, write everything or nothing.

use crate::Status;
use crate::cli::{CompileArgs, ReportFormat};
use anyhow::Context;
use polc_compiler::backend::{self, Artifact, CompileError, Compiled, Sink, Support, Target};
use polc_compiler::plan::{Plan, plan};
use polc_lint::Level;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The name of the index polc writes into every output directory.
pub(crate) const INDEX: &str = "index.json";

pub(crate) fn run(args: &CompileArgs) -> anyhow::Result<Status> {
    let targets: Vec<Target> = if args.target.is_empty() { Target::ALL.to_vec() } else { args.target.clone() };
    let mut timings = Timings::new(args.timings);
    let (report, files, _) = crate::cmd::lint::lint_paths(&args.paths, args.config.as_deref(), args.no_config)?;
    if report.io_errors > 0 || report.fails(Level::Error) {
        let mut errors = report.clone();
        errors.findings.retain(|f| f.level == Level::Error);
        eprint!("{}", polc_lint::output::human(&errors, &files, polc_lint::output::Color::Never));
        eprintln!("polc: the policies have errors; nothing was written to {}", args.out.display());
        return Ok(if report.io_errors > 0 { Status::InputError } else { Status::Findings });
    }
    // The parsed files (values and position trees: at 10,000 policies about as
    // much memory as the plans) are needed for error output only, so they are
    // freed now, on a thread of their own, and not kept through the backends.
    let freeing = std::thread::Builder::new().name("free".into()).spawn(move || drop(files));
    timings.phase("read, lint");
    let built = match build(&report, &targets, &args.out, &mut timings, true)? {
        Ok(b) => b,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            eprintln!(
                "polc: the compile failed with {} error{}; nothing was written to {}",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" },
                args.out.display()
            );
            return Ok(Status::Findings);
        }
    };
    if let Ok(t) = freeing {
        let _ = t.join();
    }
    let Built { plans, compiled: out, files } = built;
    if args.format == ReportFormat::Json {
        let report_json = polc_compiler::report::Report::new(&targets, &plans, out.runs());
        let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
        polc_compiler::report::write(&mut stdout, &report_json)?;
        stdout.flush()?;
    } else {
        let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        write_table(&mut stdout, &out)?;
        stdout.flush()?;
    }
    timings.phase("stdout");
    eprintln!(
        "polc: compiled {} policies for {} targets into {} ({} files)",
        report.model_policies.len(),
        plans.len(),
        args.out.display(),
        files
    );
    Ok(Status::Ok)
}

/// What [`quietly`] did.
pub(crate) enum Quietly {
    /// Written, with this many plans.
    Done { plans: usize },
    /// Nothing written: the files with errors, each with its errors
    /// (`file:line:col: error[CODE]: message`), in file order.
    Failed(Vec<(String, Vec<String>)>),
}

/// `polc compile PATHS --target TARGETS --out OUT` without a configuration file and
/// without output on stdout or stderr (the agent's compile of what runs on its
/// node): lint errors and what the targets cannot express are returned by file.
/// An error: the input or the output could not be read or written.
pub(crate) fn quietly(paths: &[String], targets: &[Target], out: &Path) -> anyhow::Result<Quietly> {
    let (report, files, _) = crate::cmd::lint::lint_paths(paths, None, true)?;
    drop(files);
    let mut by_file: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    for f in report.findings.iter().filter(|f| f.level == Level::Error) {
        let at = f.span.map_or_else(|| f.file.clone(), |s| format!("{}:{s}", f.file));
        by_file.entry(f.file.clone()).or_default().push(format!("{at}: error[{}]: {}", f.code.as_str(), f.message));
    }
    anyhow::ensure!(report.io_errors == 0 || !by_file.is_empty(), "the input could not be read");
    if !by_file.is_empty() {
        return Ok(Quietly::Failed(by_file.into_iter().collect()));
    }
    let errors = match build(&report, targets, out, &mut Timings::new(false), false)? {
        Ok(built) => return Ok(Quietly::Done { plans: built.plans.len() }),
        Err(errors) => errors,
    };
    for e in &errors {
        // `file:line:col`: the file is what comes before the line.
        let file = e.location.rsplitn(3, ':').nth(2).filter(|f| !f.is_empty());
        let Some(file) = file else { anyhow::bail!("cannot compile: {e}") };
        by_file.entry(file.to_string()).or_default().push(format!("error: {e}"));
    }
    Ok(Quietly::Failed(by_file.into_iter().collect()))
}

/// What [`build`] wrote.
struct Built {
    plans: Vec<Plan>,
    compiled: Compiled,
    /// Files in the output directory.
    files: usize,
}

/// The compile after a clean lint: plan, run the backends into a fresh directory
/// (see [`Staging`]), stream `report.json` beside their files and swap it in as
/// `out`. `Err` inside: the backends' errors, and nothing written.
fn build(
    report: &polc_lint::Report,
    targets: &[Target],
    out: &Path,
    timings: &mut Timings,
    progress: bool,
) -> anyhow::Result<Result<Built, Vec<CompileError>>> {
    let plans = plan(&report.model_policies, &report.model_workloads);
    timings.phase("plan");
    if progress && std::io::stderr().is_terminal() && plans.len() > 200 {
        eprintln!("polc: compiling {} targets for {} backends", plans.len(), targets.len());
    }
    let input = backend::Input { policies: &report.model_policies, workloads: &report.model_workloads, plans: &plans };
    // The backends write their files into a fresh sibling directory as they make
    // them; it is swapped in only when everything succeeded.
    let staging = Staging::new(out)?;
    let compiled = backend::compile_to(&input, targets, &staging);
    timings.phase("backends");
    if !compiled.errors.is_empty() {
        staging.discard();
        return Ok(Err(compiled.errors));
    }
    // report.json is streamed from the plans and the output: at 10,000 policies it
    // has over a million capability lines, too many to build as a JSON value.
    let report_json = polc_compiler::report::Report::new(targets, &plans, compiled.runs());
    staging.put_with("report.json", |w| polc_compiler::report::write(w, &report_json));
    timings.phase("report.json");
    drop(report_json);
    let files = staging.finish(out)?;
    timings.phase("swap in");
    Ok(Ok(Built { plans, compiled, files }))
}

/// `--timings`: one line per phase on stderr, with its wall time and the process's
/// resident and peak memory (`VmRSS`, `VmHWM`) when it ended.
struct Timings {
    on: bool,
    start: Instant,
    last: Instant,
    /// The header line is printed (with the first phase).
    headed: bool,
}

impl Timings {
    fn new(on: bool) -> Timings {
        let now = Instant::now();
        Timings { on, start: now, last: now, headed: false }
    }

    fn phase(&mut self, name: &str) {
        if !self.on {
            return;
        }
        if !std::mem::replace(&mut self.headed, true) {
            eprintln!("polc: {:<12} {:>9} {:>9} {:>12} {:>10}", "phase", "wall", "total", "resident", "peak");
        }
        let now = Instant::now();
        let mib = |key| memory_kib(key).map_or_else(|| "-".to_string(), |k| format!("{} MiB", k / 1024));
        eprintln!(
            "polc: {name:<12} {:>7.3} s {:>7.3} s {:>12} {:>10}",
            (now - self.last).as_secs_f64(),
            (now - self.start).as_secs_f64(),
            mib("VmRSS:"),
            mib("VmHWM:")
        );
        self.last = now;
    }
}

/// A `kB` line of `/proc/self/status` (`None` where there is none).
fn memory_kib(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| l.strip_prefix(key)?.trim().strip_suffix("kB")?.trim().parse().ok())
}

fn pretty(v: &serde_json::Value) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).unwrap_or_default();
    b.push(b'\n');
    b
}

/// One file of `index.json`: path, SHA-256 (hex) and size.
type IndexEntry = (String, String, usize);

fn index(files: &[IndexEntry]) -> serde_json::Value {
    let files: Vec<serde_json::Value> = files
        .iter()
        .map(|(path, sha256, bytes)| serde_json::json!({"path": path, "sha256": sha256, "bytes": bytes}))
        .collect();
    serde_json::json!({"generator": format!("polc {}", env!("CARGO_PKG_VERSION")), "files": files})
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 * bytes.len());
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// The capability table: one line per rule entry and backend, in columns.
///
/// Written as it goes: at 10,000 policies the table has 1.4 million lines, and
/// building it as one string (with a copy of every field) doubled the peak memory
/// of `polc compile`. A first pass measures the columns, a second writes the rows.
fn write_table(w: &mut impl Write, out: &Compiled) -> std::io::Result<()> {
    const HEADER: [&str; 7] = ["BACKEND", "SUPPORT", "POLICY", "RULE", "MATCHES", "SOURCE", "NOTE"];
    let mut widths = [0usize; 6];
    for (i, h) in HEADER.iter().take(6).enumerate() {
        widths[i] = h.chars().count();
    }
    for c in out.capabilities() {
        let cells = row(c);
        for (i, cell) in cells.iter().enumerate().take(6) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    write_row(w, &HEADER, &widths)?;
    for c in out.capabilities() {
        write_row(w, &row(c), &widths)?;
    }
    Ok(())
}

/// The cells of a capability line.
fn row(c: &backend::Capability) -> [&str; 7] {
    let (support, note) = match &c.support {
        Support::Exact => ("exact", ""),
        Support::Approximated { reason } => ("approximated", &**reason),
        Support::NotExpressible { reason } => ("not expressible", &**reason),
    };
    [c.backend.as_str(), support, c.policy(), c.rule(), &c.matches, c.source(), note]
}

/// One line of the table: every column but the last padded to its width, no
/// trailing blanks.
fn write_row(w: &mut impl Write, cells: &[&str; 7], widths: &[usize; 6]) -> std::io::Result<()> {
    // The last cell with text ends the line, without its trailing blanks.
    let last = cells.iter().rposition(|c| !c.trim_end().is_empty()).unwrap_or(0);
    for (i, cell) in cells.iter().enumerate().take(last + 1) {
        if i == last {
            w.write_all(cell.trim_end().as_bytes())?;
        } else {
            // Padded to the column (width counts characters), two blanks apart;
            // blanks written in runs, not a character at a time as `{:<width$}` does
            // (a 10,000-policy table has 1.4 million rows).
            let width = widths.get(i).copied().unwrap_or(0);
            let chars = if cell.is_ascii() { cell.len() } else { cell.chars().count() };
            w.write_all(cell.as_bytes())?;
            let mut blanks = width.saturating_sub(chars) + 2;
            while blanks > 0 {
                let n = blanks.min(BLANKS.len());
                w.write_all(&BLANKS[..n])?;
                blanks -= n;
            }
        }
    }
    w.write_all(b"\n")
}

/// Blanks to pad table cells with.
const BLANKS: [u8; 64] = [b' '; 64];

/// The output being written: every artifact goes into a fresh sibling directory of
/// `dir` as soon as a backend makes it (so the artifacts are never all in memory),
/// and [`Staging::finish`] writes `index.json` and swaps the directory in. A failed
/// or interrupted compile never leaves a half-written `dir`: [`Staging::discard`]
/// (or a failed `finish`) removes the temporary directory and any parent directory
/// it created.
struct Staging {
    /// The temporary directory.
    tmp: PathBuf,
    /// The directories `new` created to hold `tmp`, outermost first.
    created: Vec<PathBuf>,
    state: std::sync::Mutex<StagingState>,
}

#[derive(Default)]
struct StagingState {
    /// Directories made so far under `tmp`.
    dirs: std::collections::HashSet<PathBuf>,
    /// What `index.json` lists.
    files: Vec<IndexEntry>,
    /// The first write error: later artifacts are dropped.
    error: Option<anyhow::Error>,
}

impl Staging {
    fn new(dir: &Path) -> anyhow::Result<Staging> {
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let mut created: Vec<PathBuf> = parent
            .ancestors()
            .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
            .map(Path::to_path_buf)
            .collect();
        created.reverse();
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        let base = dir.file_name().and_then(|n| n.to_str()).unwrap_or("out");
        let tmp: PathBuf = parent.join(format!(".{base}.polc-tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let staging = Staging { tmp, created, state: std::sync::Mutex::default() };
        if let Err(e) = std::fs::create_dir(&staging.tmp) {
            staging.discard();
            return Err(e).with_context(|| format!("cannot create {}", staging.tmp.display()));
        }
        Ok(staging)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StagingState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Write one artifact; its index entry.
    fn write(&self, a: &Artifact) -> anyhow::Result<IndexEntry> {
        self.write_with(&a.path, |w| w.write_all(&a.bytes))
    }

    /// Write the file at `path` (relative, `/`-separated) from what `f` writes,
    /// hashing it as it goes; its index entry.
    fn write_with(
        &self,
        rel: &str,
        f: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> anyhow::Result<IndexEntry> {
        anyhow::ensure!(!rel.split('/').any(|s| s == ".." || s.is_empty()), "internal error: bad artifact path {rel}");
        let path = self.tmp.join(rel);
        if let Some(p) = path.parent() {
            // Under the lock, so no thread writes into a directory being made.
            let mut st = self.lock();
            if !st.dirs.contains(p) {
                std::fs::create_dir_all(p).with_context(|| format!("cannot create {}", p.display()))?;
                st.dirs.insert(p.to_path_buf());
            }
        }
        let file = std::fs::File::create(&path).with_context(|| format!("cannot write {}", path.display()))?;
        // The buffer before the hash: a streamed file (report.json) comes in many
        // small writes, and the hash then sees 64 KiB at a time.
        let mut w =
            std::io::BufWriter::with_capacity(1 << 16, Hashed { inner: file, hash: Default::default(), bytes: 0 });
        f(&mut w).and_then(|()| w.flush()).with_context(|| format!("cannot write {}", path.display()))?;
        // Flushed: nothing is left in the buffer.
        let (h, _) = w.into_parts();
        Ok((rel.to_string(), hex(&sha2::Digest::finalize(h.hash)), h.bytes))
    }

    /// Stream the file at `path` from `f` (see [`Sink::put`] for errors).
    fn put_with(&self, path: &str, f: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) {
        if self.lock().error.is_some() {
            return;
        }
        let r = self.write_with(path, f);
        self.record(r);
    }

    fn record(&self, r: anyhow::Result<IndexEntry>) {
        let mut st = self.lock();
        match r {
            Ok(entry) => st.files.push(entry),
            Err(e) => {
                st.error.get_or_insert(e);
            }
        }
    }

    /// Remove everything written so far.
    fn discard(&self) {
        let _ = std::fs::remove_dir_all(&self.tmp);
        for d in self.created.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }

    /// Write `index.json` and swap the directory in as `dir`: replaced only when it is
    /// empty or was written by polc (it has an index.json). The number of files.
    fn finish(self, dir: &Path) -> anyhow::Result<usize> {
        let result = self.swap_in(dir);
        if result.is_err() {
            self.discard();
        }
        result
    }

    fn swap_in(&self, dir: &Path) -> anyhow::Result<usize> {
        let mut files = {
            let mut st = self.lock();
            if let Some(e) = st.error.take() {
                return Err(e);
            }
            std::mem::take(&mut st.files)
        };
        files.sort();
        // The compile refuses targets whose files would share a name before any
        // backend runs (`backend::compile_to`); should a backend still write one
        // path twice (on several threads, mixing the two), refuse the output.
        if let Some(w) = files.windows(2).find(|w| w[0].0 == w[1].0) {
            anyhow::bail!("two outputs were written to {}: their targets' names collide; rename one", w[0].0);
        }
        let n = files.len() + 1;
        self.write(&Artifact { path: INDEX.into(), bytes: pretty(&index(&files)) })?;
        if dir.exists() {
            let empty =
                std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?.next().is_none();
            anyhow::ensure!(
                empty || dir.join(INDEX).is_file(),
                "{} exists and was not written by polc (no {INDEX}); choose another --out or remove it",
                dir.display()
            );
        }
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let base = dir.file_name().and_then(|n| n.to_str()).unwrap_or("out");
        let old = parent.join(format!(".{base}.polc-old-{}", std::process::id()));
        // Left by a run of the same process id killed during its swap (in a
        // container the agent is always process 1): it would block the rename.
        let _ = std::fs::remove_dir_all(&old);
        if dir.exists() {
            std::fs::rename(dir, &old).with_context(|| format!("cannot move {} aside", dir.display()))?;
        }
        std::fs::rename(&self.tmp, dir).with_context(|| format!("cannot move the new output to {}", dir.display()))?;
        let _ = std::fs::remove_dir_all(&old);
        Ok(n)
    }
}

impl Sink for Staging {
    fn put(&self, artifact: Artifact) {
        if self.lock().error.is_some() {
            return;
        }
        let r = self.write(&artifact);
        self.record(r);
    }
}

/// A writer that hashes and counts what goes through it.
struct Hashed<W> {
    inner: W,
    hash: sha2::Sha256,
    bytes: usize,
}

impl<W: Write> Write for Hashed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        sha2::Digest::update(&mut self.hash, &buf[..n]);
        self.bytes += n;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    /// Rows are padded to the columns, two blanks apart, and end at the last text,
    /// without trailing blanks, even when a cell itself ends in blanks.
    #[test]
    fn rows_end_at_their_last_text() {
        let widths = [3, 4, 1, 1, 2, 1];
        let row = |cells: [&str; 7]| {
            let mut v = Vec::new();
            super::write_row(&mut v, &cells, &widths).unwrap();
            String::from_utf8(v).unwrap()
        };
        assert_eq!(row(["a", "bb", "c", "d", "é", "f", "note"]), "a    bb    c  d  é   f  note\n");
        assert_eq!(row(["a", "bb", "c", "d", "", "f", ""]), "a    bb    c  d      f\n");
        assert_eq!(row(["a", "bb", "c", "d", "e", "f ", " "]), "a    bb    c  d  e   f\n");
        assert_eq!(row(["a", "", "", "", "", "", "x  "]), format!("a{}x\n", " ".repeat(23)));
        // Padding longer than one run of blanks.
        let mut v = Vec::new();
        super::write_row(&mut v, &["é", "b", "", "", "", "", ""], &[150, 1, 1, 1, 1, 1]).unwrap();
        assert_eq!(String::from_utf8(v).unwrap(), format!("é{}b\n", " ".repeat(151)));
    }
}
