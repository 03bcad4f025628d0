//! The machine-readable outputs of `polc lint` against what their consumers accept:
//! SARIF against the OASIS SARIF 2.1.0 schema (from `shared/conformance`, never
//! skipped: a missing schema fails the test) plus what GitHub code scanning needs on
//! top of it; the JSON report's shape; and GitHub workflow-command escaping.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use polc_lint::output::{JSON_FORMAT_VERSION, github, json, sarif};
use polc_lint::{Code, Config, Finding, Level, Linter, Related, Report};
use polc_load::{Limits, SourceFile, Span, load_input};
use serde_json::Value;
use std::path::PathBuf;

const SCHEMA: &str = "../../../shared/conformance/oasis-tcs/sarif-spec/sarif-2.1/schema/sarif-schema-2.1.0.json";

fn schema_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(SCHEMA)
}

/// The SARIF 2.1.0 schema as a validator, with `format` checked too. Panics (fails
/// the test) when the schema file is missing: conformance data is never optional.
fn sarif_validator() -> jsonschema::Validator {
    let path = schema_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the SARIF schema must be present at {}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("the SARIF schema does not compile: {e}"))
}

#[track_caller]
fn assert_valid(v: &jsonschema::Validator, log: &Value) {
    let errors: Vec<String> = v.iter_errors(log).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "SARIF does not validate:\n{}", errors.join("\n"));
}

// The inputs: a policy with a duplicate (related location) and an unknown field
// (help), a second policy conflicting with the first on a Deployment (related
// location in another file), an empty file (no span), and a file name that needs
// escaping in URIs and workflow commands.

const POLICY: &str = "\
apiVersion: polc.dev/v1alpha1
kind: PreventionPolicy
metadata:
  name: team
  namespace: shop
spec:
  selector:
    matchLabels: {app: web}
  defaultActon: Allow
  process:
    - name: first
      action: Allow
      paths: [/bin/sh]
    - name: again
      action: Allow
      paths: [/bin/sh]
";

const PLATFORM: &str = "\
apiVersion: polc.dev/v1alpha1
kind: PreventionPolicy
metadata:
  name: platform
  namespace: shop
spec:
  selector:
    matchLabels: {app: web}
  process:
    - name: no-shells
      action: Block
      paths: [/bin/sh]
";

const DEPLOY: &str = "\
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
      containers:
        - name: web
          image: nginx
";

const POLICY_FILE: &str = "policies/team, a:b 100%.yaml";

fn inputs() -> Vec<SourceFile> {
    [
        (POLICY_FILE, POLICY),
        ("./policies/platform.yaml", PLATFORM),
        ("deploy.yaml", DEPLOY),
        ("empty.yaml", "# nothing\n"),
    ]
    .iter()
    .map(|(n, t)| load_input((*n).into(), t.as_bytes(), &Limits::default()))
    .collect()
}

fn lint(files: &[SourceFile]) -> Report {
    Linter::new(Config::default()).unwrap().lint(files)
}

/// The report of [`inputs`], checked to have what the tests rely on.
fn report(files: &[SourceFile]) -> Report {
    let r = lint(files);
    let has = |c: Code| r.findings.iter().any(|f| f.code == c);
    for c in [Code::UnknownField, Code::DuplicateRule, Code::CrossPolicyConflict, Code::EmptyFile, Code::NoSeccomp] {
        assert!(has(c), "the inputs must report {}", c.as_str());
    }
    assert!(r.findings.iter().any(|f| f.span.is_none()), "a finding without a span");
    assert!(
        r.findings.iter().any(|f| f.related.iter().any(|rel| rel.file != f.file)),
        "a related location in another file"
    );
    for l in [Level::Error, Level::Warning, Level::Note] {
        assert!(r.count(l) > 0, "a finding at level {}", l.as_str());
    }
    r
}

fn sarif_log(report: &Report, files: &[SourceFile]) -> Value {
    let text = sarif(report, files);
    assert!(text.ends_with('\n'));
    serde_json::from_str(&text).unwrap()
}

// ---------------------------------------------------------------------------------
// SARIF: schema
// ---------------------------------------------------------------------------------

#[test]
fn sarif_validates_against_the_oasis_schema() {
    let files = inputs();
    let r = report(&files);
    let log = sarif_log(&r, &files);
    assert_valid(&sarif_validator(), &log);
    assert_eq!(log["version"], "2.1.0");
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), r.findings.len());
}

