//! `polc lint`: checks policy repositories and reports findings with file, line,
//! column and field.
//!
//! The checks, in order: loading (YAML, limits, encoding), schema (exactly the CRD
//! schemas, plus unknown fields with did-you-mean), semantics (paths, globs,
//! selectors, CIDRs, names, and shadowed or contradictory rules by the compiler's
//! precedence rule), coverage and posture of the workloads linted alongside, and the
//! organisation's own rules written in CEL. Output formats live in [`output`].

pub mod codes;
mod config;
mod finding;
pub mod output;
mod schema;
mod checks {
    pub(crate) mod duplicate;
    pub(crate) mod policy;
    pub(crate) mod workload;
}

pub use codes::{Code, CodeInfo};
pub use config::{Config, ConfigError, OrgRule};
pub use finding::{Finding, Level, Related, did_you_mean};
pub use schema::{SchemaError, Schemas};

use polc_load::{Document, FieldPath, Limits, LoadErrorKind, ObjectClass, SourceFile, classify};
use serde_json::Value;

/// Where a check is looking: one document of one file.
pub(crate) struct Ctx<'a> {
    pub file: &'a SourceFile,
    pub doc: &'a Document,
    pub value: &'a Value,
    pub object: Option<String>,
    pub out: &'a mut Vec<Finding>,
}

impl Ctx<'_> {
    /// A finding at the field `pointer` (its key when it is a mapping entry).
    pub fn finding_at(&self, code: Code, pointer: &str, message: impl Into<String>) -> Finding {
        let path = FieldPath::from_pointer(pointer);
        let span = self.doc.spans.field_span(self.value, path.segs());
        let mut f = Finding::new(code, &self.file.name, Some(span), message);
        f.field = if path.segs().is_empty() { String::new() } else { path.to_string() };
        f.object.clone_from(&self.object);
        f
    }

    /// A finding at the value at `pointer`.
    pub fn finding_at_value(&self, code: Code, pointer: &str, message: impl Into<String>) -> Finding {
        let path = FieldPath::from_pointer(pointer);
        let mut f = self.finding_at(code, pointer, message);
        f.span = Some(self.doc.spans.value_span(self.value, path.segs()));
        f
    }

    pub fn push(&mut self, f: Finding) {
        self.out.push(f);
    }
}

/// Where an object's `metadata.name` is written and whether it sets
/// `metadata.namespace`: what the checks across files need of a document whose
/// values were dropped (see [`Files`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct NameAt {
    /// The position of the `name` key.
    pub span: polc_load::Span,
    /// The manifest leaves `metadata.namespace` out.
    pub implicit_namespace: bool,
}

impl NameAt {
    pub fn of(doc: &Document) -> NameAt {
        NameAt {
            span: doc.spans.field_span(&doc.value, FieldPath::from_pointer("/metadata/name").segs()),
            implicit_namespace: polc_load::pointer(&doc.value, "/metadata/namespace").is_none(),
        }
    }

    /// A finding at the name of `object` in `file`, as [`Ctx::finding_at`] makes one
    /// at `/metadata/name`.
    pub fn finding(&self, code: codes::Code, file: &str, object: String, message: String) -> Finding {
        let mut f = Finding::new(code, file, Some(self.span), message);
        f.field = "metadata.name".into();
        f.object = Some(object);
        f
    }
}

/// A document that is not there: a placeholder should a file parsed again not have
/// the document it had (it has, when parsed with the same limits), so that the
/// finding is still made, at line 0.
static MISSING: Document = Document {
    index: 0,
    value: Value::Null,
    spans: polc_load::SpanTree { at: polc_load::Span { line: 0, col: 0 }, key: None, children: Vec::new() },
};

/// Document `di` of `docs`, or [`MISSING`].
pub(crate) fn doc_at(docs: &[Document], di: usize) -> &Document {
    docs.get(di).unwrap_or(&MISSING)
}

/// The files of a lint, for the checks across files. [`Linter::lint_with`] drops
/// each file's documents (values and position trees: most of a lint's memory) once
/// the per-file checks are done with them; a check across files that needs one to
/// place a finding parses the file's text again, with the limits it was loaded with.
pub(crate) struct Files<'a> {
    pub list: &'a [SourceFile],
    limits: &'a Limits,
}

