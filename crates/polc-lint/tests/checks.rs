//! One test per finding code: each lints a small snippet, asserts that exactly that
//! code is reported at the exact line (and field, where the finding names one), and
//! pairs it with a near miss that must not report it. A test therefore fails both
//! when its check is removed and when the check starts firing on correct input.
//!
//! Tests marked `#[ignore = "bug: ..."]` pin the correct behaviour of checks that are
//! wrong today; they are meant to pass once the bug is fixed.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use polc_lint::{Code, Config, ConfigError, Finding, Level, Linter, Report};
use polc_load::{Limits, SourceFile, load_input};
use std::collections::BTreeSet;
use std::sync::OnceLock;

// ---------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------

/// The file name every single-file snippet is linted as.
const FILE: &str = "t.yaml";

/// Strip the common indentation of `s` (and one leading newline), so snippets can be
/// written indented in the source.
fn dedent(s: &str) -> String {
    let s = s.strip_prefix('\n').unwrap_or(s);
    let indent = s.lines().filter(|l| !l.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min().unwrap_or(0);
    let mut out = String::new();
    for l in s.lines() {
        out.push_str(l.get(indent..).unwrap_or_else(|| l.trim_start()));
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// A polc object of `kind` named `name` in namespace `shop`, selecting `app: web`,
/// with `body` (dedented) as the rest of its spec.
fn polc(kind: &str, name: &str, body: &str) -> String {
    let mut s = format!(
        "apiVersion: polc.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: shop\n\
         spec:\n  selector:\n    matchLabels: {{app: web}}\n"
    );
    for l in dedent(body).lines() {
        if !l.is_empty() {
            s.push_str("  ");
            s.push_str(l);
        }
        s.push('\n');
    }
    s
}

/// A PreventionPolicy `p` (see [`polc`]).
fn prevention(body: &str) -> String {
    polc("PreventionPolicy", "p", body)
}

/// A Deployment `web` in `shop` whose pod template has `labels` and one container
/// `web`, hardened so that it has no posture findings.
fn hardened_deployment(labels: &str) -> String {
    dedent(&format!(
        "
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
          namespace: shop
        spec:
          template:
            metadata:
              labels: {labels}
            spec:
              securityContext:
                seccompProfile: {{type: RuntimeDefault}}
              containers:
                - name: web
                  image: nginx
                  securityContext:
                    allowPrivilegeEscalation: false
        "
    ))
}

fn load(name: &str, text: &str) -> SourceFile {
    load_input(name.into(), text.as_bytes(), &Limits::default())
}

fn report_with(config: Config, files: &[(&str, &str)]) -> Report {
    let files: Vec<SourceFile> = files.iter().map(|(n, t)| load(n, t)).collect();
    let linter = Linter::new(config).unwrap();
    let report = linter.lint(&files);
    assert_lean_is_the_same(&linter, &files, &report);
    report
}

/// `lint_with` (what `polc lint` runs) drops the documents after the per-file checks
/// and parses a file again where a check across files places a finding in it: its
/// findings and model are those of `lint` on the loaded files.
fn assert_lean_is_the_same(linter: &Linter, files: &[SourceFile], report: &Report) {
    let (kept, lean) = linter.lint_with(files.len(), |i| files[i].clone());
    assert!(kept.iter().all(|f| f.documents.is_empty()), "lint_with keeps no documents");
    assert!(kept.iter().zip(files).all(|(a, b)| a.name == b.name && a.text == b.text && a.errors == b.errors));
    assert_eq!(lean.findings, report.findings, "lint_with and lint disagree");
    assert_eq!(lean.model_policies, report.model_policies);
    assert_eq!(lean.model_workloads, report.model_workloads);
}

/// The linter with the default configuration, built once: compiling the CRD schemas
/// dominates the time of a small lint.
fn default_linter() -> &'static Linter {
    static LINTER: OnceLock<Linter> = OnceLock::new();
    LINTER.get_or_init(|| Linter::new(Config::default()).unwrap())
}

/// Lint one file named [`FILE`] with the default configuration.
fn lint(yaml: &str) -> Vec<Finding> {
    lint_files(&[(FILE, yaml)])
}

/// Lint several files with the default configuration.
fn lint_files(files: &[(&str, &str)]) -> Vec<Finding> {
    let files: Vec<SourceFile> = files.iter().map(|(n, t)| load(n, t)).collect();
    let report = default_linter().lint(&files);
    assert_lean_is_the_same(default_linter(), &files, &report);
    report.findings
}

fn config(text: &str) -> Result<Config, ConfigError> {
    Config::from_source(&load(".polc.yaml", &dedent(text)))
}

/// Lint with a `.polc.yaml` of `config_text`.
fn lint_with_config(config_text: &str, files: &[(&str, &str)]) -> Vec<Finding> {
    let cfg = config(config_text).unwrap_or_else(|e| panic!("config does not load: {e}"));
    report_with(cfg, files).findings
}

fn dump(fs: &[Finding]) -> String {
    let mut s = String::new();
    for f in fs {
        let at = f.span.map_or_else(|| "-".to_string(), |s| format!("{}:{}", s.line, s.col));
        s.push_str(&format!(
            "\n  {} {} {}:{at} [{}] {} (help: {:?})",
            f.code.as_str(),
            f.level.as_str(),
            f.file,
            f.field,
            f.message,
            f.help
        ));
    }
    s
}

/// The 1-based line of the one line of `text` that contains `needle`.
#[track_caller]
fn line_of(text: &str, needle: &str) -> u32 {
    let hits: Vec<usize> = text.lines().enumerate().filter(|(_, l)| l.contains(needle)).map(|(i, _)| i + 1).collect();
    assert_eq!(hits.len(), 1, "`{needle}` must be on exactly one line of:\n{text}");
    u32::try_from(hits[0]).unwrap()
}

/// The 1-based column of `needle` on the one line that contains `line_needle`.
#[track_caller]
fn col_on(text: &str, line_needle: &str, needle: &str) -> u32 {
    let line = text.lines().nth(line_of(text, line_needle) as usize - 1).unwrap();
    let byte = line.find(needle).unwrap_or_else(|| panic!("`{needle}` is not on the line of `{line_needle}`"));
    u32::try_from(line[..byte].chars().count() + 1).unwrap()
}

/// The 1-based column where `needle` starts on its line.
#[track_caller]
fn col_of(text: &str, needle: &str) -> u32 {
    let line = text.lines().nth(line_of(text, needle) as usize - 1).unwrap();
    let byte = line.find(needle).unwrap();
    u32::try_from(line[..byte].chars().count() + 1).unwrap()
}

fn of(fs: &[Finding], code: Code) -> Vec<&Finding> {
    fs.iter().filter(|f| f.code == code).collect()
}

/// The one finding of `code`.
#[track_caller]
fn one(fs: &[Finding], code: Code) -> &Finding {
    let v = of(fs, code);
    assert_eq!(v.len(), 1, "expected exactly one {}, got:{}", code.as_str(), dump(fs));
    v[0]
}

/// The one finding of `code`, asserted to be at `line` with `field`.
#[track_caller]
fn one_at<'a>(fs: &'a [Finding], code: Code, line: u32, field: &str) -> &'a Finding {
    let f = one(fs, code);
    assert_at(f, line, field);
    f
}

#[track_caller]
fn assert_at(f: &Finding, line: u32, field: &str) {
    let got = f.span.map(|s| s.line);
    assert_eq!(got, Some(line), "{} at the wrong line:{}", f.code.as_str(), dump(std::slice::from_ref(f)));
    assert_eq!(f.field, field, "{} names the wrong field:{}", f.code.as_str(), dump(std::slice::from_ref(f)));
}

/// The finding of `code` whose field is `field`.
#[track_caller]
fn at_field<'a>(fs: &'a [Finding], code: Code, field: &str) -> &'a Finding {
    let v: Vec<&Finding> = fs.iter().filter(|f| f.code == code && f.field == field).collect();
    assert_eq!(v.len(), 1, "expected one {} at `{field}`, got:{}", code.as_str(), dump(fs));
    v[0]
}

#[track_caller]
fn none(fs: &[Finding], code: Code) {
    assert!(of(fs, code).is_empty(), "expected no {}, got:{}", code.as_str(), dump(fs));
}

#[track_caller]
fn codes(fs: &[Finding]) -> BTreeSet<&'static str> {
    fs.iter().map(|f| f.code.as_str()).collect()
}

// ---------------------------------------------------------------------------------
// Loading: P001-P007
// ---------------------------------------------------------------------------------

#[test]
fn p001_yaml_syntax_at_the_broken_scalar_and_earlier_documents_still_linted() {
    let yaml = dedent(
        r#"
        apiVersion: polc.dev/v1alpha1
        kind: PreventionPolicy
        metadata:
          name: before
        spec:
          selector: {}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: "broken
        data: {}
        ---
        apiVersion: polc.dev/v1alpha1
        kind: PreventionPolicy
        metadata:
          name: after
        spec:
          selector: {}
        "#,
    );
    let fs = lint(&yaml);
    let f = one_at(&fs, Code::YamlSyntax, line_of(&yaml, "\"broken"), "metadata.name");
    assert_eq!(f.level, Level::Error);
    assert_eq!(f.span.unwrap().col, col_of(&yaml, "\"broken"));
    assert!(f.help.as_deref().unwrap_or("").contains("not linted"), "{f:?}");
    // The document before the error is linted, the one after it is not.
    let empty = one(&fs, Code::EmptySelector);
    assert_eq!(empty.object.as_deref(), Some("PreventionPolicy default/before"));
}

#[test]
fn p001_near_miss_closed_quote_is_fine() {
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \"fixed\"\ndata: {}\n";
    let fs = lint(yaml);
    assert!(fs.is_empty(), "{}", dump(&fs));
}

#[test]
fn p002_duplicate_key_at_the_second_key() {
    let yaml = prevention(
        "
        mode: DryRun
        process:
          - action: Block
            paths: [/bin/sh]
        mode: Enforce
        ",
    );
    let fs = lint(&yaml);
    // The field is the repeated key.
    let f = one_at(&fs, Code::DuplicateKey, line_of(&yaml, "mode: Enforce"), "spec.mode");
    assert!(f.message.contains("`mode`"), "{}", f.message);
    assert!(f.message.contains(&format!("line {}", line_of(&yaml, "mode: DryRun"))), "{}", f.message);
}

#[test]
fn p002_near_miss_same_key_in_different_mappings() {
    let yaml = prevention(
        "
        process:
          - name: a
            action: Block
            paths: [/bin/sh]
          - name: b
            action: Block
            paths: [/bin/bash]
        ",
    );
    none(&lint(&yaml), Code::DuplicateKey);
}

fn nested(depth: usize) -> String {
    format!("k: {}1{}\n", "[".repeat(depth), "]".repeat(depth))
}

#[test]
fn p003_nesting_deeper_than_the_limit() {
    let fs = lint(&nested(200));
    let f = one(&fs, Code::LimitExceeded);
    assert_eq!(f.span.map(|s| s.line), Some(1), "{}", dump(&fs));
    assert!(f.message.contains("128"), "{}", f.message);
}

#[test]
fn p003_alias_bomb_is_refused() {
    let mut yaml = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let prev = format!("*a{}", i - 1);
        yaml.push_str(&format!("a{i}: &a{i} [{}]\n", [prev.as_str(); 10].join(", ")));
    }
    let fs = lint(&yaml);
    let f = one(&fs, Code::LimitExceeded);
    assert!(f.message.contains("alias"), "{}", f.message);
    // Reported where the expansion crossed the limit: on one of the alias lines.
    let line = f.span.unwrap().line;
    assert!((2..=10).contains(&line), "{}", dump(&fs));
}

