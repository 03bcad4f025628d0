//! The repository's lint configuration (`.polc.yaml`): codes to disable, level
//! overrides, the failure threshold, and organisation rules written in CEL.
//!
//! ```yaml
//! failOn: warning            # default threshold for the exit code
//! disable: [P045]            # codes never reported
//! levels: {P040: error}      # per-code level overrides
//! rules:
//!   - name: team-label
//!     expression: "has(object.metadata.labels) && 'team' in object.metadata.labels"
//!     message: every policy names its owning team
//!     level: error           # default warning
//!     kinds: [PreventionPolicy]   # default: every polc kind
//! exclude: [fuzz/**, "tests/**/bad-*.yaml", testdata]   # not linted when walking directories
//! ```
//!
//! A rule's expression sees the policy as `object` and must be true for it to pass,
//! as in Kubernetes ValidatingAdmissionPolicy.

use crate::codes::Code;
use crate::{Ctx, Finding, Level};
use polc_load::{FieldPath, SourceFile};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ConfigFile {
    #[serde(default)]
    fail_on: Option<Level>,
    #[serde(default)]
    disable: Vec<String>,
    #[serde(default)]
    levels: BTreeMap<String, Level>,
    #[serde(default)]
    rules: Vec<RuleSpec>,
    #[serde(default)]
    exclude: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RuleSpec {
    name: String,
    expression: String,
    message: String,
    #[serde(default = "warning")]
    level: Level,
    #[serde(default)]
    kinds: Vec<String>,
}

fn warning() -> Level {
    Level::Warning
}

/// An organisation rule, compiled.
pub struct OrgRule {
    /// Name.
    pub name: String,
    /// Message shown when the rule fails.
    pub message: String,
    /// Level of its findings.
    pub level: Level,
    /// Kinds it applies to (all polc kinds when empty).
    pub kinds: Vec<String>,
    /// The expression as written.
    pub expression: String,
    program: cel::Program,
}

/// Lint configuration.
#[derive(Default)]
pub struct Config {
    /// Threshold for a failing exit code, when the config sets one.
    pub fail_on: Option<Level>,
    disabled: HashSet<Code>,
    levels: HashMap<Code, Level>,
    rules: Vec<OrgRule>,
    /// Globs of paths not linted when walking directories, relative to `base`.
    exclude: Vec<String>,
    /// The directory of the configuration file (absolute).
    base: std::path::PathBuf,
    /// The same, with symbolic links resolved.
    base_canonical: Option<std::path::PathBuf>,
}

/// `path` made absolute, with `a/../b` read as `b` (without resolving links), so
/// that `polc lint ../repo` from inside the repository still finds its paths under
/// the configuration's directory.
fn absolute(path: &std::path::Path) -> Option<std::path::PathBuf> {
    let abs = std::path::absolute(path).ok()?;
    let mut normal = std::path::PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::ParentDir => {
                normal.pop();
            }
            std::path::Component::CurDir => {}
            c => normal.push(c),
        }
    }
    Some(normal)
}

/// Why an `exclude` glob cannot be used.
fn check_exclude(g: &str) -> Result<(), &'static str> {
    let g = g.trim_end_matches('/');
    if g.is_empty() {
        return Err("an empty glob would leave out everything");
    }
    if g.starts_with('/') {
        return Err("globs are relative to the directory of .polc.yaml; drop the leading `/`");
    }
    // The glob as the matcher reads it (the compiler's path globs, which are
    // absolute), its errors in the words of a relative glob.
    use polc_compiler::pattern::{PathMatcher, PatternError};
    match PathMatcher::path(&format!("/{g}")) {
        Ok(_) => Ok(()),
        Err(PatternError::DotSegment(_) | PatternError::EmptySegment(_)) => {
            Err("a glob has no empty, `.` or `..` parts")
        }
        Err(PatternError::PartialDoubleStar(_)) => Err("`**` stands alone between slashes (`a/**/b`)"),
        Err(PatternError::BadClass(_)) => Err("a `[` class is not closed, or is empty"),
        Err(PatternError::TooLong { .. }) => Err("longer than a path can be"),
        Err(_) => Err("not a glob of paths (a NUL byte?)"),
    }
}