impl<'a> Files<'a> {
    /// The documents of file `fi`: as loaded, or parsed again from its text.
    pub fn docs(&self, fi: usize) -> std::borrow::Cow<'a, [Document]> {
        let Some(file) = self.list.get(fi) else {
            return std::borrow::Cow::Borrowed(&[]);
        };
        if file.documents.is_empty() && !file.text.is_empty() {
            std::borrow::Cow::Owned(polc_load::parse_documents(&file.text, self.limits).0)
        } else {
            std::borrow::Cow::Borrowed(&file.documents)
        }
    }

    /// A cache of the last few files' documents, for a check that places many
    /// findings (one file's documents parsed again once per run of findings in it,
    /// not once per finding).
    pub fn cache(&self) -> DocCache<'_, 'a> {
        DocCache { files: self, kept: std::collections::VecDeque::new() }
    }
}

/// See [`Files::cache`].
pub(crate) struct DocCache<'f, 'a> {
    files: &'f Files<'a>,
    kept: std::collections::VecDeque<(usize, std::rc::Rc<std::borrow::Cow<'a, [Document]>>)>,
}

impl<'a> DocCache<'_, 'a> {
    /// Files whose documents are kept.
    const FILES: usize = 16;

    /// The documents of file `fi`.
    pub fn docs(&mut self, fi: usize) -> std::rc::Rc<std::borrow::Cow<'a, [Document]>> {
        if let Some((_, d)) = self.kept.iter().find(|(i, _)| *i == fi) {
            return d.clone();
        }
        if self.kept.len() == Self::FILES {
            self.kept.pop_front();
        }
        let d = std::rc::Rc::new(self.files.docs(fi));
        self.kept.push_back((fi, d.clone()));
        d
    }
}

/// The result of linting.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Findings, sorted by file and position.
    pub findings: Vec<Finding>,
    /// Files read.
    pub files: usize,
    /// Kubernetes objects seen.
    pub objects: usize,
    /// polc policies seen.
    pub policies: usize,
    /// Paths that could not be read at all.
    pub io_errors: usize,
    /// The policies that decoded, as the compiler takes them (in input order); empty
    /// when [`Linter::with_model`] turned the model off.
    pub model_policies: Vec<polc_compiler::model::Policy>,
    /// The workloads seen, as the compiler takes them (in input order); empty when
    /// [`Linter::with_model`] turned the model off.
    pub model_workloads: Vec<polc_compiler::model::Workload>,
}

impl Report {
    /// Number of findings at `level`.
    pub fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.level == level).count()
    }

    /// Whether any finding is at or above `threshold`.
    pub fn fails(&self, threshold: Level) -> bool {
        self.findings.iter().any(|f| f.level >= threshold)
    }
}

/// The linter: compiled schemas and the configuration.
pub struct Linter {
    schemas: Schemas,
    config: Config,
    /// Whether [`Report::model_policies`] and [`Report::model_workloads`] are built.
    model: bool,
    /// Threads for the per-file checks (0: one per available CPU).
    threads: usize,
    /// The limits files are loaded with, to parse a file again (see [`Files`]).
    limits: Limits,
}

/// What the per-file checks of a run of consecutive files found.
#[derive(Default)]
struct Part {
    out: Vec<Finding>,
    policies: Vec<checks::policy::PolicyEntry>,
    workloads: Vec<checks::workload::Workload>,
    objects: usize,
    policy_count: usize,
    io_errors: usize,
}

/// Files per unit of work of the per-file checks.
const LINT_BATCH: usize = 16;

/// `f` over `items` on up to `threads` threads, results in the order of `items`.
/// Items are handed out one at a time, so a few costly ones do not leave a thread
/// idle while another works through a long run.
pub(crate) fn par_map<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads.min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(item) = items.get(i) else { return done };
            done.push((i, f(item)));
        }
    };
    let mut all: Vec<(usize, R)> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        let mut all = work();
        for h in handles {
            // A panic in a check is a bug: pass it on as it is.
            all.extend(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        all
    });
    all.sort_unstable_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