#[test]
fn p003_file_larger_than_the_limit_has_no_position() {
    let limits = Limits { max_file_bytes: 10, ..Limits::default() };
    let file = load_input(FILE.into(), b"apiVersion: v1\nkind: ConfigMap\n", &limits);
    let fs = default_linter().lint(&[file]).findings;
    let f = one(&fs, Code::LimitExceeded);
    assert_eq!(f.span, None);
    assert_eq!(f.field, "");
}

#[test]
fn p003_near_miss_deep_but_within_the_limit() {
    let fs = lint(&nested(100));
    none(&fs, Code::LimitExceeded);
}

#[test]
fn p004_invalid_utf8_at_the_first_bad_byte() {
    let file = load_input(FILE.into(), b"apiVersion: v1\ndata: ab\xffcd\n", &Limits::default());
    let report = default_linter().lint(&[file]);
    let f = one(&report.findings, Code::Unreadable);
    assert_eq!(f.span.map(|s| (s.line, s.col)), Some((2, 9)), "{}", dump(&report.findings));
    assert!(f.message.contains("offset 23"), "{}", f.message);
    assert_eq!(report.io_errors, 0, "undecodable bytes are not an I/O error");
}

#[test]
fn p004_near_miss_non_ascii_utf8_is_fine() {
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  greeting: grüß dich ✓\n";
    let fs = lint(yaml);
    assert!(fs.is_empty(), "{}", dump(&fs));
}

#[test]
fn p005_file_with_only_comments() {
    let fs = lint("# nothing here yet\n---\n# still nothing\n");
    let f = one(&fs, Code::EmptyFile);
    assert_eq!(f.span, None);
    assert_eq!(f.level, Level::Warning);
    assert_eq!(f.file, FILE);
}

#[test]
fn p005_near_miss_comment_then_object() {
    let fs = lint("# a config map\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n");
    none(&fs, Code::EmptyFile);
}

#[test]
fn p006_documents_that_are_not_objects() {
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n- a\n- b\n---\nname: no-kind\n";
    let fs = lint(yaml);
    let v = of(&fs, Code::NotAnObject);
    assert_eq!(v.len(), 2, "{}", dump(&fs));
    assert_eq!(v[0].span.map(|s| s.line), Some(line_of(yaml, "- a")));
    assert!(v[0].message.contains("document 2 is not a mapping"), "{}", v[0].message);
    assert_eq!(v[1].span.map(|s| s.line), Some(line_of(yaml, "name: no-kind")));
    assert!(v[1].message.contains("document 3"), "{}", v[1].message);
    assert_eq!(v[1].field, "");
}

#[test]
fn p006_near_miss_any_kubernetes_kind_is_an_object() {
    let fs = lint("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n");
    assert!(fs.is_empty(), "{}", dump(&fs));
}

#[test]
fn p007_yaml_without_a_json_meaning() {
    let inf = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  ratio: .inf\n";
    let fs = lint(inf);
    let f = one_at(&fs, Code::UnsupportedYaml, line_of(inf, ".inf"), "data.ratio");
    assert!(f.message.contains(".inf"), "{}", f.message);

    let tag = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  password: !vault secret/db\n";
    let fs = lint(tag);
    let f = one_at(&fs, Code::UnsupportedYaml, line_of(tag, "!vault"), "stringData.password");
    assert!(f.message.contains("!vault"), "{}", f.message);
}

#[test]
fn p007_near_miss_quoted_inf_and_standard_tags() {
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  ratio: \".inf\"\n  n: !!str 5\n";
    let fs = lint(yaml);
    assert!(fs.is_empty(), "{}", dump(&fs));
}

// ---------------------------------------------------------------------------------
// Schema: P010-P013
// ---------------------------------------------------------------------------------

#[test]
fn p010_unknown_kind_with_did_you_mean() {
    let yaml = "apiVersion: polc.dev/v1alpha1\nkind: PreventionPolicyy\nmetadata: {name: p}\nspec: {}\n";
    let fs = lint(yaml);
    let f = one_at(&fs, Code::UnknownKind, 2, "kind");
    assert_eq!(f.help.as_deref(), Some("did you mean `PreventionPolicy`?"));
    assert_eq!(f.level, Level::Error);
}

#[test]
fn p010_unknown_version_names_the_version_field() {
    let yaml = "kind: RuntimePolicy\napiVersion: polc.dev/v1beta1\nmetadata: {name: p}\nspec: {}\n";
    let fs = lint(yaml);
    let f = one_at(&fs, Code::UnknownKind, 2, "apiVersion");
    assert!(f.message.contains("v1beta1"), "{}", f.message);
    assert_eq!(f.help.as_deref(), Some("use `apiVersion: polc.dev/v1alpha1`"));
}

#[test]
fn p010_far_off_kind_lists_the_known_kinds() {
    let yaml = "apiVersion: polc.dev/v1alpha1\nkind: Gadget\nmetadata: {name: p}\nspec: {}\n";
    let f = one(&lint(yaml), Code::UnknownKind).clone();
    let help = f.help.unwrap();
    for k in ["PreventionPolicy", "RuntimePolicy", "NetworkAccessPolicy"] {
        assert!(help.contains(k), "{help}");
    }
}

#[test]
fn p010_near_miss_every_known_kind() {
    for kind in ["PreventionPolicy", "RuntimePolicy", "NetworkAccessPolicy"] {
        let body = match kind {
            "RuntimePolicy" => "baseline: {executables: [/app/server]}",
            "NetworkAccessPolicy" => "egress: [{action: Allow, peers: [{fqdn: api.example.com}]}]",
            _ => "process: [{action: Block, paths: [/bin/sh]}]",
        };
        let fs = lint(&polc(kind, "p", body));
        none(&fs, Code::UnknownKind);
        none(&fs, Code::SchemaViolation);
    }
}

#[test]
fn p011_enum_typo_with_did_you_mean() {
    let yaml = prevention(
        "
        process:
          - action: Blok
            paths: [/bin/sh]
        ",
    );
    let fs = lint(&yaml);
    let f = one_at(&fs, Code::SchemaViolation, line_of(&yaml, "Blok"), "spec.process[0].action");
    assert_eq!(f.help.as_deref(), Some("did you mean `Block`?"));
    assert!(f.message.contains("`Allow`, `Audit`, `Block`"), "{}", f.message);
}

#[test]
fn p011_type_and_range_errors() {
    let yaml = prevention(
        "
        network:
          - action: Block
            ports:
              - port: 70000
              - port: https
        ",
    );
    let fs = lint(&yaml);
    let v = of(&fs, Code::SchemaViolation);
    assert_eq!(v.len(), 2, "{}", dump(&fs));
    assert_at(v[0], line_of(&yaml, "70000"), "spec.network[0].ports[0].port");
    assert!(v[0].message.contains("maximum"), "{}", v[0].message);
    assert_at(v[1], line_of(&yaml, "https"), "spec.network[0].ports[1].port");
    assert!(v[1].message.contains("integer"), "{}", v[1].message);
}

#[test]
fn p011_missing_required_field() {
    let yaml = "apiVersion: polc.dev/v1alpha1\nkind: RuntimePolicy\nmetadata: {name: r}\nspec:\n  selector: {matchLabels: {app: web}}\n";
    let fs = lint(yaml);
    let f = one_at(&fs, Code::SchemaViolation, line_of(yaml, "spec:"), "spec");
    assert!(f.message.contains("baseline"), "{}", f.message);
}

#[test]
fn p011_near_miss_valid_enums_and_ports() {
    let yaml = prevention(
        "
        mode: DryRun
        severity: high
        network:
          - action: Audit
            ports: [{port: 443}, {port: 8000, endPort: 8100, protocol: UDP}]
        ",
    );
    none(&lint(&yaml), Code::SchemaViolation);
}

#[test]
fn p012_unknown_fields_with_did_you_mean() {
    let yaml = prevention(
        "
        defaultActon: Block
        process:
          - action: Block
            path: [/bin/sh]
            nmae: no-shells
        ",
    );
    let fs = lint(&yaml);
    let v = of(&fs, Code::UnknownField);
    assert_eq!(v.len(), 3, "{}", dump(&fs));
    let f = at_field(&fs, Code::UnknownField, "spec.defaultActon");
    assert_eq!(f.span.unwrap().line, line_of(&yaml, "defaultActon"));
    assert_eq!(f.span.unwrap().col, col_of(&yaml, "defaultActon"));
    assert_eq!(f.help.as_deref(), Some("did you mean `defaultAction`?"));
    assert_eq!(f.message, "unknown field `defaultActon`");
    let f = at_field(&fs, Code::UnknownField, "spec.process[0].path");
    assert_eq!(f.span.unwrap().line, line_of(&yaml, "path: [/bin/sh]"));
    assert_eq!(f.help.as_deref(), Some("did you mean `paths`?"));
    let f = at_field(&fs, Code::UnknownField, "spec.process[0].nmae");
    assert_eq!(f.span.unwrap().line, line_of(&yaml, "nmae"));
    assert_eq!(f.help.as_deref(), Some("did you mean `name`?"));
}

#[test]
fn p012_far_off_field_lists_the_known_fields() {
    let yaml = prevention("zzqqxx: 1");
    let fs = lint(&yaml);
    let f = one_at(&fs, Code::UnknownField, line_of(&yaml, "zzqqxx"), "spec.zzqqxx");
    let help = f.help.as_deref().unwrap();
    assert!(help.starts_with("known fields here: "), "{help}");
    assert!(help.contains("defaultAction") && help.contains("process"), "{help}");
}

#[test]
fn p012_unknown_top_level_field() {
    let yaml = format!("{}stauts: {{}}\n", prevention("mode: Enforce"));
    let fs = lint(&yaml);
    let f = one_at(&fs, Code::UnknownField, line_of(&yaml, "stauts"), "stauts");
    assert_eq!(f.help.as_deref(), Some("did you mean `status`?"));
}

#[test]
fn p012_near_miss_labels_annotations_and_map_keys_are_free_form() {
    let yaml = dedent(
        "
        apiVersion: polc.dev/v1alpha1
        kind: PreventionPolicy
        metadata:
          name: p
          labels: {team: sec, anything-goes: x}
          annotations: {example.com/note: free text}
        spec:
          selector:
            matchLabels: {app: web, defaultActon: looks-like-a-typo-but-is-a-label}
          defaultAction: Allow
          process:
            - name: no-shells
              action: Block
              paths: [/bin/sh]
              severity: high
              message: shell
              tags: [T1059]
        ",
    );
    none(&lint(&yaml), Code::UnknownField);
}

#[test]
fn p013_invalid_and_missing_names() {
    let bad = "apiVersion: polc.dev/v1alpha1\nkind: PreventionPolicy\nmetadata:\n  name: Bad_Name\nspec:\n  selector: {matchLabels: {a: b}}\n";
    let fs = lint(bad);
    let f = one_at(&fs, Code::Metadata, 4, "metadata.name");
    assert_eq!(f.span.unwrap().col, col_of(bad, "Bad_Name"), "points at the value");
    assert!(f.help.is_some());

    let missing = "apiVersion: polc.dev/v1alpha1\nkind: PreventionPolicy\nmetadata:\n  namespace: shop\nspec:\n  selector: {matchLabels: {a: b}}\n";
    let fs = lint(missing);
    let f = one_at(&fs, Code::Metadata, 3, "metadata");
    assert!(f.message.contains("missing"), "{}", f.message);
}