/// A configuration error, with its location.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{col}: {field}: {message}")]
pub struct ConfigError {
    /// File.
    pub file: String,
    /// Line (0 when unknown).
    pub line: u32,
    /// Column (0 when unknown).
    pub col: u32,
    /// Field path.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl Config {
    /// Read a configuration from a loaded file.
    ///
    /// # Errors
    /// When the file does not parse, has unknown fields or unknown codes, or a CEL
    /// expression does not compile.
    pub fn from_source(src: &SourceFile) -> Result<Config, ConfigError> {
        let err = |span: Option<polc_load::Span>, field: String, message: String| ConfigError {
            file: src.name.clone(),
            line: span.map_or(0, |s| s.line),
            col: span.map_or(0, |s| s.col),
            field: if field.is_empty() { "(document)".into() } else { field },
            message,
        };
        if let Some(e) = src.errors.first() {
            return Err(err(e.span, e.field.to_string(), e.kind.to_string()));
        }
        let Some(doc) = src.documents.first() else {
            return Ok(Config::default());
        };
        let at = |pointer: &str| {
            let p = FieldPath::from_pointer(pointer);
            (Some(doc.spans.field_span(&doc.value, p.segs())), p.to_string())
        };
        let file: ConfigFile = serde_path_to_error::deserialize(&doc.value).map_err(|e| {
            let ptr = crate::checks::policy::path_to_pointer(e.path());
            let (span, field) = at(&ptr);
            err(span, field, e.inner().to_string())
        })?;
        let mut cfg = Config { fail_on: file.fail_on, ..Config::default() };
        for (i, g) in file.exclude.iter().enumerate() {
            if let Err(why) = check_exclude(g) {
                let (span, field) = at(&format!("/exclude/{i}"));
                return Err(err(span, field, format!("`{g}`: {why}")));
            }
            cfg.exclude.push(g.trim_end_matches('/').to_string());
        }
        cfg.base = absolute(std::path::Path::new(&src.name))
            .and_then(|p| p.parent().map(std::path::Path::to_path_buf))
            .unwrap_or_default();
        cfg.base_canonical = cfg.base.canonicalize().ok();
        for (i, c) in file.disable.iter().enumerate() {
            let code = Code::parse(c).ok_or_else(|| {
                let (span, field) = at(&format!("/disable/{i}"));
                err(span, field, format!("unknown code `{c}`"))
            })?;
            cfg.disabled.insert(code);
        }
        for (c, level) in &file.levels {
            let code = Code::parse(c).ok_or_else(|| {
                let (span, field) = at(&format!("/levels/{c}"));
                err(span, field, format!("unknown code `{c}`"))
            })?;
            cfg.levels.insert(code, *level);
        }
        for (i, r) in file.rules.into_iter().enumerate() {
            let program = cel::Program::compile(&r.expression).map_err(|e| {
                let (span, field) = at(&format!("/rules/{i}/expression"));
                err(span, field, format!("CEL expression does not compile: {e}"))
            })?;
            for (j, k) in r.kinds.iter().enumerate() {
                if polc_api::PolcKind::from_kind(k).is_none() {
                    let (span, field) = at(&format!("/rules/{i}/kinds/{j}"));
                    return Err(err(span, field, format!("`{k}` is not a polc kind")));
                }
            }
            cfg.rules.push(OrgRule {
                name: r.name,
                message: r.message,
                level: r.level,
                kinds: r.kinds,
                expression: r.expression,
                program,
            });
        }
        Ok(cfg)
    }

    /// Is `path` (as found by walking a directory named on the command line) left
    /// out by `exclude`? A glob with a `/` is matched against the path relative to
    /// the configuration file's directory, one without against its name (as in
    /// `.gitignore`); walking leaves out a matching directory with everything below
    /// it. Paths outside that directory are never left out.
    pub fn excludes(&self, path: &std::path::Path) -> bool {
        if self.exclude.is_empty() {
            return false;
        }
        let Some(abs) = absolute(path) else { return false };
        let canonical;
        let rel = match abs.strip_prefix(&self.base) {
            Ok(rel) => rel,
            // Through a symbolic link (the base is the current directory's real path).
            Err(_) => match (abs.canonicalize(), &self.base_canonical) {
                (Ok(c), Some(b)) => {
                    canonical = c;
                    let Ok(rel) = canonical.strip_prefix(b) else { return false };
                    rel
                }
                _ => return false,
            },
        };
        let parts: Vec<&str> = rel
            .components()
            .filter_map(|c| match c {
                std::path::Component::Normal(s) => s.to_str(),
                _ => None,
            })
            .collect();
        if parts.is_empty() {
            return false;
        }
        let joined = parts.join("/");
        let name = parts.last().copied().unwrap_or_default();
        // A glob without `/` is matched against the name only: walking asks about
        // every directory on the way down, so `fuzz` leaves out everything below a
        // directory `fuzz` found by walking, but not a directory named on the command
        // line that is inside it (`polc lint fuzz/seeds`).
        self.exclude.iter().any(|g| {
            if g.contains('/') {
                polc_compiler::pattern::glob_match(g, &joined)
            } else {
                polc_compiler::pattern::glob_match(g, name)
            }
        })
    }

    /// The organisation rules.
    pub fn rules(&self) -> &[OrgRule] {
        &self.rules
    }

    pub(crate) fn check_org_rules(&self, ctx: &mut Ctx<'_>, kind: &str) {
        let applicable: Vec<&OrgRule> =
            self.rules.iter().filter(|r| r.kinds.is_empty() || r.kinds.iter().any(|k| k == kind)).collect();
        if applicable.is_empty() {
            return;
        }
        let object = match cel::to_value(ctx.value) {
            Ok(v) => v,
            Err(e) => {
                let f = ctx.finding_at(Code::OrgRule, "", format!("object cannot be given to CEL: {e}"));
                ctx.push(f);
                return;
            }
        };
        for r in applicable {
            let mut c = cel::Context::default();
            c.add_variable_from_value("object", object.clone());
            let outcome = match r.program.execute(&c) {
                Ok(cel::Value::Bool(true)) => continue,
                Ok(cel::Value::Bool(false)) => format!("{} (rule `{}`)", r.message, r.name),
                Ok(other) => format!("rule `{}` returned {other:?}, not a boolean", r.name),
                Err(e) => format!("rule `{}` could not be evaluated: {e}", r.name),
            };
            let f: Finding =
                ctx.finding_at(Code::OrgRule, "/metadata", outcome).level(r.level).help(format!("`{}`", r.expression));
            ctx.push(f);
        }
    }

    /// Drop disabled codes and apply level overrides.
    pub(crate) fn apply(&self, findings: Vec<Finding>) -> Vec<Finding> {
        findings
            .into_iter()
            .filter(|f| !self.disabled.contains(&f.code))
            .map(|mut f| {
                if let Some(l) = self.levels.get(&f.code) {
                    f.level = *l;
                }
                f
            })
            .collect()
    }
}