fn load_code(kind: &LoadErrorKind) -> Code {
    match kind {
        LoadErrorKind::Io { .. } | LoadErrorKind::NotUtf8 { .. } => Code::Unreadable,
        LoadErrorKind::TooLarge { .. } | LoadErrorKind::TooDeep { .. } | LoadErrorKind::AliasBomb { .. } => {
            Code::LimitExceeded
        }
        LoadErrorKind::Syntax { .. } => Code::YamlSyntax,
        LoadErrorKind::DuplicateKey { .. } => Code::DuplicateKey,
        LoadErrorKind::UnknownAnchor => Code::YamlSyntax,
        LoadErrorKind::ComplexKey { .. }
        | LoadErrorKind::NotJson { .. }
        | LoadErrorKind::UnsupportedTag { .. }
        | LoadErrorKind::BadTaggedScalar { .. }
        | LoadErrorKind::BadMerge => Code::UnsupportedYaml,
    }
}

impl Linter {
    /// A linter with `config`.
    ///
    /// # Errors
    /// When a CRD schema does not compile (a bug in polc).
    pub fn new(config: Config) -> Result<Linter, SchemaError> {
        Ok(Linter { schemas: Schemas::new()?, config, model: true, threads: 0, limits: Limits::default() })
    }

    /// Whether to build [`Report::model_policies`] and [`Report::model_workloads`],
    /// with the rule positions and content hashes the compiler needs (`polc compile`
    /// and `polc explain`). On by default; `polc lint` turns it off, since building
    /// them is a large part of the time of a lint.
    #[must_use]
    pub fn with_model(mut self, model: bool) -> Linter {
        self.model = model;
        self
    }

    /// Run the per-file checks on `threads` threads (0, the default: one per
    /// available CPU; 1: on the calling thread). Findings and their order do not
    /// depend on it.
    #[must_use]
    pub fn with_threads(mut self, threads: usize) -> Linter {
        self.threads = threads;
        self
    }