#[test]
fn p013_near_miss_dns_subdomain_names() {
    for name in ["a", "block-shells", "team.block-shells.v2", "0abc9"] {
        let yaml = polc("PreventionPolicy", name, "process: [{action: Block, paths: [/bin/sh]}]");
        none(&lint(&yaml), Code::Metadata);
    }
    let long = "a".repeat(254);
    let yaml = polc("PreventionPolicy", &long, "process: [{action: Block, paths: [/bin/sh]}]");
    one(&lint(&yaml), Code::Metadata);
    // Every dot-separated label starts and ends with a letter or digit.
    for name in ["a..b", "a.-b", "a-.b", ".a", "a."] {
        let yaml = polc("PreventionPolicy", name, "process: [{action: Block, paths: [/bin/sh]}]");
        one(&lint(&yaml), Code::Metadata);
    }
}

/// A policy or a workload defined in two files: one P014, at the second, pointing
/// at the first. The same name for another kind, or in another namespace, is not.
#[test]
fn p014_objects_defined_twice() {
    let policy = prevention("process: [{action: Block, paths: [/bin/sh]}]");
    let other_kind = polc("RuntimePolicy", "p", "baseline: {executables: [/app]}");
    let deploy = hardened_deployment("{app: web}");
    let elsewhere = deploy.replace("namespace: shop", "namespace: other");
    let fs = lint_files(&[
        ("a.yaml", &policy),
        ("b.yaml", &format!("{other_kind}---\n{deploy}")),
        ("c.yaml", &format!("{elsewhere}---\n{policy}")),
        ("d.yaml", &deploy),
    ]);
    let twice = of(&fs, Code::DuplicateObject);
    assert_eq!(twice.len(), 2, "{}", dump(&fs));
    let (p, w) = (twice[0], twice[1]);
    assert_eq!((p.file.as_str(), p.field.as_str()), ("c.yaml", "metadata.name"), "{}", dump(&fs));
    assert_eq!(p.message, "PreventionPolicy shop/p is defined twice");
    assert_eq!(p.related[0].file, "a.yaml");
    assert_eq!(p.related[0].span.map(|s| s.line), Some(line_of(&policy, "name: p")));
    assert_eq!((w.file.as_str(), w.message.as_str()), ("d.yaml", "Deployment shop/web is defined twice"));
    assert_eq!(w.related[0].file, "b.yaml");
    none(&lint_files(&[("a.yaml", &policy), ("b.yaml", &other_kind), ("c.yaml", &elsewhere)]), Code::DuplicateObject);
    // Without metadata.namespace both are `default`, and the message says so.
    let implicit = deploy.replace("  namespace: shop\n", "");
    let fs = lint_files(&[("a.yaml", &implicit), ("b.yaml", &implicit)]);
    assert_eq!(
        one(&fs, Code::DuplicateObject).message,
        "Deployment default/web is defined twice (neither sets metadata.namespace: both are read as `default`)"
    );
    // Objects without a name (generateName) are not one object.
    let unnamed = deploy.replace("  name: web\n", "  generateName: web-\n");
    none(&lint_files(&[("a.yaml", &unnamed), ("b.yaml", &unnamed)]), Code::DuplicateObject);
}

// ---------------------------------------------------------------------------------
// Semantics of one policy: P020-P034, P038
// ---------------------------------------------------------------------------------

#[test]
fn p020_paths_that_can_never_match() {
    let yaml = prevention(
        "
        process:
          - action: Block
            paths:
              - bin/sh
              - /usr/**bin
              - /bin/./sh
              - /bin//sh
              - /bin/[a
            dirs:
              - path: /usr/*/bin
        ",
    );
    let fs = lint(&yaml);
    assert_eq!(of(&fs, Code::InvalidPath).len(), 6, "{}", dump(&fs));
    let f = at_field(&fs, Code::InvalidPath, "spec.process[0].paths[0]");
    assert_eq!(f.span.map(|s| (s.line, s.col)), Some((line_of(&yaml, "- bin/sh"), col_of(&yaml, "bin/sh"))));
    assert!(f.message.contains("not absolute"), "{}", f.message);
    let f = at_field(&fs, Code::InvalidPath, "spec.process[0].paths[1]");
    assert_eq!(f.span.unwrap().line, line_of(&yaml, "/usr/**bin"));
    assert!(f.help.as_deref().unwrap().contains("`/**/`"), "{f:?}");
    let f = at_field(&fs, Code::InvalidPath, "spec.process[0].paths[2]");
    assert_eq!(f.span.unwrap().line, line_of(&yaml, "/bin/./sh"));
    let f = at_field(&fs, Code::InvalidPath, "spec.process[0].paths[3]");
    assert_eq!(f.span.unwrap().line, line_of(&yaml, "/bin//sh"));
    let f = at_field(&fs, Code::InvalidPath, "spec.process[0].paths[4]");
    assert_eq!(f.span.unwrap().line, line_of(&yaml, "/bin/[a"));
    let f = at_field(&fs, Code::InvalidPath, "spec.process[0].dirs[0].path");
    assert_eq!(f.span.unwrap().line, line_of(&yaml, "/usr/*/bin"));
    assert!(f.help.as_deref().unwrap().contains("`paths`"), "{f:?}");
}

#[test]
fn p020_help_for_relative_paths_is_a_plausible_absolute_path() {
    let yaml = prevention(
        "
        process:
          - action: Block
            paths: [bin/sh, usr/bin/python3]
            dirs: [{path: bin}]
        ",
    );
    let fs = lint(&yaml);
    for f in of(&fs, Code::InvalidPath) {
        let help = f.help.as_deref().unwrap_or("");
        assert!(!help.contains("/usr/bin/bin") && !help.contains("/usr/bin/usr/"), "{}", dump(std::slice::from_ref(f)));
    }
}

#[test]
fn p020_near_miss_valid_paths_globs_and_dirs() {
    let yaml = prevention(
        "
        process:
          - action: Block
            paths: [/bin/sh, /usr/bin/python3*, /opt/**/bin/tool, /tmp/[a-z]?]
            dirs: [{path: /usr/local/bin}, {path: /opt/app/, recursive: true}]
        ",
    );
    none(&lint(&yaml), Code::InvalidPath);
}

