//! `polc explain`: what a finding code means, or what a policy file enforces, in
//! plain words, per selected workload.

use crate::Status;
use crate::cli::ExplainArgs;
use polc_api::{Action, FileAccess};
use polc_compiler::ir::{Matcher, PeerKey, Section};
use polc_compiler::pattern::PathMatcher;
use polc_compiler::plan::{EffRule, Plan, plan};
use polc_lint::{Code, Level, did_you_mean};
use std::fmt::Write;

pub(crate) fn run(args: &ExplainArgs) -> anyhow::Result<Status> {
    if args.all {
        if args.markdown {
            crate::out::print(&polc_lint::codes::markdown())?;
        } else {
            let mut s = String::new();
            for c in Code::ALL {
                let i = c.info();
                let _ = writeln!(s, "{}  {:<22} {:<8} {}", i.code, i.name, i.level.as_str(), i.summary);
            }
            crate::out::print(&s)?;
        }
        return Ok(Status::Ok);
    }
    let word = args.target.as_deref().unwrap_or_default();
    if let Some(code) = Code::parse(word) {
        let i = code.info();
        crate::out::print(&format!(
            "{} {} ({})\n\n{}.\n\n{}\n",
            i.code,
            i.name,
            i.level.as_str(),
            i.summary,
            i.explanation
        ))?;
        return Ok(Status::Ok);
    }
    if std::path::Path::new(word).exists() || word == "-" {
        return explain_policies(word, args);
    }
    let names = Code::ALL.iter().flat_map(|c| [c.info().code, c.info().name]);
    let hint = did_you_mean(word, names).map(|b| format!("; did you mean `{b}`?")).unwrap_or_default();
    anyhow::bail!("`{word}` is neither a finding code{hint} nor a file (`polc explain --all` lists the codes)")
}

fn explain_policies(file: &str, args: &ExplainArgs) -> anyhow::Result<Status> {
    let mut paths = vec![file.to_string()];
    paths.extend(args.with.iter().cloned());
    let (report, files, _) = crate::cmd::lint::lint_paths(&paths, None, true)?;
    if report.io_errors > 0 || report.fails(Level::Error) {
        let mut errors = report.clone();
        errors.findings.retain(|f| f.level == Level::Error);
        eprint!("{}", polc_lint::output::human(&errors, &files, polc_lint::output::Color::Never));
        anyhow::bail!("{file} has errors; fix them to see what it enforces");
    }
    let first_file = files.first().map(|f| f.name.clone()).unwrap_or_default();
    let plans = plan(&report.model_policies, &report.model_workloads);
    let mut out = String::new();
    let mut shown = 0;
    for p in &plans {
        if !p.policies.iter().any(|&i| report.model_policies[i].source.file == first_file) {
            continue;
        }
        shown += 1;
        describe(&mut out, p, &report.model_policies);
    }
    if shown == 0 {
        out.push_str(&format!("{file} has no polc policies\n"));
    }
    crate::out::print(&out)?;
    Ok(Status::Ok)
}

fn describe(out: &mut String, p: &Plan, policies: &[polc_compiler::model::Policy]) {
    let t = &p.target;
    if t.kind == "Policy" {
        let _ = writeln!(
            out,
            "{}/{} (no linted workload matches its selector; pass them with --with)",
            t.namespace, t.name
        );
    } else {
        let c = if t.container == "*" { "every container".to_string() } else { format!("container {}", t.container) };
        let _ = writeln!(out, "{} {}/{}, {c}", t.kind, t.namespace, t.name);
    }
    for &i in &p.policies {
        let pol = &policies[i];
        let _ = writeln!(out, "  from {} ({})", pol.label(), pol.source.file);
    }
    for s in &p.sections {
        let _ = writeln!(out, "  {}:", section_words(s.section));
        for r in &s.rules {
            let _ = writeln!(out, "    {:<6} {}  [{}]", verb(r), rule_words(r), r.source());
        }
        if s.section == Section::File && s.rules.iter().any(|r| r.rule.effective != Action::Allow) {
            let _ = writeln!(
                out,
                "    renames and links are also decided by what they move: a name these rules keep from \
                 being read, a directory that holds paths they block or audit (docs/enforcement.md, \"Names moved\")"
            );
        }
        let default = match s.default {
            Action::Allow => "allowed",
            Action::Audit => "allowed and reported",
            Action::Block => "blocked",
        };
        let _ = writeln!(out, "    everything else is {default}");
    }
    for d in &p.dropped {
        let _ = writeln!(
            out,
            "  never decides: {} {} (rule {} of {}) — {:?} by rule id {}",
            verb(&d.rule),
            rule_words(&d.rule),
            d.rule.rule.name,
            d.rule.policy_label(),
            d.relation,
            d.winner
        );
    }
    out.push('\n');
}