#[test]
fn sarif_with_no_findings_validates() {
    let files = vec![load_input(
        "ok.yaml".into(),
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
        &Limits::default(),
    )];
    let r = lint(&files);
    assert!(r.findings.is_empty());
    let log = sarif_log(&r, &files);
    assert_valid(&sarif_validator(), &log);
    assert_eq!(log["runs"][0]["results"], Value::Array(Vec::new()));
    // The rules are listed even when nothing was found.
    assert_eq!(log["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap().len(), Code::ALL.len());
}

#[test]
fn sarif_with_hand_made_findings_validates() {
    // Findings the linter rarely makes: related locations without a span, an empty
    // field, no object, characters that need escaping in messages.
    let mut f =
        Finding::new(Code::Contradiction, "a b.yaml", Some(Span { line: 3, col: 5 }), "quote \" and \\ and\nnewline");
    f.related.push(Related { file: "other.yaml".into(), span: None, message: "there".into() });
    f.related.push(Related { file: "a b.yaml".into(), span: Some(Span { line: 1, col: 1 }), message: "here".into() });
    let g = Finding::new(Code::Unreadable, "missing.yaml", None, "cannot read").level(Level::Note);
    let r = Report { findings: vec![f, g], files: 2, ..Report::default() };
    let files = vec![load_input("a b.yaml".into(), b"a: 1\nb: 2\nc:  3\n", &Limits::default())];
    let log = sarif_log(&r, &files);
    assert_valid(&sarif_validator(), &log);
    let res = &log["runs"][0]["results"][0];
    assert_eq!(res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "a%20b.yaml");
    assert_eq!(res["locations"][0]["physicalLocation"]["region"]["snippet"]["text"], "c:  3");
    assert_eq!(res["relatedLocations"].as_array().unwrap().len(), 2);
}

#[test]
fn the_schema_check_is_not_vacuous() {
    let files = inputs();
    let log = sarif_log(&report(&files), &files);
    let v = sarif_validator();
    let mut bad = log.clone();
    bad["version"] = "2.0.0".into();
    assert!(!v.is_valid(&bad), "a wrong version must be rejected");
    let mut bad = log.clone();
    bad["runs"][0]["results"][0]["level"] = "warn".into();
    assert!(!v.is_valid(&bad), "an unknown level must be rejected");
    let mut bad = log.clone();
    bad["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0.into();
    assert!(!v.is_valid(&bad), "line 0 must be rejected");
    let mut bad = log;
    bad["runs"][0]["results"][0]["message"] = Value::Object(serde_json::Map::new());
    assert!(!v.is_valid(&bad), "a message without text must be rejected");
}

// ---------------------------------------------------------------------------------
// SARIF: what GitHub code scanning needs
// ---------------------------------------------------------------------------------

fn text<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_else(|| panic!("no string at {ptr} in {v}"))
}

#[test]
fn sarif_rules_have_descriptions_and_help() {
    let files = inputs();
    let log = sarif_log(&report(&files), &files);
    let rules = log["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), Code::ALL.len());
    for (rule, code) in rules.iter().zip(Code::ALL) {
        let i = code.info();
        assert_eq!(text(rule, "/id"), i.code);
        assert_eq!(text(rule, "/name"), i.name);
        assert_eq!(text(rule, "/shortDescription/text"), i.summary);
        assert_eq!(text(rule, "/fullDescription/text"), i.explanation);
        assert!(text(rule, "/help/text").contains(i.explanation), "{rule}");
        assert!(!text(rule, "/help/markdown").is_empty());
        assert_eq!(text(rule, "/defaultConfiguration/level"), i.level.as_str());
    }
    assert_eq!(text(&log, "/runs/0/tool/driver/name"), "polc");
}

#[test]
fn sarif_results_have_rule_location_line_column_and_fingerprint() {
    let files = inputs();
    let r = report(&files);
    let log = sarif_log(&r, &files);
    let results = log["runs"][0]["results"].as_array().unwrap();
    let rules = log["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    for (res, f) in results.iter().zip(&r.findings) {
        assert_eq!(text(res, "/ruleId"), f.code.as_str());
        let idx = usize::try_from(res["ruleIndex"].as_u64().unwrap()).unwrap();
        assert_eq!(text(&rules[idx], "/id"), f.code.as_str(), "ruleIndex points at the rule");
        assert_eq!(text(res, "/level"), f.level.as_str());
        assert!(text(res, "/message/text").starts_with(&f.message));
        if let Some(h) = &f.help {
            assert!(text(res, "/message/text").ends_with(&format!("help: {h}")));
        }
        let loc = &res["locations"][0]["physicalLocation"];
        let uri = text(loc, "/artifactLocation/uri");
        assert!(!uri.starts_with('/') && !uri.starts_with("./") && !uri.contains(' '), "relative URI: {uri}");
        let Some(span) = f.span else { continue };
        assert_eq!(loc["region"]["startLine"], span.line, "{res}");
        assert_eq!(loc["region"]["startColumn"], span.col, "{res}");
        let hash = text(res, "/partialFingerprints/primaryLocationLineHash");
        assert!(hash.len() > 2 && hash.ends_with(":1"), "{hash}");
        assert_eq!(res["relatedLocations"].as_array().map_or(0, Vec::len), f.related.len());
        for (j, rel) in f.related.iter().enumerate() {
            let rl = &res["relatedLocations"][j];
            assert_eq!(rl["id"], j);
            assert_eq!(text(rl, "/message/text"), rel.message);
            let line = rel.span.map(|s| s.line);
            assert_eq!(rl["physicalLocation"]["region"]["startLine"].as_u64(), line.map(u64::from));
        }
    }
    // Names that are not URI characters are percent-encoded, `./` is dropped.
    let uris: Vec<&str> =
        results.iter().map(|r| text(r, "/locations/0/physicalLocation/artifactLocation/uri")).collect();
    assert!(uris.contains(&"policies/team%2C%20a%3Ab%20100%25.yaml"), "{uris:?}");
    // The cross-policy conflict points into the other file, named `./policies/...`.
    let cross = results.iter().find(|r| r["ruleId"] == "P036").unwrap();
    assert_eq!(text(cross, "/relatedLocations/0/physicalLocation/artifactLocation/uri"), "policies/platform.yaml");
}

#[test]
fn sarif_results_without_a_span_still_have_a_line_for_github() {
    let files = inputs();
    let r = report(&files);
    let log = sarif_log(&r, &files);
    for (res, f) in log["runs"][0]["results"].as_array().unwrap().iter().zip(&r.findings) {
        let region = &res["locations"][0]["physicalLocation"]["region"];
        assert!(region["startLine"].as_u64().is_some_and(|l| l >= 1), "{} has no startLine: {res}", f.code.as_str());
        assert!(
            region["startColumn"].as_u64().is_some_and(|c| c >= 1),
            "{} has no startColumn: {res}",
            f.code.as_str()
        );
        assert!(res.pointer("/partialFingerprints/primaryLocationLineHash").is_some(), "{res}");
    }
}

#[test]
fn sarif_fingerprints_survive_moving_lines_and_tell_findings_apart() {
    let hashes = |text: &str| -> Vec<(String, String)> {
        let files = vec![load_input("p.yaml".into(), text.as_bytes(), &Limits::default())];
        let log = sarif_log(&lint(&files), &files);
        log["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (text_of(r, "/ruleId"), text_of(r, "/partialFingerprints/primaryLocationLineHash")))
            .collect()
    };
    let before = hashes(POLICY);
    let moved = hashes(&POLICY.replace("metadata:\n", "# a comment\n# another\nmetadata:\n"));
    assert_eq!(before, moved, "inserting lines above must not change fingerprints");
    let mut unique: Vec<&String> = before.iter().map(|(_, h)| h).collect();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), before.len(), "distinct findings have distinct fingerprints: {before:?}");
}

fn text_of(v: &Value, ptr: &str) -> String {
    text(v, ptr).to_string()
}

// ---------------------------------------------------------------------------------
// JSON output
// ---------------------------------------------------------------------------------

#[test]
fn json_output_shape() {
    let files = inputs();
    let r = report(&files);
    let v: Value = serde_json::from_str(&json(&r)).unwrap();
    assert_eq!(v["version"], JSON_FORMAT_VERSION);
    assert_eq!(v["version"], 1);
    assert_eq!(v["tool"]["name"], "polc");
    assert!(v["tool"]["version"].is_string());
    let s = &v["summary"];
    assert_eq!(s["files"], 4);
    assert_eq!(s["objects"], r.objects);
    assert_eq!(s["policies"], 2);
    assert_eq!(s["errors"], r.count(Level::Error));
    assert_eq!(s["warnings"], r.count(Level::Warning));
    assert_eq!(s["notes"], r.count(Level::Note));
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), r.findings.len());
    let keys = ["code", "name", "level", "message", "file", "line", "column", "field", "object", "help", "related"];
    for (j, f) in findings.iter().zip(&r.findings) {
        let obj = j.as_object().unwrap();
        assert_eq!(obj.keys().map(String::as_str).collect::<Vec<_>>(), keys, "stable key order");
        assert_eq!(j["code"], f.code.as_str());
        assert_eq!(j["name"], f.code.info().name);
        assert_eq!(j["level"], f.level.as_str());
        assert_eq!(j["message"], f.message.as_str());
        assert_eq!(j["file"], f.file.as_str());
        assert_eq!(j["line"].as_u64(), f.span.map(|s| u64::from(s.line)));
        assert_eq!(j["column"].as_u64(), f.span.map(|s| u64::from(s.col)));
        if f.field.is_empty() {
            assert!(j["field"].is_null());
        } else {
            assert_eq!(j["field"], f.field.as_str());
        }
        assert_eq!(j["object"].as_str(), f.object.as_deref());
        assert_eq!(j["help"].as_str(), f.help.as_deref());
        assert_eq!(j["related"].as_array().unwrap().len(), f.related.len());
        for (jr, rel) in j["related"].as_array().unwrap().iter().zip(&f.related) {
            assert_eq!(jr["file"], rel.file.as_str());
            assert_eq!(jr["line"].as_u64(), rel.span.map(|s| u64::from(s.line)));
            assert_eq!(jr["column"].as_u64(), rel.span.map(|s| u64::from(s.col)));
            assert_eq!(jr["message"], rel.message.as_str());
        }
    }
    // A finding without a position has null line and column and no field.
    let empty = findings.iter().find(|f| f["code"] == "P005").unwrap();
    assert!(empty["line"].is_null() && empty["column"].is_null() && empty["field"].is_null());
    // A specific one, spelled out.
    let unknown = findings.iter().find(|f| f["code"] == "P012").unwrap();
    assert_eq!(unknown["line"], 9);
    assert_eq!(unknown["column"], 3);
    assert_eq!(unknown["field"], "spec.defaultActon");
    assert_eq!(unknown["help"], "did you mean `defaultAction`?");
    assert_eq!(unknown["object"], "PreventionPolicy shop/team");
    assert_eq!(unknown["name"], "unknown-field");
    assert_eq!(unknown["level"], "error");
}