#[test]
fn p021_matchers_that_match_every_path() {
    let yaml = prevention(
        "
        file:
          - action: Block
            paths: [/**]
          - action: Audit
            dirs: [{path: /, recursive: true}]
        ",
    );
    let fs = lint(&yaml);
    assert_eq!(of(&fs, Code::OverBroad).len(), 2, "{}", dump(&fs));
    let f = at_field(&fs, Code::OverBroad, "spec.file[0].paths[0]");
    assert_eq!(f.span.unwrap().line, line_of(&yaml, "/**"));
    assert_eq!(f.level, Level::Warning);
    let f = at_field(&fs, Code::OverBroad, "spec.file[1].dirs[0].path");
    assert_eq!(f.span.unwrap().line, line_of(&yaml, "recursive: true"));
}

#[test]
fn p021_near_miss_broad_but_not_everything() {
    let yaml = prevention(
        "
        file:
          - action: Block
            paths: [/usr/**, /etc/*]
            dirs: [{path: /}]
        ",
    );
    none(&lint(&yaml), Code::OverBroad);
}

#[test]
fn p022_empty_selector() {
    let yaml = "apiVersion: polc.dev/v1alpha1\nkind: RuntimePolicy\nmetadata: {name: r}\nspec:\n  selector: {}\n  baseline: {executables: [/app/server]}\n";
    let fs = lint(yaml);
    let f = one_at(&fs, Code::EmptySelector, line_of(yaml, "selector"), "spec.selector");
    assert_eq!(f.level, Level::Warning);
    assert!(f.help.is_some());
}

#[test]
fn p022_near_miss_match_expressions_count_as_a_selector() {
    let yaml = "apiVersion: polc.dev/v1alpha1\nkind: RuntimePolicy\nmetadata: {name: r}\nspec:\n  selector:\n    matchExpressions: [{key: app, operator: Exists}]\n  baseline: {executables: [/app/server]}\n";
    none(&lint(yaml), Code::EmptySelector);
}

#[test]
fn p023_invalid_selector_expressions() {
    let yaml = dedent(
        "
        apiVersion: polc.dev/v1alpha1
        kind: PreventionPolicy
        metadata: {name: p}
        spec:
          selector:
            matchExpressions:
              - key: app
                operator: In
              - key: tier
                operator: Exist
              - key: team
                operator: Exists
                values: [a]
          process: [{action: Block, paths: [/bin/sh]}]
        ",
    );
    let fs = lint(&yaml);
    assert_eq!(of(&fs, Code::InvalidSelector).len(), 3, "{}", dump(&fs));
    let f = at_field(&fs, Code::InvalidSelector, "spec.selector.matchExpressions[0].operator");
    assert_eq!(f.span.unwrap().line, line_of(&yaml, "operator: In"));
    assert!(f.message.contains("needs at least one value"), "{}", f.message);
    let f = at_field(&fs, Code::InvalidSelector, "spec.selector.matchExpressions[1].operator");
    assert_eq!(f.span.unwrap().line, line_of(&yaml, "key: tier") + 1);
    assert!(f.message.contains("unknown operator `Exist`"), "{}", f.message);
    let f = at_field(&fs, Code::InvalidSelector, "spec.selector.matchExpressions[2].operator");
    assert_eq!(f.span.unwrap().line, line_of(&yaml, "operator: Exists"));
    assert!(f.message.contains("takes no values"), "{}", f.message);
}

#[test]
fn p023_in_network_peer_selectors() {
    let yaml = polc(
        "NetworkAccessPolicy",
        "n",
        "
        egress:
          - action: Allow
            peers:
              - pods:
                  matchExpressions:
                    - {key: app, operator: NotIn}
        ",
    );
    let fs = lint(&yaml);
    one_at(
        &fs,
        Code::InvalidSelector,
        line_of(&yaml, "NotIn"),
        "spec.egress[0].peers[0].pods.matchExpressions[0].operator",
    );
}

#[test]
fn p023_near_miss_all_four_operators_used_right() {
    let yaml = dedent(
        "
        apiVersion: polc.dev/v1alpha1
        kind: PreventionPolicy
        metadata: {name: p}
        spec:
          selector:
            matchExpressions:
              - {key: a, operator: In, values: [x]}
              - {key: b, operator: NotIn, values: [y]}
              - {key: c, operator: Exists}
              - {key: d, operator: DoesNotExist}
          process: [{action: Block, paths: [/bin/sh]}]
        ",
    );
    none(&lint(&yaml), Code::InvalidSelector);
}

// ---- precedence: P024-P028 ----

#[test]
fn p024_duplicate_rule() {
    let yaml = prevention(
        "
        process:
          - name: first
            action: Block
            paths: [/bin/sh]
          - name: again
            action: Block
            paths: [/bin/dash, /bin/sh]
        ",
    );
    let fs = lint(&yaml);
    let f = one_at(&fs, Code::DuplicateRule, line_of(&yaml, "[/bin/dash, /bin/sh]"), "spec.process[1].paths[1]");
    assert_eq!(f.span.unwrap().col, col_on(&yaml, "/bin/dash", "/bin/sh"));
    assert!(f.message.contains("rule `first`"), "{}", f.message);
    assert_eq!(f.related.len(), 1);
    assert_eq!(f.related[0].span.map(|s| s.line), Some(line_of(&yaml, "paths: [/bin/sh]")));
    assert_eq!(f.related[0].file, FILE);
    assert_eq!(f.object.as_deref(), Some("PreventionPolicy shop/p"));
    none(&fs, Code::Contradiction);
    none(&fs, Code::ShadowedRule);
}

#[test]
fn p024_near_miss_same_path_under_different_conditions() {
    let yaml = prevention(
        "
        process:
          - action: Block
            paths: [/bin/sh]
            fromParents: [/usr/bin/python3]
          - action: Block
            paths: [/bin/sh]
            fromParents: [/usr/sbin/nginx]
        file:
          - action: Block
            paths: [/etc/shadow]
            access: [Read]
          - action: Block
            paths: [/etc/shadow]
            access: [Write]
        ",
    );
    let fs = lint(&yaml);
    none(&fs, Code::DuplicateRule);
    none(&fs, Code::ShadowedRule);
    none(&fs, Code::Contradiction);
}

#[test]
fn p025_shadowed_by_a_more_specific_covering_rule() {
    let yaml = prevention(
        "
        process:
          - name: opt-dir
            action: Audit
            dirs: [{path: /opt/app}]
          - name: opt-glob
            action: Block
            paths: [/opt/app/*]
        ",
    );
    let fs = lint(&yaml);
    let f = one_at(&fs, Code::ShadowedRule, line_of(&yaml, "{path: /opt/app}"), "spec.process[0].dirs[0].path");
    assert_eq!(f.level, Level::Warning);
    assert!(f.message.contains("rule `opt-glob`"), "{}", f.message);
    assert_eq!(f.related[0].span.map(|s| s.line), Some(line_of(&yaml, "/opt/app/*")));
}

#[test]
fn p025_shadowed_by_covering_access_parents_and_ports() {
    let yaml = prevention(
        "
        file:
          - action: Block
            paths: [/etc/shadow]
          - action: Audit
            paths: [/etc/shadow]
            access: [Read]
        process:
          - action: Block
            paths: [/bin/sh]
            fromParents: [/usr/bin/*]
          - action: Audit
            paths: [/bin/sh]
            fromParents: [/usr/bin/python3]
        network:
          - action: Block
            cidrs: [10.0.0.0/8]
            ports: [{port: 1, endPort: 1024}]
          - action: Audit
            cidrs: [10.0.0.0/8]
            ports: [{port: 400, endPort: 500}]
        ",
    );
    let fs = lint(&yaml);
    assert_eq!(of(&fs, Code::ShadowedRule).len(), 3, "{}", dump(&fs));
    // Block of both access kinds covers the Read-only Audit.
    let f = at_field(&fs, Code::ShadowedRule, "spec.file[1].paths[0]");
    assert_eq!(f.related[0].span.unwrap().line, f.span.unwrap().line - 2);
    // A parent glob covers the single parent.
    at_field(&fs, Code::ShadowedRule, "spec.process[1].paths[0]");
    // Ports 1-1024 cover 400-500 on the same network.
    let f = at_field(&fs, Code::ShadowedRule, "spec.network[1].cidrs[0]");
    assert_eq!(f.span.unwrap().line, line_of(&yaml, "port: 400") - 1);
}

#[test]
fn p025_near_miss_conditions_that_prevent_shadowing() {
    let yaml = prevention(
        "
        file:
          # Write access to /etc/shadow is still decided by the Audit rule.
          - action: Block
            paths: [/etc/shadow]
            access: [Read]
          - action: Audit
            paths: [/etc/shadow]
        process:
          # A rule with a parent condition is more specific than one without it.
          - action: Block
            paths: [/bin/sh]
          - action: Allow
            paths: [/bin/sh]
            fromParents: [/usr/bin/python3]
          # A parent condition narrower than the other rule's does not cover it.
          - action: Block
            paths: [/bin/bash]
            fromParents: [/usr/bin/python3]
          - action: Audit
            paths: [/bin/bash]
            fromParents: [/usr/bin/*]
        network:
          # Disjoint ports and protocols.
          - action: Block
            cidrs: [10.0.0.0/8]
            ports: [{port: 53, protocol: TCP}]
          - action: Allow
            cidrs: [10.0.0.0/8]
            ports: [{port: 53, protocol: UDP}]
          # A single port is more specific than any port.
          - action: Block
            cidrs: [192.168.0.0/16]
          - action: Allow
            cidrs: [192.168.0.0/16]
            ports: [{port: 443}]
          # A longer prefix wins.
          - action: Block
            cidrs: [172.16.0.0/12]
          - action: Audit
            cidrs: [172.16.1.0/24]
        ",
    );
    let fs = lint(&yaml);
    for c in [Code::ShadowedRule, Code::Contradiction, Code::BlockUnreachable, Code::DuplicateRule] {
        none(&fs, c);
    }
}

#[test]
fn p026_contradiction_reports_the_weaker_action() {
    let yaml = prevention(
        "
        process:
          - name: allow-bash
            action: Allow
            paths: [/bin/bash]
          - name: block-bash
            action: Block
            paths: [/bin/bash]
        ",
    );
    let fs = lint(&yaml);
    let f = one_at(&fs, Code::Contradiction, line_of(&yaml, "action: Allow") + 1, "spec.process[0].paths[0]");
    assert_eq!(f.level, Level::Error);
    assert!(f.message.contains("Block wins"), "{}", f.message);
    assert!(f.message.contains("rule `block-bash`"), "{}", f.message);
    assert_eq!(f.related[0].span.unwrap().line, line_of(&yaml, "action: Block") + 1);
    none(&fs, Code::ShadowedRule);
}

#[test]
fn p026_contradiction_in_network_and_capabilities() {
    let yaml = prevention(
        "
        network:
          - action: Audit
            cidrs: [169.254.169.254/32]
            ports: [{port: 80}]
          - action: Block
            cidrs: [169.254.169.254/32]
            ports: [{port: 80}]
        capabilities:
          - action: Block
            capabilities: [SYS_ADMIN]
          - action: Allow
            capabilities: [CAP_SYS_ADMIN]
        ",
    );
    let fs = lint(&yaml);
    assert_eq!(of(&fs, Code::Contradiction).len(), 2, "{}", dump(&fs));
    let f = at_field(&fs, Code::Contradiction, "spec.network[0].cidrs[0]");
    assert_eq!(f.span.unwrap().line, line_of(&yaml, "action: Audit") + 1);
    let f = at_field(&fs, Code::Contradiction, "spec.capabilities[1].capabilities[0]");
    assert_eq!(f.span.unwrap().line, line_of(&yaml, "CAP_SYS_ADMIN"));
}

#[test]
fn p026_near_miss_different_access_kinds() {
    let yaml = prevention(
        "
        file:
          - action: Allow
            paths: [/var/log/app.log]
            access: [Write]
          - action: Block
            paths: [/var/log/app.log]
            access: [Read]
        ",
    );
    none(&lint(&yaml), Code::Contradiction);
}

#[test]
fn p027_block_unreachable_behind_a_more_specific_allow() {
    let yaml = prevention(
        "
        process:
          - name: allow-local
            action: Allow
            paths: [/usr/local/bin/**]
          - name: block-local
            action: Block
            dirs: [{path: /usr/local/bin, recursive: true}]
        ",
    );
    let fs = lint(&yaml);
    let f = one_at(&fs, Code::BlockUnreachable, line_of(&yaml, "recursive: true"), "spec.process[1].dirs[0].path");
    assert_eq!(f.level, Level::Error);
    assert!(f.message.contains("rule `allow-local`"), "{}", f.message);
    assert_eq!(f.related[0].span.unwrap().line, line_of(&yaml, "/usr/local/bin/**"));
    none(&fs, Code::ShadowedRule);
}

#[test]
fn p027_near_miss_allow_that_covers_only_part_of_the_block() {
    let yaml = prevention(
        "
        process:
          - action: Allow
            paths: [/usr/local/bin/*]
          - action: Block
            dirs: [{path: /usr/local/bin, recursive: true}]
          - action: Allow
            paths: [/usr/bin/python3]
            fromParents: [/app/server]
          - action: Block
            paths: [/usr/bin/python3]
        ",
    );
    let fs = lint(&yaml);
    none(&fs, Code::BlockUnreachable);
    none(&fs, Code::ShadowedRule);
}

#[test]
fn p028_rule_with_the_default_action_is_redundant() {
    let yaml = prevention(
        "
        defaultAction: Block
        process:
          - name: no-sh
            action: Block
            paths: [/bin/sh]
          - name: server
            action: Allow
            paths: [/app/server]
        ",
    );
    let fs = lint(&yaml);
    let f = one_at(&fs, Code::RedundantRule, line_of(&yaml, "[/bin/sh]"), "spec.process[0].paths[0]");
    assert_eq!(f.level, Level::Note);
    assert!(f.message.contains("default action Block"), "{}", f.message);
}

#[test]
fn p028_runtime_baselines_are_never_redundant() {
    // Baseline entries are Allow and the section default is onAnomaly (never Allow).
    let yaml = polc("RuntimePolicy", "r", "onAnomaly: Block\nbaseline: {executables: [/app/server], syscalls: [read]}");
    none(&lint(&yaml), Code::RedundantRule);
}

#[test]
fn p028_near_miss_rules_that_change_a_decision() {
    let yaml = prevention(
        "
        defaultAction: Block
        process:
          - action: Allow
            paths: [/app/*]
          - action: Block
            paths: [/app/secret-tool]
        file:
          - action: Block
            paths: [/etc/shadow]
        ",
    );
    let fs = lint(&yaml);
    // The Block of /app/secret-tool overrides the broader Allow, so it is not reported;
    // the file Block (defaultAction applies to every section with rules) is.
    one_at(&fs, Code::RedundantRule, line_of(&yaml, "/etc/shadow"), "spec.file[0].paths[0]");
    // With defaultAction Allow (the default) a Block is never redundant.
    let yaml = prevention("process: [{action: Block, paths: [/bin/sh]}]");
    none(&lint(&yaml), Code::RedundantRule);
}

#[test]
fn p028_not_reported_for_a_rule_that_beats_an_overlapping_rule() {
    let yaml = prevention(
        "
        process:
          - action: Block
            paths: [/usr/bin/*]
          - action: Allow
            paths: [/usr/bin/python*]
        ",
    );
    // /usr/bin/python3 is allowed only because the Allow glob is more specific than the
    // Block glob; without it, python is blocked. It is not redundant.
    none(&lint(&yaml), Code::RedundantRule);
}

#[test]
fn p028_reported_for_a_default_action_rule_that_only_loses() {
    let yaml = prevention(
        "
        defaultAction: Block
        process:
          - action: Allow
            paths: [/app/server]
          - action: Block
            paths: [/app/*]
        ",
    );
    // /app/server: the exact Allow wins either way; every other /app/x is blocked by
    // the default without the glob. Removing the glob changes nothing.
    let fs = lint(&yaml);
    at_field(&fs, Code::RedundantRule, "spec.process[1].paths[0]");
}

#[test]
fn p029_rules_with_nothing_to_match() {
    let yaml = prevention(
        "
        process:
          - action: Block
            fromParents: [/bin/sh]
        file:
          - action: Audit
            access: [Read]
        network:
          - action: Block
            direction: Ingress
        ",
    );
    let fs = lint(&yaml);
    assert_eq!(of(&fs, Code::EmptyRule).len(), 3, "{}", dump(&fs));
    let f = at_field(&fs, Code::EmptyRule, "spec.process[0]");
    assert_eq!(f.span.unwrap().line, line_of(&yaml, "fromParents") - 1);
    assert!(f.message.contains("`paths`, `dirs` or `comms`"), "{}", f.message);
    let f = at_field(&fs, Code::EmptyRule, "spec.file[0]");
    assert_eq!(f.span.unwrap().line, line_of(&yaml, "action: Audit"));
    let f = at_field(&fs, Code::EmptyRule, "spec.network[0]");
    assert!(f.message.contains("rawSockets"), "{}", f.message);
}

#[test]
fn p029_points_at_the_start_of_the_rule() {
    let yaml = prevention("process:\n  - action: Block\n");
    let fs = lint(&yaml);
    let f = one(&fs, Code::EmptyRule);
    assert_eq!(f.span.map(|s| (s.line, s.col)), Some((line_of(&yaml, "- action"), col_of(&yaml, "action"))));
}

#[test]
fn p029_near_miss_one_matcher_is_enough() {
    let yaml = prevention(
        "
        process:
          - action: Block
            comms: [nc]
        file:
          - action: Audit
            dirs: [{path: /etc/ssh}]
        network:
          - action: Block
            ports: [{port: 25}]
          - action: Block
            rawSockets: true
        ",
    );
    none(&lint(&yaml), Code::EmptyRule);
}

#[test]
fn p030_invalid_cidrs_and_host_bits() {
    let yaml = prevention(
        "
        network:
          - action: Block
            cidrs:
              - 10.0.0/8
              - ::1/129
              - 10.0.0.1/8
        ",
    );
    let fs = lint(&yaml);
    assert_eq!(of(&fs, Code::InvalidCidr).len(), 3, "{}", dump(&fs));
    let f = at_field(&fs, Code::InvalidCidr, "spec.network[0].cidrs[0]");
    assert_eq!((f.span.unwrap().line, f.level), (line_of(&yaml, "10.0.0/8"), Level::Error));
    let f = at_field(&fs, Code::InvalidCidr, "spec.network[0].cidrs[1]");
    assert_eq!((f.span.unwrap().line, f.level), (line_of(&yaml, "::1/129"), Level::Error));
    assert!(f.message.contains("128"), "{}", f.message);
    // Host bits set: a warning that says what it means.
    let f = at_field(&fs, Code::InvalidCidr, "spec.network[0].cidrs[2]");
    assert_eq!((f.span.unwrap().line, f.level), (line_of(&yaml, "10.0.0.1/8"), Level::Warning));
    assert_eq!(f.help.as_deref(), Some("write `10.0.0.0/8`"));
}

#[test]
fn p030_in_runtime_baseline_and_network_peers() {
    let yaml = polc("RuntimePolicy", "r", "baseline:\n  egress:\n    - cidr: 10.1.2.3/16\n");
    one_at(&lint(&yaml), Code::InvalidCidr, line_of(&yaml, "10.1.2.3/16"), "spec.baseline.egress[0].cidr");
    let yaml = polc("NetworkAccessPolicy", "n", "egress:\n  - action: Allow\n    peers:\n      - cidr: 300.0.0.0/8\n");
    one_at(&lint(&yaml), Code::InvalidCidr, line_of(&yaml, "300.0.0.0/8"), "spec.egress[0].peers[0].cidr");
}

#[test]
fn p030_near_miss_valid_cidrs_and_bare_addresses() {
    let yaml = prevention(
        "
        network:
          - action: Block
            cidrs: [10.0.0.0/8, 169.254.169.254, 0.0.0.0/0, 2001:db8::/32, fd00:ec2::254]
        ",
    );
    none(&lint(&yaml), Code::InvalidCidr);
}

#[test]
fn p031_things_that_can_never_match() {
    let yaml = prevention(
        "
        process:
          - action: Block
            comms: [averyveryverylongname]
        network:
          - action: Block
            ports: [{port: 90, endPort: 80}]
        ",
    );
    let fs = lint(&yaml);
    assert_eq!(of(&fs, Code::NeverMatches).len(), 2, "{}", dump(&fs));
    let f = at_field(&fs, Code::NeverMatches, "spec.process[0].comms[0]");
    assert_eq!(f.span.unwrap().line, line_of(&yaml, "averyveryverylongname"));
    assert!(f.message.contains("15 bytes"), "{}", f.message);
    let f = at_field(&fs, Code::NeverMatches, "spec.network[0].ports[0].endPort");
    assert_eq!(f.span.unwrap().line, line_of(&yaml, "endPort: 80"));
    assert_eq!(f.span.unwrap().col, col_of(&yaml, "80}"));
}

#[test]
fn p031_network_peers_that_can_never_match() {
    let yaml = polc(
        "NetworkAccessPolicy",
        "n",
        "
        egress:
          - action: Allow
            peers:
              - cidr: 10.0.0.0/8
                except: [10.1.0.0/16, 192.168.0.0/16]
              - cidr: 10.0.0.0/8
                fqdn: x.example.com
        ingress:
          - action: Allow
            peers:
              - fqdn: y.example.com
        ",
    );
    let fs = lint(&yaml);
    assert_eq!(of(&fs, Code::NeverMatches).len(), 3, "{}", dump(&fs));
    let f = at_field(&fs, Code::NeverMatches, "spec.egress[0].peers[0].except[1]");
    assert_eq!(f.span.unwrap().line, line_of(&yaml, "192.168.0.0/16"));
    let f = at_field(&fs, Code::NeverMatches, "spec.egress[0].peers[1]");
    assert_eq!(f.span.unwrap().line, line_of(&yaml, "fqdn: x.example.com") - 1);
    assert!(f.message.contains("cidr and fqdn"), "{}", f.message);
    let f = at_field(&fs, Code::NeverMatches, "spec.ingress[0].peers[0].fqdn");
    assert_eq!(f.span.unwrap().line, line_of(&yaml, "y.example.com"));
}

#[test]
fn p031_near_miss_at_the_limits() {
    let yaml = prevention(
        "
        process:
          - action: Block
            comms: [exactly15bytes_]
        network:
          - action: Block
            ports: [{port: 80, endPort: 80}]
        ",
    );
    none(&lint(&yaml), Code::NeverMatches);
    let yaml = polc(
        "NetworkAccessPolicy",
        "n",
        "egress:\n  - action: Allow\n    peers:\n      - cidr: 10.0.0.0/8\n        except: [10.1.0.0/16]\n      - entity: kube-apiserver\n",
    );
    none(&lint(&yaml), Code::NeverMatches);
}

#[test]
fn p032_unknown_capabilities_and_syscalls_with_did_you_mean() {
    let yaml = prevention("capabilities:\n  - action: Block\n    capabilities: [SYS_ADMN]\n");
    let fs = lint(&yaml);
    let f = one_at(&fs, Code::UnknownName, line_of(&yaml, "SYS_ADMN"), "spec.capabilities[0].capabilities[0]");
    assert_eq!(f.help.as_deref(), Some("did you mean `SYS_ADMIN`?"));

    let yaml = polc("RuntimePolicy", "r", "baseline:\n  syscalls: [read, opneat]\n  capabilities: [CHWON]\n");
    let fs = lint(&yaml);
    assert_eq!(of(&fs, Code::UnknownName).len(), 2, "{}", dump(&fs));
    let f = at_field(&fs, Code::UnknownName, "spec.baseline.syscalls[1]");
    assert_eq!(f.span.unwrap().line, line_of(&yaml, "opneat"));
    assert_eq!(f.help.as_deref(), Some("did you mean `openat`?"));
    let f = at_field(&fs, Code::UnknownName, "spec.baseline.capabilities[0]");
    assert_eq!(f.help.as_deref(), Some("did you mean `CHOWN`?"));
}

#[test]
fn p032_near_miss_prefix_and_case_are_accepted() {
    let yaml = prevention("capabilities:\n  - action: Block\n    capabilities: [CAP_NET_RAW, net_admin, SYS_PTRACE]\n");
    none(&lint(&yaml), Code::UnknownName);
    let yaml = polc("RuntimePolicy", "r", "baseline:\n  syscalls: [openat, execve, clone3]\n");
    none(&lint(&yaml), Code::UnknownName);
}

#[test]
fn p033_duplicate_rule_names() {
    let yaml = prevention(
        "
        process:
          - name: shells
            action: Block
            paths: [/bin/sh]
        file:
          - name: shells
            action: Block
            paths: [/etc/shadow]
        ",
    );
    let fs = lint(&yaml);
    let f = one_at(&fs, Code::DuplicateRuleName, line_of(&yaml, "[/etc/shadow]") - 2, "spec.file[0].name");
    let first = line_of(&yaml, "[/bin/sh]") - 2;
    assert!(f.message.contains(&format!("line {first}")), "{}", f.message);
}

#[test]
fn p033_explicit_name_colliding_with_a_default_name() {
    let yaml = prevention(
        "
        process:
          - name: process-1
            action: Block
            paths: [/bin/sh]
          - action: Audit
            paths: [/usr/bin/curl]
        ",
    );
    one(&lint(&yaml), Code::DuplicateRuleName);
}

#[test]
fn p033_near_miss_unique_names_and_one_rule_with_several_entries() {
    let yaml = prevention(
        "
        process:
          - name: shells
            action: Block
            paths: [/bin/sh, /bin/bash]
            comms: [sh]
          - name: tools
            action: Audit
            paths: [/usr/bin/curl]
          - action: Audit
            paths: [/usr/bin/wget]
        ",
    );
    none(&lint(&yaml), Code::DuplicateRuleName);
}

#[test]
fn p034_http_rules_need_allow_and_ports() {
    let yaml = polc(
        "NetworkAccessPolicy",
        "n",
        "
        egress:
          - action: Block
            ports: [{port: 80}]
            http: [{method: POST}]
          - action: Allow
            http: [{method: GET}]
        ",
    );
    let fs = lint(&yaml);
    assert_eq!(of(&fs, Code::HttpRule).len(), 2, "{}", dump(&fs));
    let f = at_field(&fs, Code::HttpRule, "spec.egress[0].http");
    assert_eq!(f.span.unwrap().line, line_of(&yaml, "POST"));
    let f = at_field(&fs, Code::HttpRule, "spec.egress[1].http");
    assert_eq!(f.span.unwrap().line, line_of(&yaml, "GET"));
}

#[test]
fn p034_near_miss_allow_with_ports() {
    let yaml = polc(
        "NetworkAccessPolicy",
        "n",
        "egress:\n  - action: Allow\n    ports: [{port: 8080}]\n    http: [{method: GET, path: /api/.*}]\n",
    );
    none(&lint(&yaml), Code::HttpRule);
}

#[test]
fn p038_invalid_fqdns() {
    let yaml = polc(
        "NetworkAccessPolicy",
        "n",
        "egress:\n  - action: Allow\n    peers:\n      - fqdn: API.Example.com\n      - fqdn: bad_name.example.com\n",
    );
    let fs = lint(&yaml);
    assert_eq!(of(&fs, Code::InvalidFqdn).len(), 2, "{}", dump(&fs));
    let f = at_field(&fs, Code::InvalidFqdn, "spec.egress[0].peers[0].fqdn");
    assert_eq!(f.span.map(|s| (s.line, s.col)), Some((line_of(&yaml, "API."), col_of(&yaml, "API."))));
    let f = at_field(&fs, Code::InvalidFqdn, "spec.egress[0].peers[1].fqdn");
    assert_eq!(f.span.unwrap().line, line_of(&yaml, "bad_name"));
}

#[test]
fn p038_near_miss_names_and_patterns() {
    let yaml = polc(
        "NetworkAccessPolicy",
        "n",
        "egress:\n  - action: Allow\n    peers:\n      - fqdn: api.example.com\n      - fqdn: \"*.example.com\"\n      - fqdn: example.com.\n      - fqdn: a-1.b-2.io\n",
    );
    none(&lint(&yaml), Code::InvalidFqdn);
}

// ---------------------------------------------------------------------------------
// Coverage and cross-policy checks: P035-P037, P040
// ---------------------------------------------------------------------------------

#[test]
fn p035_policy_that_selects_no_linted_workload() {
    // The selector matches the Deployment's own labels, not its pod template's.
    let deploy =
        hardened_deployment("{app: web-pod}").replace("namespace: shop\n", "namespace: shop\n  labels: {app: web}\n");
    let policy = prevention("process: [{action: Block, paths: [/bin/sh]}]");
    let fs = lint_files(&[("deploy.yaml", &deploy), ("policy.yaml", &policy)]);
    let f = one_at(&fs, Code::SelectsNothing, line_of(&policy, "selector:"), "spec.selector");
    assert_eq!(f.file, "policy.yaml");
    assert!(f.message.contains("namespace `shop`"), "{}", f.message);
    assert!(f.help.as_deref().unwrap().contains("spec.template.metadata.labels"), "{f:?}");
}

#[test]
fn p035_near_miss_pod_template_labels_or_no_workloads_in_the_namespace() {
    let policy = prevention("process: [{action: Block, paths: [/bin/sh]}]");
    let deploy = hardened_deployment("{app: web, tier: front}");
    none(&lint_files(&[("deploy.yaml", &deploy), ("policy.yaml", &policy)]), Code::SelectsNothing);
    // Workloads in another namespace say nothing about this one.
    let other = deploy.replace("namespace: shop", "namespace: other");
    none(&lint_files(&[("deploy.yaml", &other), ("policy.yaml", &policy)]), Code::SelectsNothing);
    // No workloads at all: coverage is not checked.
    none(&lint(&policy), Code::SelectsNothing);
}

/// A Deployment with two containers, `web` and `debug`, labelled `app: web`.
fn two_container_deployment() -> String {
    dedent(
        "
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
          namespace: shop
        spec:
          template:
            metadata:
              labels: {app: web, tier: front}
            spec:
              securityContext:
                seccompProfile: {type: RuntimeDefault}
              containers:
                - name: web
                  image: nginx
                  securityContext: {allowPrivilegeEscalation: false}
                - name: debug
                  image: busybox
                  securityContext: {allowPrivilegeEscalation: false}
        ",
    )
}

#[test]
fn p036_conflict_between_two_policies_selecting_the_same_deployment() {
    let team = polc(
        "PreventionPolicy",
        "team",
        "
        process:
          - name: allow-sh
            action: Allow
            paths: [/bin/sh]
        ",
    );
    let platform = polc(
        "PreventionPolicy",
        "platform",
        "
        process:
          - name: no-shells
            action: Block
            paths: [/bin/sh]
        ",
    )
    .replace("{app: web}", "{tier: front}");
    let deploy = two_container_deployment();
    let fs = lint_files(&[("deploy.yaml", &deploy), ("team.yaml", &team), ("platform.yaml", &platform)]);
    let f = one_at(&fs, Code::CrossPolicyConflict, line_of(&team, "[/bin/sh]"), "spec.process[0].paths[0]");
    assert_eq!(f.file, "team.yaml");
    assert_eq!(f.level, Level::Warning);
    assert_eq!(f.object.as_deref(), Some("PreventionPolicy shop/team"));
    assert!(f.message.contains("rule `no-shells` of PreventionPolicy shop/platform"), "{}", f.message);
    assert!(f.message.contains("(for Deployment shop/web, container web)"), "{}", f.message);
    assert_eq!(f.related.len(), 1);
    assert_eq!(f.related[0].file, "platform.yaml");
    assert_eq!(f.related[0].span.map(|s| s.line), Some(line_of(&platform, "[/bin/sh]")));
    // Within each policy, nothing is wrong.
    none(&fs, Code::Contradiction);
}

#[test]
fn p036_near_miss_policies_that_never_meet_on_a_workload() {
    let team = polc("PreventionPolicy", "team", "process: [{action: Allow, paths: [/bin/sh]}]");
    let db = polc("PreventionPolicy", "db", "process: [{action: Block, paths: [/bin/sh]}]")
        .replace("{app: web}", "{app: db}");
    let deploy = two_container_deployment();
    // Different selectors: only `team` applies to the Deployment.
    none(&lint_files(&[("deploy.yaml", &deploy), ("team.yaml", &team), ("db.yaml", &db)]), Code::CrossPolicyConflict);
    // Same selector, but no workload is linted, so no workload has both.
    let db_web = db.replace("{app: db}", "{app: web}");
    none(&lint_files(&[("team.yaml", &team), ("db.yaml", &db_web)]), Code::CrossPolicyConflict);
    // Same workload, but the rules do not overlap.
    let other = db_web.replace("/bin/sh", "/bin/bash");
    none(
        &lint_files(&[("deploy.yaml", &deploy), ("team.yaml", &team), ("db.yaml", &other)]),
        Code::CrossPolicyConflict,
    );
}

#[test]
fn p036_not_reported_for_policies_on_different_containers() {
    let web = polc("PreventionPolicy", "web-only", "containers: [web]\nprocess: [{action: Block, paths: [/bin/sh]}]");
    let debug =
        polc("PreventionPolicy", "debug-only", "containers: [debug]\nprocess: [{action: Audit, paths: [/bin/sh]}]");
    let deploy = two_container_deployment();
    none(
        &lint_files(&[("deploy.yaml", &deploy), ("web.yaml", &web), ("debug.yaml", &debug)]),
        Code::CrossPolicyConflict,
    );
}

#[test]
fn p037_container_name_no_selected_workload_has() {
    let policy = prevention("containers: [web, sidecarr]\nprocess: [{action: Block, paths: [/bin/sh]}]");
    let deploy = two_container_deployment();
    let fs = lint_files(&[("deploy.yaml", &deploy), ("policy.yaml", &policy)]);
    let f = one_at(&fs, Code::UnknownContainer, line_of(&policy, "sidecarr"), "spec.containers[1]");
    assert_eq!(f.span.unwrap().col, col_of(&policy, "sidecarr"));
    assert!(f.message.contains("`sidecarr`"), "{}", f.message);
    none(&fs, Code::SelectsNothing);
}

#[test]
fn p037_reported_when_the_only_container_is_misspelt() {
    let policy = prevention("containers: [ngnix]\nprocess: [{action: Block, paths: [/bin/sh]}]");
    let deploy = hardened_deployment("{app: web}");
    let fs = lint_files(&[("deploy.yaml", &deploy), ("policy.yaml", &policy)]);
    one_at(&fs, Code::UnknownContainer, line_of(&policy, "ngnix"), "spec.containers[0]");
}

#[test]
fn p037_near_miss_container_names_that_exist() {
    let policy = prevention("containers: [web, debug]\nprocess: [{action: Block, paths: [/bin/sh]}]");
    let deploy = two_container_deployment();
    let fs = lint_files(&[("deploy.yaml", &deploy), ("policy.yaml", &policy)]);
    none(&fs, Code::UnknownContainer);
    // A container of a workload that the selector does not match does not count.
    let policy = prevention("containers: [web]\nprocess: [{action: Block, paths: [/bin/sh]}]");
    none(&lint(&policy), Code::UnknownContainer);
}

#[test]
fn p040_workload_that_no_policy_selects() {
    let deploy = hardened_deployment("{app: web}");
    let fs = lint_files(&[("deploy.yaml", &deploy)]);
    let f = one_at(&fs, Code::Unselected, line_of(&deploy, "namespace: shop") - 1, "metadata.name");
    assert_eq!(f.level, Level::Warning);
    assert_eq!(f.object.as_deref(), Some("Deployment shop/web"));
    // A NetworkAccessPolicy does not contain a workload at runtime.
    let nap = polc("NetworkAccessPolicy", "n", "egress: [{action: Allow, peers: [{fqdn: api.example.com}]}]");
    let fs = lint_files(&[("deploy.yaml", &deploy), ("nap.yaml", &nap)]);
    one(&fs, Code::Unselected);
    none(&fs, Code::SelectsNothing);
}

#[test]
fn p040_near_miss_selected_by_prevention_or_runtime_policy() {
    let deploy = hardened_deployment("{app: web}");
    for policy in [
        prevention("process: [{action: Block, paths: [/bin/sh]}]"),
        polc("RuntimePolicy", "r", "baseline: {executables: [/usr/sbin/nginx]}"),
    ] {
        let fs = lint_files(&[("deploy.yaml", &deploy), ("policy.yaml", &policy)]);
        assert!(codes(&fs).iter().all(|c| !c.starts_with("P04")), "{}", dump(&fs));
    }
}

// ---------------------------------------------------------------------------------
// Posture: P041-P045
// ---------------------------------------------------------------------------------

fn risky_deployment() -> String {
    dedent(
        "
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
          namespace: shop
        spec:
          template:
            metadata:
              labels: {app: web}
            spec:
              hostPID: true
              hostNetwork: false
              volumes:
                - name: sock
                  hostPath: {path: /var/run/docker.sock}
                - name: data
                  hostPath: {path: /data}
              containers:
                - name: web
                  image: nginx
                  securityContext:
                    privileged: true
                    allowPrivilegeEscalation: true
                - name: sidecar
                  image: envoy
                  securityContext:
                    allowPrivilegeEscalation: false
                    seccompProfile: {type: RuntimeDefault}
                - name: plain
                  image: busybox
        ",
    )
}

const POSTURE: [Code; 5] =
    [Code::Privileged, Code::HostNamespaces, Code::SensitiveHostPath, Code::PrivilegeEscalation, Code::NoSeccomp];

#[track_caller]
fn check_posture(fs: &[Finding], deploy: &str, level: Level) {
    let file: Vec<Finding> = fs.iter().filter(|f| f.file == "deploy.yaml").cloned().collect();
    let f = one_at(
        &file,
        Code::Privileged,
        line_of(deploy, "privileged: true"),
        "spec.template.spec.containers[0].securityContext.privileged",
    );
    assert!(f.message.contains("`web`"), "{}", f.message);
    one_at(&file, Code::HostNamespaces, line_of(deploy, "hostPID"), "spec.template.spec.hostPID");
    one_at(
        &file,
        Code::SensitiveHostPath,
        line_of(deploy, "docker.sock"),
        "spec.template.spec.volumes[0].hostPath.path",
    );
    let esc = of(&file, Code::PrivilegeEscalation);
    assert_eq!(esc.len(), 2, "{}", dump(&file));
    assert_at(
        esc[0],
        line_of(deploy, "allowPrivilegeEscalation: true"),
        "spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation",
    );
    assert_at(esc[1], line_of(deploy, "name: plain"), "spec.template.spec.containers[2].name");
    assert!(esc[1].message.contains("does not set"), "{}", esc[1].message);
    let sec = of(&file, Code::NoSeccomp);
    assert_eq!(sec.len(), 2, "{}", dump(&file));
    assert_at(sec[0], line_of(deploy, "- name: web"), "spec.template.spec.containers[0].name");
    assert_at(sec[1], line_of(deploy, "name: plain"), "spec.template.spec.containers[2].name");
    for f in file.iter().filter(|f| POSTURE.contains(&f.code)) {
        assert_eq!(f.level, level, "{}", dump(std::slice::from_ref(f)));
        assert_eq!(f.object.as_deref(), Some("Deployment shop/web"));
        assert_eq!(f.message.contains("(contained by a polc policy)"), level == Level::Note, "{}", f.message);
    }
}

#[test]
fn p041_to_p045_are_warnings_when_no_policy_selects_the_workload() {
    let deploy = risky_deployment();
    let fs = lint_files(&[("deploy.yaml", &deploy)]);
    check_posture(&fs, &deploy, Level::Warning);
    one(&fs, Code::Unselected);
}

#[test]
fn p041_to_p045_are_notes_when_a_policy_selects_the_workload() {
    let deploy = risky_deployment();
    let policy = prevention("process: [{action: Block, paths: [/bin/sh]}]");
    let fs = lint_files(&[("deploy.yaml", &deploy), ("policy.yaml", &policy)]);
    check_posture(&fs, &deploy, Level::Note);
    none(&fs, Code::Unselected);
}

#[test]
fn p041_to_p045_stay_warnings_when_only_a_network_policy_selects_the_workload() {
    let deploy = risky_deployment();
    let nap = polc("NetworkAccessPolicy", "n", "egress: [{action: Allow, peers: [{fqdn: api.example.com}]}]");
    let fs = lint_files(&[("deploy.yaml", &deploy), ("nap.yaml", &nap)]);
    check_posture(&fs, &deploy, Level::Warning);
}

#[test]
fn p041_to_p045_near_miss_hardened_workloads() {
    let fs = lint_files(&[("deploy.yaml", &hardened_deployment("{app: web}"))]);
    for c in POSTURE {
        none(&fs, c);
    }
    // Explicitly safe values and container-level seccomp.
    let pod = dedent(
        "
        apiVersion: v1
        kind: Pod
        metadata:
          name: p
          namespace: shop
        spec:
          hostPID: false
          hostIPC: false
          volumes:
            - name: logs
              hostPath: {path: /var/log}
          containers:
            - name: app
              image: app
              securityContext:
                privileged: false
                allowPrivilegeEscalation: false
                seccompProfile: {type: Localhost, localhostProfile: app.json}
        ",
    );
    let fs = lint_files(&[("pod.yaml", &pod)]);
    for c in POSTURE {
        none(&fs, c);
    }
}

#[test]
fn p042_p043_in_cronjobs_and_pods() {
    let cron = dedent(
        "
        apiVersion: batch/v1
        kind: CronJob
        metadata:
          name: backup
          namespace: ops
        spec:
          schedule: '0 3 * * *'
          jobTemplate:
            spec:
              template:
                spec:
                  hostNetwork: true
                  securityContext: {seccompProfile: {type: RuntimeDefault}}
                  volumes:
                    - name: etc
                      hostPath: {path: /etc/kubernetes}
                  containers:
                    - name: backup
                      image: backup
                      securityContext: {allowPrivilegeEscalation: false}
        ",
    );
    let fs = lint_files(&[("cron.yaml", &cron)]);
    one_at(&fs, Code::HostNamespaces, line_of(&cron, "hostNetwork"), "spec.jobTemplate.spec.template.spec.hostNetwork");
    one_at(
        &fs,
        Code::SensitiveHostPath,
        line_of(&cron, "/etc/kubernetes"),
        "spec.jobTemplate.spec.template.spec.volumes[0].hostPath.path",
    );
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  hostIPC: true\n  volumes: [{name: r, hostPath: {path: /proc/}}]\n  containers: []\n";
    let fs = lint_files(&[("pod.yaml", pod)]);
    one_at(&fs, Code::HostNamespaces, 5, "spec.hostIPC");
    one_at(&fs, Code::SensitiveHostPath, 6, "spec.volumes[0].hostPath.path");
}

#[test]
fn p043_parent_directories_of_runtime_sockets() {
    for path in ["/var/run", "/run", "/run/containerd", "/var/run/crio"] {
        let pod = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  volumes: [{{name: r, hostPath: {{path: {path}}}}}]\n  containers: []\n"
        );
        let fs = lint_files(&[("pod.yaml", &pod)]);
        one_at(&fs, Code::SensitiveHostPath, 5, "spec.volumes[0].hostPath.path");
    }
}

// ---------------------------------------------------------------------------------
// Organisation rules (P050) and configuration (P051)
// ---------------------------------------------------------------------------------

const ORG_RULES: &str = "
    rules:
      - name: team-label
        expression: \"has(object.metadata.labels) && 'team' in object.metadata.labels\"
        message: every policy names its owning team
        level: error
";

#[test]
fn p050_passing_rule_reports_nothing() {
    let yaml = prevention("process: [{action: Block, paths: [/bin/sh]}]")
        .replace("  name: p\n", "  name: p\n  labels: {team: sec}\n");
    none(&lint_with_config(ORG_RULES, &[(FILE, &yaml)]), Code::OrgRule);
}

#[test]
fn p050_failing_rule_at_metadata_with_configured_level() {
    let yaml = prevention("process: [{action: Block, paths: [/bin/sh]}]");
    let fs = lint_with_config(ORG_RULES, &[(FILE, &yaml)]);
    let f = one_at(&fs, Code::OrgRule, line_of(&yaml, "metadata:"), "metadata");
    assert_eq!(f.level, Level::Error);
    assert_eq!(f.message, "every policy names its owning team (rule `team-label`)");
    assert_eq!(f.help.as_deref(), Some("`has(object.metadata.labels) && 'team' in object.metadata.labels`"));
    assert_eq!(f.object.as_deref(), Some("PreventionPolicy shop/p"));
}

#[test]
fn p050_non_boolean_and_evaluation_errors_are_findings() {
    let cfg = "
        rules:
          - name: not-bool
            expression: object.metadata.name
            message: must be a boolean
          - name: eval-error
            expression: object.spec.noSuchField == 1
            message: must evaluate
    ";
    let yaml = prevention("process: [{action: Block, paths: [/bin/sh]}]");
    let fs = lint_with_config(cfg, &[(FILE, &yaml)]);
    let v = of(&fs, Code::OrgRule);
    assert_eq!(v.len(), 2, "{}", dump(&fs));
    let nb = v.iter().find(|f| f.message.contains("`not-bool`")).unwrap();
    assert!(nb.message.contains("not a boolean"), "{}", nb.message);
    assert_eq!(nb.level, Level::Warning, "default level of a rule");
    assert_at(nb, line_of(&yaml, "metadata:"), "metadata");
    let ee = v.iter().find(|f| f.message.contains("`eval-error`")).unwrap();
    assert!(ee.message.contains("could not be evaluated"), "{}", ee.message);
    assert!(ee.message.contains("noSuchField"), "{}", ee.message);
}

#[test]
fn p050_kinds_filter() {
    let cfg = "
        rules:
          - name: runtime-blocks
            expression: has(object.spec.onAnomaly) && object.spec.onAnomaly == 'Block'
            message: runtime policies block anomalies
            kinds: [RuntimePolicy]
    ";
    let runtime = polc("RuntimePolicy", "r", "baseline: {executables: [/app/server]}");
    let prevention = prevention("process: [{action: Block, paths: [/bin/sh]}]");
    let deploy = hardened_deployment("{app: web}");
    let fs = lint_with_config(cfg, &[("r.yaml", &runtime), ("p.yaml", &prevention), ("deploy.yaml", &deploy)]);
    let f = one(&fs, Code::OrgRule);
    assert_eq!(f.file, "r.yaml");
    assert!(f.message.contains("runtime policies block anomalies"), "{}", f.message);
    // And it passes once the policy complies.
    let runtime = runtime.replace("baseline:", "onAnomaly: Block\n  baseline:");
    none(&lint_with_config(cfg, &[("r.yaml", &runtime)]), Code::OrgRule);
}

#[test]
fn p050_near_miss_no_rules_or_non_polc_objects() {
    let deploy = hardened_deployment("{app: web}");
    none(&lint_with_config(ORG_RULES, &[("deploy.yaml", &deploy)]), Code::OrgRule);
    none(&lint(&prevention("process: [{action: Block, paths: [/bin/sh]}]")), Code::OrgRule);
}

#[track_caller]
fn config_err(text: &str) -> (ConfigError, String) {
    let text = dedent(text);
    match config(&text) {
        Ok(_) => panic!("config must be rejected:\n{text}"),
        Err(e) => (e, text),
    }
}

#[test]
fn p051_config_unknown_field() {
    let (e, text) = config_err("failOn: error\nfailon: warning\n");
    assert_eq!((e.line, e.field.as_str()), (line_of(&text, "failon"), "failon"));
    assert!(e.message.contains("unknown field `failon`"), "{}", e.message);
    assert!(e.message.contains("`failOn`"), "{}", e.message);
    assert_eq!(e.file, ".polc.yaml");
    assert_eq!(e.to_string(), format!(".polc.yaml:2:1: failon: {}", e.message));
}

#[test]
fn p051_config_unknown_codes() {
    let (e, text) = config_err("disable: [P022, P999]\n");
    assert_eq!((e.line, e.col, e.field.as_str()), (1, col_of(&text, "P999"), "disable[1]"));
    assert!(e.message.contains("`P999`"), "{}", e.message);
    let (e, text) = config_err("levels:\n  P028: error\n  P01: warning\n");
    assert_eq!((e.line, e.field.as_str()), (line_of(&text, "P01:"), "levels.P01"));
}

#[test]
fn p051_config_bad_exclude_globs() {
    for (glob, why) in [
        ("/abs", "relative to the directory of .polc.yaml"),
        ("a/../b", "`..`"),
        ("a//b", "empty"),
        ("a/**x/b", "`**` stands alone"),
        ("a[bc", "not closed"),
        ("a]b[", "not closed"),
        ("a[]", "empty"),
        ("/", "empty glob"),
    ] {
        let (e, text) = config_err(&format!("exclude:\n  - ok/**\n  - \"{glob}\"\n"));
        assert_eq!((e.line, e.field.as_str()), (line_of(&text, &format!("\"{glob}\"")), "exclude[1]"), "{glob}");
        assert!(e.message.contains(why), "{glob}: {}", e.message);
    }
}

/// `exclude` globs: with a `/`, against the path from the configuration's
/// directory; without, against each part; a matching directory covers what is
/// below it; nothing outside the directory is left out.
#[test]
fn config_exclude_globs() {
    let cfg = Config::from_source(&load(
        "/repo/.polc.yaml",
        "exclude: [fuzz, \"tests/**/bad-*.yaml\", \"docs/*.json\", testdata/]\n",
    ))
    .unwrap();
    let ex = |p: &str| cfg.excludes(std::path::Path::new(p));
    assert!(ex("/repo/fuzz"));
    assert!(ex("/repo/crates/x/fuzz"), "a glob without `/` matches a name at any depth");
    // Below `fuzz`, walking never gets there (it left `fuzz` out); a directory
    // named on the command line below it is linted.
    assert!(!ex("/repo/fuzz/seeds/a.yaml"));
    assert!(ex("/repo/tests/vm/bad-1.yaml"));
    assert!(ex("/repo/tests/bad-1.yaml"), "`**` matches no directory too");
    assert!(!ex("/repo/tests/vm/good.yaml"));
    assert!(ex("/repo/docs/a.json"));
    assert!(!ex("/repo/docs/sub/a.json"), "`*` stays within one part");
    assert!(ex("/repo/x/testdata"), "a trailing `/` is the same glob");
    assert!(!ex("/repo/fuzzy/a.yaml"));
    assert!(!ex("/elsewhere/fuzz/a.yaml"), "outside the configuration's directory");
    assert!(!ex("/repo"));
    assert!(ex("/repo/sub/../docs/a.json"), "`..` is taken lexically");
    assert!(!ex("/repo/docs/../src/a.json"));
    // No configuration: nothing left out.
    assert!(!Config::default().excludes(std::path::Path::new("/repo/fuzz")));
}