    /// The limits [`Linter::lint_with`]'s files are loaded with (by default
    /// [`Limits::default`]): a check across files that places a finding in a file
    /// whose documents were dropped parses it again with them.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Linter {
        self.limits = limits;
        self
    }

    fn thread_count(&self, files: usize) -> usize {
        let n = if self.threads == 0 {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        } else {
            self.threads
        };
        // A thread is only worth starting for a few files.
        n.min(files / 8).max(1)
    }

    /// The checks that look at one document at a time, over `files` (the first of
    /// which has index `first`).
    fn lint_part(&self, first: usize, files: &[SourceFile]) -> Part {
        let mut part = Part::default();
        let out = &mut part.out;
        for (i, file) in files.iter().enumerate() {
            let fi = first + i;
            for e in &file.errors {
                if matches!(e.kind, LoadErrorKind::Io { .. }) {
                    part.io_errors += 1;
                }
                let mut f = Finding::new(load_code(&e.kind), &file.name, e.span, e.kind.to_string());
                f.field = e.field.to_string();
                if f.field == "(document)" {
                    f.field.clear();
                }
                if let LoadErrorKind::Syntax { .. } = e.kind {
                    f.help = Some("documents after a syntax error in the same file are not linted".into());
                }
                out.push(f);
            }
            if file.errors.is_empty() && file.documents.is_empty() {
                out.push(Finding::new(Code::EmptyFile, &file.name, None, "file has no YAML documents"));
            }
            for (di, doc) in file.documents.iter().enumerate() {
                let obj = classify(&doc.value);
                let mut ctx = Ctx { file, doc, value: &doc.value, object: None, out: &mut *out };
                match &obj.class {
                    ObjectClass::NotAnObject => {
                        let what = if doc.value.is_object() {
                            "a mapping without string `apiVersion` and `kind`"
                        } else {
                            "not a mapping"
                        };
                        let f = ctx.finding_at(Code::NotAnObject, "", format!("document {} is {what}", doc.index + 1));
                        ctx.push(f);
                    }
                    ObjectClass::Polc { version, kind } => {
                        part.objects += 1;
                        part.policy_count += 1;
                        let ns = obj.namespace.as_deref().unwrap_or("default");
                        ctx.object = Some(format!("{kind} {ns}/{}", obj.name));
                        if let Some(p) =
                            checks::policy::check(&self.schemas, &mut ctx, version, kind, &obj, (fi, di), self.model)
                        {
                            self.config.check_org_rules(&mut ctx, kind);
                            part.policies.push(p);
                        } else if polc_api::PolcKind::from_kind(kind).is_some() && version == polc_api::VERSION {
                            self.config.check_org_rules(&mut ctx, kind);
                        }
                    }
                    ObjectClass::Workload(kind) => {
                        part.objects += 1;
                        part.workloads.push(checks::workload::Workload::read(*kind, &obj, file, doc, (fi, di)));
                    }
                    ObjectClass::Other => part.objects += 1,
                }
            }
        }
        part
    }

    /// Lint loaded files. Files with errors still contribute their good documents.
    ///
    /// The per-file checks run on several threads (see [`Linter::with_threads`]);
    /// their results are merged in file order, so the report is the same as on one.
    pub fn lint(&self, files: &[SourceFile]) -> Report {
        // Batches of files handed out one at a time: policy files cost far more per
        // byte than manifests, so runs of equal size would leave a thread idle.
        let batches: Vec<(usize, &[SourceFile])> =
            files.chunks(LINT_BATCH).enumerate().map(|(i, run)| (i * LINT_BATCH, run)).collect();
        let parts = par_map(&batches, self.thread_count(files.len()), |&(first, run)| self.lint_part(first, run));
        self.finish(files, parts)
    }

    /// Load and lint `n` files: file `i` is `load(i)` (for instance
    /// [`polc_load::RawInput::load`], with the limits of [`Linter::with_limits`]),
    /// called on the threads of the per-file checks, so that parsing and checking run
    /// in one pass without waiting for each other. Returns the files, in order, and
    /// the report [`Linter::lint`] gives for them.
    ///
    /// The files come back with their names, texts and load errors (what output
    /// needs) but without their documents: those are dropped as soon as the per-file
    /// checks are done with them, which keeps the values and position trees of only
    /// a few files in memory at a time, not of the whole repository.
    pub fn lint_with(&self, n: usize, load: impl Fn(usize) -> SourceFile + Sync) -> (Vec<SourceFile>, Report) {
        let batches: Vec<usize> = (0..n).step_by(LINT_BATCH).collect();
        let done = par_map(&batches, self.thread_count(n), |&first| {
            let mut files: Vec<SourceFile> = (first..n.min(first + LINT_BATCH)).map(&load).collect();
            let part = self.lint_part(first, &files);
            for f in &mut files {
                f.documents = Vec::new();
            }
            (files, part)
        });
        let mut files = Vec::with_capacity(n);
        let mut parts = Vec::with_capacity(done.len());
        for (f, p) in done {
            files.extend(f);
            parts.push(p);
        }
        let report = self.finish(&files, parts);
        (files, report)
    }

    /// The checks across files, over the per-file results in file order.
    fn finish(&self, files: &[SourceFile], parts: Vec<Part>) -> Report {
        let mut report = Report { files: files.len(), ..Report::default() };
        let mut out = Vec::new();
        let mut policies = Vec::new();
        let mut workloads = Vec::new();
        for p in parts {
            out.extend(p.out);
            policies.extend(p.policies);
            workloads.extend(p.workloads);
            report.objects += p.objects;
            report.policies += p.policy_count;
            report.io_errors += p.io_errors;
        }
        let threads = self.thread_count(usize::MAX);
        let all = Files { list: files, limits: &self.limits };
        checks::workload::coverage(&all, &policies, &workloads, threads, &mut out);
        checks::duplicate::check(&all, &policies, &workloads, &mut out);
        checks::policy::cross_policy(&all, &policies, &workloads, threads, &mut out);
        report.findings = self.config.apply(out);
        if !self.model {
            // The policies' IR is hundreds of thousands of small allocations in a large
            // repository: half of it is freed on a second thread while the findings
            // are sorted and the rest is freed here.
            let rest = policies.split_off(policies.len() / 2);
            std::thread::scope(|s| {
                if threads > 1 && !rest.is_empty() {
                    s.spawn(move || drop(rest));
                } else {
                    drop(rest);
                }
                report.findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
                drop(policies);
                drop(workloads);
            });
            return report;
        }
        report.model_workloads = workloads
            .iter()
            .map(|w| polc_compiler::model::Workload {
                kind: w.kind.as_str().to_string(),
                namespace: w.namespace.clone(),
                name: w.name.clone(),
                labels: w.labels.clone(),
                containers: w.containers.clone(),
                source: format!("{}:{}", files[w.loc.0].name, w.name_at.span),
            })
            .collect();
        report.model_policies = policies.into_iter().map(|p| p.policy).collect();
        report.findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        report
    }
}
