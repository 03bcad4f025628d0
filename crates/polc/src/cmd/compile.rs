//! `polc compile`: lint, plan, run the backends, write everything or nothing.

use crate::Status;
use crate::cli::{CompileArgs, ReportFormat};
use anyhow::Context;
use polc_compiler::backend::{self, Artifact, Output, Support, Target};
use polc_compiler::plan::plan;
use polc_lint::Level;
use std::path::{Path, PathBuf};

/// The name of the index polc writes into every output directory.
pub(crate) const INDEX: &str = "index.json";

pub(crate) fn run(args: &CompileArgs) -> anyhow::Result<Status> {
    let targets: Vec<Target> = if args.target.is_empty() { Target::ALL.to_vec() } else { args.target.clone() };
    let (report, files, _) = crate::cmd::lint::lint_paths(&args.paths, args.config.as_deref(), args.no_config)?;
    if report.io_errors > 0 || report.fails(Level::Error) {
        let mut errors = report.clone();
        errors.findings.retain(|f| f.level == Level::Error);
        eprint!("{}", polc_lint::output::human(&errors, &files, polc_lint::output::Color::Never));
        eprintln!("polc: the policies have errors; nothing was written to {}", args.out.display());
        return Ok(if report.io_errors > 0 { Status::InputError } else { Status::Findings });
    }
    let plans = plan(&report.model_policies, &report.model_workloads);
    let input = backend::Input { policies: &report.model_policies, workloads: &report.model_workloads, plans: &plans };
    let mut out = backend::compile(&input, &targets);
    if !out.errors.is_empty() {
        for e in &out.errors {
            eprintln!("error: {e}");
        }
        eprintln!(
            "polc: {} rules cannot be compiled for the requested targets; nothing was written to {}",
            out.errors.len(),
            args.out.display()
        );
        return Ok(Status::Findings);
    }
    let dropped: Vec<serde_json::Value> = plans
        .iter()
        .flat_map(|p| {
            p.dropped.iter().map(move |d| {
                serde_json::json!({"target": p.target.id(), "ruleId": d.rule.id, "policy": d.rule.policy_label, "rule": d.rule.rule.name, "source": d.rule.source, "relation": d.relation, "winner": d.winner})
            })
        })
        .collect();
    let report_json = serde_json::json!({
        "version": 1,
        "targets": targets,
        "plans": plans.iter().map(|p| p.target.id()).collect::<Vec<_>>(),
        "capabilities": out.capabilities,
        "neverDecide": dropped,
    });
    out.artifacts.push(Artifact { path: "report.json".into(), bytes: pretty(&report_json) });
    out.sort();
    let index = index(&out.artifacts);
    out.artifacts.push(Artifact { path: INDEX.into(), bytes: pretty(&index) });
    write_atomically(&args.out, &out.artifacts)?;
    let text = match args.format {
        ReportFormat::Table => table(&out),
        ReportFormat::Json => String::from_utf8_lossy(&pretty(&report_json)).into_owned(),
    };
    crate::out::print(&text)?;
    eprintln!(
        "polc: compiled {} policies for {} targets into {} ({} files)",
        report.model_policies.len(),
        plans.len(),
        args.out.display(),
        out.artifacts.len()
    );
    Ok(Status::Ok)
}

fn pretty(v: &serde_json::Value) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).unwrap_or_default();
    b.push(b'\n');
    b
}

fn index(artifacts: &[Artifact]) -> serde_json::Value {
    use sha2::Digest;
    let files: Vec<serde_json::Value> = artifacts
        .iter()
        .map(|a| {
            let h: String = sha2::Sha256::digest(&a.bytes).iter().map(|b| format!("{b:02x}")).collect();
            serde_json::json!({"path": a.path, "sha256": h, "bytes": a.bytes.len()})
        })
        .collect();
    serde_json::json!({"generator": format!("polc {}", env!("CARGO_PKG_VERSION")), "files": files})
}

/// The capability table: one line per rule entry and backend.
fn table(out: &Output) -> String {
    let mut rows = vec![[
        "BACKEND".to_string(),
        "SUPPORT".into(),
        "POLICY".into(),
        "RULE".into(),
        "MATCHES".into(),
        "SOURCE".into(),
        "NOTE".into(),
    ]];
    for c in &out.capabilities {
        let (s, note) = match &c.support {
            Support::Exact => ("exact", String::new()),
            Support::Approximated { reason } => ("approximated", reason.clone()),
            Support::NotExpressible { reason } => ("not expressible", reason.clone()),
        };
        rows.push([
            c.backend.to_string(),
            s.into(),
            c.policy.clone(),
            c.rule.clone(),
            c.matches.clone(),
            c.source.clone(),
            note,
        ]);
    }
    let mut widths = [0usize; 7];
    for r in &rows {
        for (i, c) in r.iter().enumerate().take(6) {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut s = String::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < 6 {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            } else {
                s.push_str(c);
            }
        }
        let t = s.trim_end().len();
        s.truncate(t);
        s.push('\n');
    }
    s
}

/// Write every artifact into a fresh sibling directory, then swap it in: a failed
/// or interrupted compile never leaves a half-written `dir`. An existing `dir` is
/// replaced only when it is empty or was written by polc (it has an index.json).
fn write_atomically(dir: &Path, artifacts: &[Artifact]) -> anyhow::Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?.next().is_none();
        anyhow::ensure!(
            empty || dir.join(INDEX).is_file(),
            "{} exists and was not written by polc (no {INDEX}); choose another --out or remove it",
            dir.display()
        );
    }
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let base = dir.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp: PathBuf = parent.join(format!(".{base}.polc-tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let result = (|| -> anyhow::Result<()> {
        for a in artifacts {
            anyhow::ensure!(
                !a.path.split('/').any(|s| s == ".." || s.is_empty()),
                "internal error: bad artifact path {}",
                a.path
            );
            let path = tmp.join(&a.path);
            if let Some(p) = path.parent() {
                std::fs::create_dir_all(p).with_context(|| format!("cannot create {}", p.display()))?;
            }
            std::fs::write(&path, &a.bytes).with_context(|| format!("cannot write {}", path.display()))?;
        }
        let old = parent.join(format!(".{base}.polc-old-{}", std::process::id()));
        if dir.exists() {
            std::fs::rename(dir, &old).with_context(|| format!("cannot move {} aside", dir.display()))?;
        }
        std::fs::rename(&tmp, dir).with_context(|| format!("cannot move the new output to {}", dir.display()))?;
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}