#[test]
fn p051_config_bad_cel_and_kinds() {
    let (e, text) = config_err(
        "
        rules:
          - name: broken
            expression: \"1 +\"
            message: m
        ",
    );
    assert_eq!((e.line, e.field.as_str()), (line_of(&text, "expression"), "rules[0].expression"));
    assert!(e.message.contains("CEL expression does not compile"), "{}", e.message);
    let (e, text) = config_err(
        "
        rules:
          - name: k
            expression: \"true\"
            message: m
            kinds: [PreventionPolicy, Deployment]
        ",
    );
    assert_eq!((e.line, e.field.as_str()), (line_of(&text, "kinds"), "rules[0].kinds[1]"));
    assert!(e.message.contains("`Deployment` is not a polc kind"), "{}", e.message);
}

#[test]
fn p051_config_yaml_syntax_error_has_a_line() {
    let (e, _) = config_err("disable: [P022\nlevels: {}\n");
    assert_eq!(e.line, 2, "where the parser noticed the unclosed `[`: {e:?}");
    assert!(e.message.contains("YAML syntax error"), "{}", e.message);
}

#[test]
fn p051_config_error_inside_a_rule_points_at_the_field() {
    let (e, text) = config_err(
        "
        failOn: warning
        rules:
          - name: x
            expression: \"true\"
            message: m
            levle: error
        ",
    );
    assert_eq!((e.line, e.field.as_str()), (line_of(&text, "levle"), "rules[0].levle"));
    let (e, text) = config_err(
        "
        rules:
          - name: x
            expression: \"true\"
            message: m
            level: eror
        ",
    );
    assert_eq!((e.line, e.field.as_str()), (line_of(&text, "eror"), "rules[0].level"));
}

