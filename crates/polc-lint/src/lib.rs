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
    pub(crate) mod policy;
    pub(crate) mod workload;
}

pub use codes::{Code, CodeInfo};
pub use config::{Config, ConfigError, OrgRule};
pub use finding::{Finding, Level, Related, did_you_mean};
pub use schema::{SchemaError, Schemas};

use polc_load::{Document, FieldPath, LoadErrorKind, ObjectClass, SourceFile, classify};
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
    /// The policies that decoded, as the compiler takes them (in input order).
    pub model_policies: Vec<polc_compiler::model::Policy>,
    /// The workloads seen, as the compiler takes them (in input order).
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
        Ok(Linter { schemas: Schemas::new()?, config })
    }

    /// Lint loaded files. Files with errors still contribute their good documents.
    pub fn lint(&self, files: &[SourceFile]) -> Report {
        let mut report = Report { files: files.len(), ..Report::default() };
        let mut out = Vec::new();
        let mut policies = Vec::new();
        let mut workloads = Vec::new();
        for (fi, file) in files.iter().enumerate() {
            for e in &file.errors {
                if matches!(e.kind, LoadErrorKind::Io { .. }) {
                    report.io_errors += 1;
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
                let mut ctx = Ctx { file, doc, value: &doc.value, object: None, out: &mut out };
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
                        report.objects += 1;
                        report.policies += 1;
                        let ns = obj.namespace.as_deref().unwrap_or("default");
                        ctx.object = Some(format!("{kind} {ns}/{}", obj.name));
                        if let Some(p) = checks::policy::check(&self.schemas, &mut ctx, version, kind, &obj, (fi, di)) {
                            self.config.check_org_rules(&mut ctx, kind);
                            policies.push(p);
                        } else if polc_api::PolcKind::from_kind(kind).is_some() && version == polc_api::VERSION {
                            self.config.check_org_rules(&mut ctx, kind);
                        }
                    }
                    ObjectClass::Workload(kind) => {
                        report.objects += 1;
                        workloads.push(checks::workload::Workload::read(*kind, &obj, doc, (fi, di)));
                    }
                    ObjectClass::Other => report.objects += 1,
                }
            }
        }
        checks::workload::coverage(files, &policies, &workloads, &mut out);
        checks::policy::cross_policy(files, &policies, &workloads, &mut out);
        report.findings = self.config.apply(out);
        report.model_workloads = workloads
            .iter()
            .map(|w| polc_compiler::model::Workload {
                kind: w.kind.as_str().to_string(),
                namespace: w.namespace.clone(),
                name: w.name.clone(),
                labels: w.labels.clone(),
                containers: w.containers.clone(),
            })
            .collect();
        report.model_policies = policies.into_iter().map(|p| p.policy).collect();
        report.findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        report
    }
}