fn section_words(s: Section) -> &'static str {
    match s {
        Section::Process => "running programs",
        Section::File => "opening files",
        Section::Network => "outgoing connections (agent)",
        Section::NetworkIngress => "incoming connections (agent)",
        Section::Capability => "using capabilities",
        Section::Syscall => "system calls",
        Section::Egress => "outgoing traffic",
        Section::Ingress => "incoming traffic",
    }
}

fn verb(r: &EffRule) -> String {
    match (r.rule.action, r.rule.effective) {
        (Action::Block, Action::Audit) => "Audit (DryRun of Block)".into(),
        (_, e) => e.as_str().into(),
    }
}

fn path_words(m: &PathMatcher) -> String {
    match m {
        PathMatcher::Exact(p) => p.clone(),
        PathMatcher::Dir { path, recursive: true } => format!("anything under {path}"),
        PathMatcher::Dir { path, recursive: false } => format!("anything directly in {path}"),
        PathMatcher::Glob(g) => format!("paths matching {g}"),
    }
}

fn rule_words(r: &EffRule) -> String {
    let c = &r.rule.conditions;
    let mut s = match &r.rule.matcher {
        Matcher::Path(m) if r.rule.section == Section::File => {
            let access: Vec<&str> = c
                .access
                .iter()
                .map(|a| match a {
                    FileAccess::Read => "read",
                    FileAccess::Write => "write",
                })
                .collect();
            format!("{} {}", access.join("/"), path_words(m))
        }
        Matcher::Path(m) => path_words(m),
        Matcher::Comm(n) => format!("programs named {n}"),
        Matcher::Net { peer, ports } => {
            let peer = match peer {
                PeerKey::Any => "any peer".to_string(),
                other => other.to_string(),
            };
            format!("{peer} on {ports}")
        }
        Matcher::RawSocket => "raw sockets".into(),
        Matcher::Capability(cap) => format!("CAP_{cap}"),
        Matcher::Syscall(n) => n.clone(),
    };
    if !c.parents.is_empty() {
        let ps: Vec<String> = c.parents.iter().map(path_words).collect();
        s.push_str(&format!(" when started by {}", ps.join(" or ")));
    }
    if c.http {
        s.push_str(" (with HTTP rules)");
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn file_rules_that_block_say_how_renames_are_decided() {
        let dir = std::env::temp_dir().join(format!("polc-explain-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let policy = |action: &str| {
            format!(
                "apiVersion: polc.dev/v1alpha1\nkind: PreventionPolicy\nmetadata: {{name: p, namespace: n}}\n\
                 spec:\n  selector: {{matchLabels: {{app: a}}}}\n  file:\n    - action: {action}\n      \
                 access: [Write]\n      dirs: [{{path: /srv/data/, recursive: true}}]\n"
            )
        };
        let mut seen = Vec::new();
        for action in ["Block", "Allow"] {
            let f = dir.join(format!("{action}.yaml"));
            std::fs::write(&f, policy(action)).unwrap();
            let (report, _, _) = crate::cmd::lint::lint_paths(&[f.display().to_string()], None, true).unwrap();
            let plans = super::plan(&report.model_policies, &report.model_workloads);
            let mut out = String::new();
            for p in &plans {
                super::describe(&mut out, p, &report.model_policies);
            }
            assert!(out.contains("write anything under /srv/data/"), "{out}");
            seen.push(out.contains("renames and links are also decided by what they move"));
        }
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(seen, [true, false]);
    }

    #[test]
    fn docs_lint_codes_md_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/lint-codes.md");
        let want = polc_lint::codes::markdown();
        if std::env::var_os("POLC_BLESS").is_some() {
            std::fs::write(path, &want).unwrap_or_else(|e| panic!("{path}: {e}"));
            return;
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(have == want, "docs/lint-codes.md is stale: run `POLC_BLESS=1 cargo test -p polc docs_`");
    }
}