#[test]
fn p051_near_miss_valid_config_and_empty_config() {
    let cfg = config(
        "
        failOn: note
        disable: [P045, empty-selector]
        levels: {P040: error, redundant-rule: warning}
        rules:
          - name: team
            expression: \"true\"
            message: m
            level: note
            kinds: [PreventionPolicy, RuntimePolicy, NetworkAccessPolicy]
        ",
    )
    .unwrap();
    assert_eq!(cfg.fail_on, Some(Level::Note));
    assert_eq!(cfg.rules().len(), 1);
    assert_eq!(cfg.rules()[0].kinds.len(), 3);
    let empty = Config::from_source(&load(".polc.yaml", "# nothing configured\n")).unwrap();
    assert_eq!(empty.fail_on, None);
    assert!(empty.rules().is_empty());
}

#[test]
fn config_disable_by_code_and_by_name() {
    let yaml = "apiVersion: polc.dev/v1alpha1\nkind: PreventionPolicy\nmetadata: {name: p}\nspec:\n  selector: {}\n  defaultAction: Block\n  process: [{action: Block, paths: [/bin/sh]}]\n";
    let fs = lint(yaml);
    one(&fs, Code::EmptySelector);
    one(&fs, Code::RedundantRule);
    let fs = lint_with_config("disable: [P022]", &[(FILE, yaml)]);
    none(&fs, Code::EmptySelector);
    one(&fs, Code::RedundantRule);
    let fs = lint_with_config("disable: [redundant-rule, p022]", &[(FILE, yaml)]);
    assert!(fs.is_empty(), "{}", dump(&fs));
}