#[test]
fn json_output_of_an_empty_report() {
    let v: Value = serde_json::from_str(&json(&Report::default())).unwrap();
    assert_eq!(v["findings"], Value::Array(Vec::new()));
    assert_eq!(v["summary"]["errors"], 0);
}

// ---------------------------------------------------------------------------------
// GitHub workflow annotations
// ---------------------------------------------------------------------------------

#[test]
fn github_annotations_escape_properties_and_data() {
    let mut f = Finding::new(
        Code::DuplicateRule,
        "dir/a,b:c%d.yaml",
        Some(Span { line: 12, col: 7 }),
        "50% of `x`: done,\r\nreally",
    );
    f = f.help("remove one: the second");
    let note = Finding::new(Code::RedundantRule, "n.yaml", Some(Span { line: 1, col: 2 }), "n");
    let err = Finding::new(Code::Unreadable, "gone.yaml", None, "cannot read: No such file");
    let r = Report { findings: vec![f, note, err], ..Report::default() };
    let out = github(&r);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "one command per finding, newlines escaped:\n{out}");
    assert_eq!(
        lines[0],
        "::warning file=dir/a%2Cb%3Ac%25d.yaml,line=12,col=7,title=P024 duplicate-rule::\
         50%25 of `x`: done,%0D%0Areally%0Ahelp: remove one: the second"
    );
    assert_eq!(lines[1], "::notice file=n.yaml,line=1,col=2,title=P028 redundant-rule::n");
    assert_eq!(lines[2], "::error file=gone.yaml,title=P004 unreadable::cannot read: No such file");
}

#[test]
fn github_annotations_for_a_real_report() {
    let files = inputs();
    let r = report(&files);
    let out = github(&r);
    assert_eq!(out.lines().count(), r.findings.len());
    for (line, f) in out.lines().zip(&r.findings) {
        let cmd = match f.level {
            Level::Error => "::error ",
            Level::Warning => "::warning ",
            Level::Note => "::notice ",
        };
        assert!(line.starts_with(cmd), "{line}");
        let (props, _msg) = line[cmd.len()..].split_once("::").unwrap();
        assert!(!props.contains(' ') || props.contains("title="), "{line}");
        match f.span {
            Some(s) => assert!(props.contains(&format!(",line={},col={},", s.line, s.col)), "{line}"),
            None => assert!(!props.contains("line="), "{line}"),
        }
    }
    assert!(out.contains("file=policies/team%2C a%3Ab 100%25.yaml,"), "{out}");
}