#[test]
fn config_levels_override_the_default_level() {
    let yaml = "apiVersion: polc.dev/v1alpha1\nkind: PreventionPolicy\nmetadata: {name: p}\nspec:\n  selector: {}\n  defaultAction: Block\n  process: [{action: Block, paths: [/bin/sh]}]\n";
    let fs = lint_with_config("levels: {P022: error, redundant-rule: warning}", &[(FILE, yaml)]);
    assert_eq!(one(&fs, Code::EmptySelector).level, Level::Error);
    assert_eq!(one(&fs, Code::RedundantRule).level, Level::Warning);
    // Level overrides also apply to org rules, whose level comes from the rule.
    let cfg = format!("{ORG_RULES}\n    levels: {{P050: note}}\n");
    let fs = lint_with_config(&cfg, &[(FILE, yaml)]);
    assert_eq!(one(&fs, Code::OrgRule).level, Level::Note);
}

#[test]
fn report_counts_and_threshold() {
    let yaml = "apiVersion: polc.dev/v1alpha1\nkind: PreventionPolicy\nmetadata: {name: p}\nspec:\n  selector: {}\n  defaultAction: Block\n  process: [{action: Block, paths: [/bin/sh]}]\n";
    let r = report_with(Config::default(), &[(FILE, yaml)]);
    assert_eq!((r.files, r.objects, r.policies), (1, 1, 1));
    assert_eq!((r.count(Level::Error), r.count(Level::Warning), r.count(Level::Note)), (0, 1, 1));
    assert!(r.fails(Level::Warning) && r.fails(Level::Note) && !r.fails(Level::Error));
}

// ---------------------------------------------------------------------------------
// Every code has a test
// ---------------------------------------------------------------------------------

/// One snippet per code that reports it; the test below checks that together they
/// report every code in `Code::ALL` (P051 is a `ConfigError`, never a finding).
fn every_code_snippets() -> Vec<Vec<(String, String)>> {
    let one = |s: String| vec![("t.yaml".to_string(), s)];
    let deploy = risky_deployment();
    let two = two_container_deployment();
    vec![
        one("a: [1\n".into()),
        one("a: 1\na: 2\n".into()),
        one(nested(200)),
        one("# empty\n".into()),
        one("- 1\n".into()),
        one("a: .nan\n".into()),
        one("apiVersion: polc.dev/v1alpha1\nkind: Nope\nmetadata: {name: x}\n".into()),
        one(prevention("mode: Sometimes\nprocess: [{action: Block, paths: [/bin/sh], nmae: x}]")),
        one(polc("PreventionPolicy", "Bad_Name", "process: [{action: Block, paths: [bin/sh, /**]}]")),
        one("apiVersion: polc.dev/v1alpha1\nkind: PreventionPolicy\nmetadata: {name: p}\nspec:\n  selector: {matchExpressions: [{key: a, operator: In}]}\n".into()),
        one(prevention("selector: {}\nprocess: [{action: Block, paths: [/bin/sh]}]").replace("  selector:\n    matchLabels: {app: web}\n", "")),
        one(prevention(
            "defaultAction: Block\nprocess:\n  - {name: a, action: Block, paths: [/x/y]}\n  - {name: a, action: Block, paths: [/x/y]}\n  \
             - {action: Allow, paths: [/bin/bash]}\n  - {action: Block, paths: [/bin/bash]}\n  - {action: Allow, paths: [/u/**]}\n  \
             - {action: Block, dirs: [{path: /u, recursive: true}]}\n  - {action: Audit, dirs: [{path: /o}]}\n  - {action: Block, paths: [/o/*]}\n  \
             - {action: Block}\n  - {action: Block, comms: [averyveryverylongname]}\nnetwork: [{action: Block, cidrs: [10.0.0/8]}]\n\
             capabilities: [{action: Block, capabilities: [SYS_ADMN]}]",
        )),
        one(polc(
            "NetworkAccessPolicy",
            "n",
            "egress: [{action: Block, ports: [{port: 80}], http: [{method: GET}], peers: [{fqdn: Bad_Name.com}]}]",
        )),
        vec![
            ("deploy.yaml".into(), deploy),
            ("two.yaml".into(), two.replace("name: web\n  namespace", "name: two\n  namespace")),
            ("a.yaml".into(), polc("PreventionPolicy", "a", "containers: [web, nope]\nprocess: [{action: Allow, paths: [/bin/sh]}]")),
            ("b.yaml".into(), polc("PreventionPolicy", "b", "process: [{action: Block, paths: [/bin/sh]}]")),
            ("c.yaml".into(), polc("PreventionPolicy", "c", "process: [{action: Block, paths: [/bin/sh]}]").replace("{app: web}", "{app: none}")),
            ("d.yaml".into(), hardened_deployment("{app: lonely}").replace("name: web", "name: lonely")),
        ],
        vec![
            ("e.yaml".into(), polc("PreventionPolicy", "e", "process: [{action: Block, paths: [/bin/sh]}]")),
            ("f.yaml".into(), polc("PreventionPolicy", "e", "process: [{action: Block, paths: [/bin/sh]}]")),
        ],
    ]
}

#[test]
fn every_code_is_reported_by_some_snippet() {
    let mut seen: BTreeSet<Code> = BTreeSet::new();
    for files in every_code_snippets() {
        let refs: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
        seen.extend(lint_files(&refs).iter().map(|f| f.code));
    }
    let bad = load_input(FILE.into(), b"a: \xff\n", &Limits::default());
    seen.extend(default_linter().lint(&[bad]).findings.iter().map(|f| f.code));
    let cfg = lint_with_config(
        "rules: [{name: r, expression: \"false\", message: m}]",
        &[(FILE, &prevention("mode: Enforce"))],
    );
    seen.extend(cfg.iter().map(|f| f.code));
    let missing: Vec<&str> =
        Code::ALL.iter().filter(|c| **c != Code::Config && !seen.contains(c)).map(|c| c.as_str()).collect();
    assert!(missing.is_empty(), "codes no snippet reports: {missing:?}");
    // P051 is the code of configuration errors, which stop linting.
    assert_eq!(Code::parse("P051"), Some(Code::Config));
    assert!(config("bogus: 1").is_err());
}

/// The sock-shop example, copied into `copies` namespaces, with a broken policy in
/// each copy so that every kind of finding, including errors, is present.
fn sock_shop_files(copies: usize) -> Vec<SourceFile> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/sock-shop");
    let mut texts: Vec<(String, String)> = Vec::new();
    let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(format!("{dir}/policies"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .chain([std::path::PathBuf::from(format!("{dir}/manifests/complete-demo.yaml"))])
        .collect();
    paths.sort();
    for p in &paths {
        texts.push((p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(p).unwrap()));
    }
    let broken = "apiVersion: polc.dev/v1alpha1\nkind: PreventionPolicy\nmetadata: {name: Bad, namespace: sock-shop}\n\
                  spec:\n  selector: {}\n  process:\n    - {action: Block, paths: [bin/sh, /bin/sh, /bin/sh]}\n";
    texts.push(("broken.yaml".into(), broken.into()));
    let mut files = Vec::new();
    for i in 0..copies {
        for (name, text) in &texts {
            files.push(load(&format!("ns-{i}/{name}"), &text.replace("sock-shop", &format!("ns-{i}"))));
        }
    }
    files
}

#[test]
fn findings_do_not_depend_on_threads_or_the_model() {
    let files = sock_shop_files(6);
    let one = Linter::new(Config::default()).unwrap().with_threads(1).lint(&files);
    assert!(one.count(Level::Error) > 0 && one.count(Level::Warning) > 0, "{:?}", one.findings.len());
    assert!(!one.model_policies.is_empty() && !one.model_workloads.is_empty());
    for threads in [2, 3, 7] {
        let many = Linter::new(Config::default()).unwrap().with_threads(threads).lint(&files);
        assert_eq!(many.findings, one.findings, "{threads} threads");
        assert_eq!((many.objects, many.policies, many.files), (one.objects, one.policies, one.files));
        assert_eq!(many.model_policies, one.model_policies, "{threads} threads");
    }
    // Loading inside the linter's batches (`polc lint`) gives the same files and
    // report; 6 copies of 11 files make several batches.
    assert!(files.len() > 40, "{}", files.len());
    for threads in [1, 2, 5] {
        let linter = Linter::new(Config::default()).unwrap().with_threads(threads);
        let (loaded, fused) = linter.lint_with(files.len(), |i| files[i].clone());
        assert_eq!(loaded.len(), files.len());
        assert!(loaded.iter().zip(&files).all(|(a, b)| a.name == b.name && a.text == b.text && a.errors == b.errors));
        assert!(loaded.iter().all(|f| f.documents.is_empty()), "the documents are dropped after the per-file checks");
        assert_eq!(fused.findings, one.findings, "lint_with, {threads} threads");
        assert_eq!((fused.objects, fused.policies, fused.files), (one.objects, one.policies, one.files));
        assert_eq!(fused.model_policies, one.model_policies, "lint_with, {threads} threads");
    }
    let plain = Linter::new(Config::default()).unwrap().with_threads(2).with_model(false).lint(&files);
    assert_eq!(plain.findings, one.findings);
    assert!(plain.model_policies.is_empty() && plain.model_workloads.is_empty());
    // With the model, every policy has rule positions and a content hash.
    assert!(one.model_policies.iter().all(|p| !p.content_hash.is_empty() && !p.source.positions.is_empty()));
}
