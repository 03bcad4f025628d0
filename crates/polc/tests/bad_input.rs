//! `polc lint` on hostile and broken input: each case runs the built binary on files
//! generated in a scratch directory and checks the exit status, the finding (code,
//! file, line, field) and that the other files of the same invocation are still
//! linted. Every run also checks that polc neither panicked nor died from a signal
//! and finished in bounded time.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::Scratch;
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A run that takes longer than this is killed and fails the test.
const KILL_AFTER: Duration = Duration::from_secs(120);
/// Inputs that are bounded by the loader's limits must be refused quickly, even in a
/// debug build on a loaded machine.
const FAST: Duration = Duration::from_secs(20);

/// A policy beside the broken file in every run. It has exactly one finding, a
/// warning, so it never changes the exit status and shows that it was linted.
const COMPANION: &str = "\
apiVersion: polc.dev/v1alpha1
kind: PreventionPolicy
metadata:
  name: companion
  namespace: web
spec:
  selector: {}
  mode: Enforce
  process:
    - name: no-shells
      action: Block
      paths: [/bin/sh]
";
const COMPANION_FILE: &str = "companion.yaml";

/// The head of a PreventionPolicy whose `spec.process[0]` or `spec.network[0]`
/// entry the cases complete. Line 10 is `    - name: r`.
fn policy(section: &str, rule: &str) -> String {
    format!(
        "apiVersion: polc.dev/v1alpha1\nkind: PreventionPolicy\nmetadata:\n  name: broken\n\
         spec:\n  selector:\n    matchLabels:\n      app: x\n  {section}:\n    - name: r\n{rule}"
    )
}

/// What these tests add to the shared scratch directory: the companion policy in
/// every one, and linting in it.
impl Scratch {
    /// A scratch directory holding [`COMPANION_FILE`].
    fn with_companion(test: &str) -> Scratch {
        let s = Scratch::new(test);
        s.write(COMPANION_FILE, COMPANION);
        s
    }

    /// `polc lint --format json ARGS... companion.yaml` in the scratch directory.
    fn lint_json(&self, args: &[&str]) -> Run {
        self.lint_json_stdin(args, None)
    }

    fn lint_json_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        let mut all = vec!["lint", "--no-config", "--format", "json"];
        all.extend_from_slice(args);
        all.push(COMPANION_FILE);
        let mut run = polc(&self.dir, &all, stdin);
        run.json =
            serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", run.stdout));
        run
    }
}

/// One finished run of polc.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    json: Value,
}

impl Run {
    /// The run with its stdout read as JSON.
    fn with_json(mut self) -> Run {
        self.json =
            serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout));
        self
    }

    /// The findings of `file` with `code`.
    fn findings(&self, code: &str, file: &str) -> Vec<&Value> {
        self.json["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["code"] == code && f["file"] == file)
            .collect()
    }

    /// The one finding of `file` with `code`.
    fn finding(&self, code: &str, file: &str) -> &Value {
        let found = self.findings(code, file);
        assert_eq!(found.len(), 1, "want one {code} in {file}, got {}:\n{}", found.len(), self.stdout);
        found[0]
    }

    /// Every finding of `file`.
    fn all_of(&self, file: &str) -> Vec<&Value> {
        self.json["findings"].as_array().into_iter().flatten().filter(|f| f["file"] == file).collect()
    }

    fn assert_code(&self, want: i32) {
        assert_eq!(self.code, want, "exit status\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
    }

    /// The companion file was linted: its one warning is there, at its place.
    fn assert_companion_linted(&self) {
        let f = self.finding("P022", COMPANION_FILE);
        assert_eq!(f["level"], "warning");
        assert_eq!((f["line"].as_u64(), f["column"].as_u64()), (Some(7), Some(3)));
        assert_eq!(f["field"], "spec.selector");
        assert_eq!(f["object"], "PreventionPolicy web/companion");
        assert_eq!(self.all_of(COMPANION_FILE).len(), 1, "{}", self.stdout);
        assert!(self.json["summary"]["policies"].as_u64() >= Some(1));
    }

    fn assert_fast(&self) {
        assert!(self.elapsed < FAST, "took {:?}", self.elapsed);
    }
}

fn assert_at(f: &Value, line: u64, field: Option<&str>) {
    assert_eq!(f["line"].as_u64(), Some(line), "line of {f}");
    assert!(f["column"].as_u64().is_some_and(|c| c >= 1), "column of {f}");
    match field {
        Some(field) => assert_eq!(f["field"], field, "field of {f}"),
        None => assert!(f["field"].is_null(), "field of {f}"),
    }
}

/// Run the binary, feeding `stdin`, killing it after [`KILL_AFTER`]. Fails the test
/// when it panicked, died from a signal or wrote anything that says it panicked.
fn polc(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_polc"));
    cmd.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("POLC_FORMAT")
        .env_remove("POLC_FAIL_ON")
        .env_remove("POLC_CONFIG")
        .env_remove("RUST_BACKTRACE")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let feeder = stdin.map(|bytes| {
        let mut pipe = child.stdin.take().unwrap();
        let bytes = bytes.to_vec();
        // polc may stop reading early (over the size limit): ignore a closed pipe.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        })
    });
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = reader(Box::new(child.stdout.take().unwrap()));
    let err = reader(Box::new(child.stderr.take().unwrap()));
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > KILL_AFTER {
            let _ = child.kill();
            let _ = child.wait();
            panic!("polc {args:?} did not finish in {KILL_AFTER:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    if let Some(f) = feeder {
        let _ = f.join();
    }
    let stdout = out.join().unwrap();
    let stderr = err.join().unwrap();
    for text in [&stdout, &stderr] {
        assert!(!text.contains("panicked"), "polc {args:?} panicked:\n{stderr}");
    }
    assert_eq!(status.signal(), None, "polc {args:?} was killed by a signal\nstderr:\n{stderr}");
    let code = status.code().unwrap();
    assert_ne!(code, 101, "exit status 101 is a Rust panic\nstderr:\n{stderr}");
    Run { code, stdout, stderr, elapsed, json: Value::Null }
}

/// Whether file permissions stop this process from reading: not for root (or any
/// process with CAP_DAC_OVERRIDE), so the mode-000 assertions are skipped there.
fn permissions_enforced(probe: &Path) -> bool {
    let euid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(2).map(str::to_owned))
        })
        .or_else(|| {
            Command::new("id").arg("-u").output().ok().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        });
    euid.as_deref() != Some("0") && std::fs::read(probe).is_err()
}

// ---------------------------------------------------------------- malformed YAML

#[test]
fn malformed_yaml_unclosed_bracket() {
    let s = Scratch::with_companion("unclosed");
    s.write("unclosed.yaml", policy("process", "      action: Block\n      paths: [/bin/sh\n"));
    let r = s.lint_json(&["unclosed.yaml"]);
    r.assert_code(1);
    let f = r.finding("P001", "unclosed.yaml");
    assert_eq!(f["level"], "error");
    // The parser notices the missing `]` at the end of the input (line 13).
    assert_at(f, 13, Some("spec.process[0].paths[1]"));
    assert!(f["message"].as_str().unwrap().contains("']'"), "{f}");
    assert_eq!(r.all_of("unclosed.yaml").len(), 1);
    assert_eq!(r.json["summary"]["files"], 2);
    r.assert_companion_linted();
}

#[test]
fn malformed_yaml_bad_indentation() {
    let s = Scratch::with_companion("indent");
    s.write("indent.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n    labels: x\ndata:\n  k: v\n");
    let r = s.lint_json(&["indent.yaml"]);
    r.assert_code(1);
    let f = r.finding("P001", "indent.yaml");
    assert_at(f, 5, Some("metadata"));
    assert_eq!(f["column"], 11);
    r.assert_companion_linted();
}

#[test]
fn malformed_yaml_tab_indentation() {
    let s = Scratch::with_companion("tab");
    s.write("tab.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: a\n");
    let r = s.lint_json(&["tab.yaml"]);
    r.assert_code(1);
    let f = r.finding("P001", "tab.yaml");
    assert_at(f, 4, Some("metadata"));
    assert!(f["message"].as_str().unwrap().contains("tab"), "{f}");
    r.assert_companion_linted();
}

#[test]
fn syntax_error_keeps_earlier_documents_of_the_same_file() {
    let s = Scratch::with_companion("later-doc");
    s.write("two.yaml", "apiVersion: v1\nkind: Foo\n---\na: [\n");
    let r = s.lint_json(&["two.yaml"]);
    r.assert_code(1);
    assert_at(r.finding("P001", "two.yaml"), 5, Some("a[0]"));
    // The first document (an object of another kind) loaded and was counted.
    assert_eq!(r.json["summary"]["objects"], 2);
    r.assert_companion_linted();
}

// ---------------------------------------------------------------- wrong types

#[test]
fn wrong_type_action_is_a_number() {
    let s = Scratch::with_companion("action");
    s.write("action.yaml", policy("process", "      action: 3\n      paths: [/bin/sh]\n"));
    let r = s.lint_json(&["action.yaml"]);
    r.assert_code(1);
    let found = r.findings("P011", "action.yaml");
    assert!(!found.is_empty(), "{}", r.stdout);
    for f in &found {
        assert_at(f, 11, Some("spec.process[0].action"));
        assert_eq!(f["object"], "PreventionPolicy default/broken");
    }
    assert!(found.iter().any(|f| f["message"].as_str().unwrap().contains("\"string\"")), "{}", r.stdout);
    r.assert_companion_linted();
}

#[test]
fn wrong_type_paths_is_a_string() {
    let s = Scratch::with_companion("paths");
    s.write("paths.yaml", policy("process", "      action: Block\n      paths: /bin/sh\n"));
    let r = s.lint_json(&["paths.yaml"]);
    r.assert_code(1);
    let f = r.finding("P011", "paths.yaml");
    assert_at(f, 12, Some("spec.process[0].paths"));
    assert!(f["message"].as_str().unwrap().contains("\"array\""), "{f}");
    r.assert_companion_linted();
}

fn network_rule(port: &str) -> String {
    policy(
        "network",
        &format!(
            "      action: Block\n      direction: Egress\n      cidrs: [10.0.0.0/8]\n      ports:\n        - port: {port}\n"
        ),
    )
}

#[test]
fn wrong_type_port_is_a_word() {
    let s = Scratch::with_companion("port-word");
    s.write("port.yaml", network_rule("\"eighty\""));
    let r = s.lint_json(&["port.yaml"]);
    r.assert_code(1);
    let f = r.finding("P011", "port.yaml");
    assert_at(f, 15, Some("spec.network[0].ports[0].port"));
    assert!(f["message"].as_str().unwrap().contains("\"integer\""), "{f}");
    r.assert_companion_linted();
}

#[test]
fn port_out_of_range() {
    let s = Scratch::with_companion("port-range");
    s.write("port.yaml", network_rule("70000"));
    let r = s.lint_json(&["port.yaml"]);
    r.assert_code(1);
    let f = r.finding("P011", "port.yaml");
    assert_at(f, 15, Some("spec.network[0].ports[0].port"));
    let msg = f["message"].as_str().unwrap();
    assert!(msg.contains("70000") && msg.contains("65535"), "{f}");
    r.assert_companion_linted();
}

// ---------------------------------------------------------------- limits

#[test]
fn alias_bomb_is_refused_quickly() {
    // The classic "billion laughs": 10^9 nodes once expanded.
    let mut bomb = String::from("lol0: &lol0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..9 {
        let refs = vec![format!("*lol{}", i - 1); 10].join(", ");
        bomb.push_str(&format!("lol{i}: &lol{i} [{refs}]\n"));
    }
    let s = Scratch::with_companion("bomb");
    s.write("bomb.yaml", &bomb);
    let r = s.lint_json(&["bomb.yaml"]);
    r.assert_code(1);
    r.assert_fast();
    let f = r.finding("P003", "bomb.yaml");
    assert!(f["message"].as_str().unwrap().contains("alias"), "{f}");
    // Keys and collections count as nodes: the document up to lol5's `[` is 123,463
    // nodes and each `*lol4` adds 111,111, so the eighth one passes 1,000,000.
    assert_at(f, 6, Some("lol5[7]"));
    assert_eq!(r.all_of("bomb.yaml").len(), 1, "{}", r.stdout);
    r.assert_companion_linted();
}

#[test]
fn deep_flow_nesting_is_refused() {
    let s = Scratch::with_companion("deep-flow");
    s.write("deep.yaml", "[".repeat(100_000));
    let r = s.lint_json(&["deep.yaml"]);
    r.assert_code(1);
    r.assert_fast();
    let found = r.all_of("deep.yaml");
    assert_eq!(found.len(), 1, "{}", r.stdout);
    let f = found[0];
    assert_eq!(f["line"], 1, "{f}");
    // The YAML scanner's own recursion limit (256 flow levels) trips before the
    // loader's depth limit of 128 sees the events, so this is reported as a syntax
    // error rather than P003; either way it is refused with a position.
    let msg = f["message"].as_str().unwrap();
    assert!(f["code"] == "P003" || (f["code"] == "P001" && msg.contains("recursion limit")), "{f}");
    r.assert_companion_linted();
}

#[test]
fn deep_block_nesting_is_refused() {
    let deep: String = (0..200).map(|i| format!("{}k:\n", "  ".repeat(i))).collect();
    let s = Scratch::with_companion("deep-block");
    s.write("deep.yaml", &deep);
    let r = s.lint_json(&["deep.yaml"]);
    r.assert_code(1);
    r.assert_fast();
    let f = r.finding("P003", "deep.yaml");
    assert!(f["message"].as_str().unwrap().contains("128"), "{f}");
    // The 129th mapping starts on line 129, as the value of 128 nested `k`s.
    assert_at(f, 129, Some(&vec!["k"; 128].join(".")));
    assert_eq!(r.all_of("deep.yaml").len(), 1, "{}", r.stdout);
    r.assert_companion_linted();
}

#[test]
fn huge_file_is_refused_unread() {
    // 17 MiB of comments and blank space, over the 16 MiB limit.
    let line = format!("#{}\n", " ".repeat(1022));
    let huge = line.repeat(17 * 1024);
    assert_eq!(huge.len(), 17 << 20);
    let s = Scratch::with_companion("huge");
    s.write("huge.yaml", &huge);
    let r = s.lint_json(&["huge.yaml"]);
    r.assert_code(1);
    r.assert_fast();
    let f = r.finding("P003", "huge.yaml");
    assert!(f["line"].is_null() && f["field"].is_null(), "{f}");
    assert!(f["message"].as_str().unwrap().contains("16777216"), "{f}");
    r.assert_companion_linted();
}

#[test]
fn huge_stdin_is_refused() {
    let huge = format!("#{}\n", " ".repeat(1022)).repeat(17 * 1024);
    let s = Scratch::with_companion("huge-stdin");
    let r = s.lint_json_stdin(&["-"], Some(huge.as_bytes()));
    r.assert_code(1);
    r.assert_fast();
    let f = r.finding("P003", "<stdin>");
    assert!(f["message"].as_str().unwrap().contains("16777216"), "{f}");
    r.assert_companion_linted();
}

// ---------------------------------------------------------------- encodings and empties

#[test]
fn non_utf8_is_located() {
    let s = Scratch::with_companion("utf8");
    s.write("latin1.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: caf\xe9\n");
    let r = s.lint_json(&["latin1.yaml"]);
    // The file was read; its bytes are wrong. That is a finding, not an I/O error.
    r.assert_code(1);
    let f = r.finding("P004", "latin1.yaml");
    assert_at(f, 4, None);
    assert_eq!(f["column"], 12);
    assert!(f["message"].as_str().unwrap().contains("UTF-8"), "{f}");
    r.assert_companion_linted();
}

#[test]
fn empty_file_is_a_warning() {
    let s = Scratch::with_companion("empty");
    s.write("empty.yaml", "");
    let r = s.lint_json(&["empty.yaml"]);
    r.assert_code(0);
    let f = r.finding("P005", "empty.yaml");
    assert_eq!(f["level"], "warning");
    assert!(f["line"].is_null(), "{f}");
    assert_eq!(r.json["summary"]["warnings"], 2);
    r.assert_companion_linted();
}

#[test]
fn comment_only_file_is_a_warning() {
    let s = Scratch::with_companion("comments");
    s.write("comments.yaml", "# nothing here yet\n---\n# nor here\n...\n");
    let r = s.lint_json(&["comments.yaml"]);
    r.assert_code(0);
    let f = r.finding("P005", "comments.yaml");
    assert_eq!(f["level"], "warning");
    r.assert_companion_linted();
    // With --fail-on warning the same run fails.
    let r = polc(&s.dir, &["lint", "--no-config", "--format", "json", "--fail-on", "warning", "comments.yaml"], None);
    r.assert_code(1);
}

#[test]
fn duplicate_key_names_the_first_line() {
    let s = Scratch::with_companion("dup");
    s.write(
        "dup.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: \"1\"\n  j: \"2\"\n  k: \"3\"\n---\napiVersion: v1\nkind: Service\n",
    );
    let r = s.lint_json(&["dup.yaml"]);
    r.assert_code(1);
    let f = r.finding("P002", "dup.yaml");
    assert_eq!(f["line"], 8, "{f}");
    // The field is the mapping, or (as the loader is being changed to report) the key.
    assert!(f["field"] == "data" || f["field"] == "data.k", "{f}");
    assert_eq!(f["column"], 3);
    assert!(f["message"].as_str().unwrap().contains("first defined at line 6"), "{f}");
    // The next document of the same file still loads.
    assert_eq!(r.json["summary"]["objects"], 2);
    r.assert_companion_linted();
}

// ---------------------------------------------------------------- unreadable paths

#[test]
fn nonexistent_path_exits_2_and_lints_the_rest() {
    let s = Scratch::with_companion("missing");
    let r = s.lint_json(&["no-such-file.yaml"]);
    r.assert_code(2);
    let f = r.finding("P004", "no-such-file.yaml");
    assert!(f["line"].is_null(), "{f}");
    assert!(f["message"].as_str().unwrap().contains("cannot read"), "{f}");
    r.assert_companion_linted();
}

#[test]
fn mode_000_file_and_directory() {
    let s = Scratch::with_companion("mode000");
    let file = s.write("locked.yaml", COMPANION.replace("companion", "locked-file"));
    let dir = s.dir.join("locked-dir");
    s.write("locked-dir/inner.yaml", COMPANION.replace("companion", "locked-dir"));
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o000)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o000)).unwrap();
    let r = s.lint_json(&["locked.yaml", "locked-dir"]);
    r.assert_companion_linted();
    if permissions_enforced(&file) {
        r.assert_code(2);
        for name in ["locked.yaml", "locked-dir"] {
            let f = r.finding("P004", name);
            assert!(f["message"].as_str().unwrap().contains("ermission denied"), "{f}");
        }
    } else {
        // Root reads through mode 000: both are linted like any other file.
        eprintln!("running as root: mode 000 does not stop reads, checking they lint");
        r.assert_code(0);
        assert_eq!(r.findings("P022", "locked.yaml").len(), 1, "{}", r.stdout);
        assert_eq!(r.findings("P022", "locked-dir/inner.yaml").len(), 1, "{}", r.stdout);
    }
}

// ---------------------------------------------------------------- stdin, documents

#[test]
fn stdin_is_linted_as_stdin() {
    let s = Scratch::with_companion("stdin");
    let text = policy("process", "      action: Block\n      paths: [/bin/sh\n");
    let r = s.lint_json_stdin(&["-"], Some(text.as_bytes()));
    r.assert_code(1);
    let f = r.finding("P001", "<stdin>");
    assert_at(f, 13, Some("spec.process[0].paths[1]"));
    r.assert_companion_linted();
}

#[test]
fn scalar_and_list_documents_are_not_objects() {
    let s = Scratch::with_companion("scalar");
    s.write("docs.yaml", "- a\n- b\n---\n42\n---\n\"just a string\"\n");
    let r = s.lint_json(&["docs.yaml"]);
    r.assert_code(1);
    let found = r.findings("P006", "docs.yaml");
    assert_eq!(found.len(), 3, "{}", r.stdout);
    for (f, (line, n)) in found.iter().zip([(1, 1), (4, 2), (6, 3)]) {
        assert_at(f, line, None);
        assert!(f["message"].as_str().unwrap().contains(&format!("document {n} is not a mapping")), "{f}");
    }
    r.assert_companion_linted();
}

#[test]
fn unknown_field_suggests_the_known_one() {
    let s = Scratch::with_companion("unknown-field");
    s.write("typo.yaml", policy("process", "      action: Block\n      pahts: [/bin/sh]\n"));
    let r = s.lint_json(&["typo.yaml"]);
    r.assert_code(1);
    let f = r.finding("P012", "typo.yaml");
    assert_at(f, 12, Some("spec.process[0].pahts"));
    assert_eq!(f["column"], 7);
    assert_eq!(f["help"], "did you mean `paths`?");
    r.assert_companion_linted();
}

#[test]
fn unknown_kind_suggests_the_known_one() {
    let s = Scratch::with_companion("unknown-kind");
    s.write("kind.yaml", "apiVersion: polc.dev/v1alpha1\nkind: PreventionPolicyy\nmetadata:\n  name: a\nspec: {}\n");
    let r = s.lint_json(&["kind.yaml"]);
    r.assert_code(1);
    let f = r.finding("P010", "kind.yaml");
    assert_at(f, 2, Some("kind"));
    assert_eq!(f["help"], "did you mean `PreventionPolicy`?");
    r.assert_companion_linted();
}

// ---------------------------------------------------------------- human output

#[test]
fn human_output_names_file_line_and_column() {
    let s = Scratch::with_companion("human");
    s.write("typo.yaml", policy("process", "      action: Block\n      pahts: [/bin/sh]\n"));
    s.write("unclosed.yaml", "a: [\n");
    let r = polc(
        &s.dir,
        &["lint", "--no-config", "--format", "human", "--color", "never", "typo.yaml", "unclosed.yaml", COMPANION_FILE],
        None,
    );
    r.assert_code(1);
    for want in [
        "error[P012]: unknown field `pahts`",
        "--> typo.yaml:12:7",
        "help: did you mean `paths`?",
        "error[P001]",
        "--> unclosed.yaml:2:1",
        "warning[P022]",
        "--> companion.yaml:7:3",
        "3 files",
    ] {
        assert!(r.stdout.contains(want), "missing {want:?} in:\n{}", r.stdout);
    }
}

/// `.polc.yaml`'s `exclude` leaves out what walking a directory finds (a directory
/// with everything below it, and files by glob), never a file named on the command
/// line; a bad glob is a configuration error at its line.
#[test]
fn exclude_leaves_out_walked_paths_only() {
    let s = Scratch::with_companion("exclude");
    s.write(".polc.yaml", "exclude:\n  - fixtures\n  - \"more/bad-*.yaml\"\n");
    let broken = policy("process", "      action: Block\n      paths: [bin/sh]\n");
    s.write("fixtures/deep/broken.yaml", &broken);
    s.write("more/bad-1.yaml", &broken);
    s.write("more/kept.yaml", &broken);
    let files = |r: &Run| -> std::collections::BTreeSet<String> {
        r.json["findings"].as_array().unwrap().iter().map(|f| f["file"].as_str().unwrap().to_string()).collect()
    };
    let walked = polc(&s.dir, &["lint", "--format", "json", "."], None).with_json();
    assert_eq!(walked.code, 1, "{}", walked.stderr);
    let found = files(&walked);
    assert!(found.iter().any(|f| f.ends_with("more/kept.yaml")), "{found:?}");
    assert!(!found.iter().any(|f| f.contains("fixtures") || f.contains("bad-1")), "{found:?}");
    assert_eq!(walked.json["summary"]["files"], 2, "companion.yaml and more/kept.yaml");
    for name in ["fixtures/deep/broken.yaml", "fixtures/deep", "fixtures"] {
        let named = polc(&s.dir, &["lint", "--format", "json", name], None).with_json();
        assert!(files(&named).iter().any(|f| f.ends_with("broken.yaml")), "{name} is linted: {}", named.stdout);
    }
    // Everything left out is said, not a silent clean run.
    s.write(".polc.yaml", "exclude: [\"more/*\"]\n");
    let none = polc(&s.dir, &["lint", "more"], None);
    assert!(none.stderr.contains("nothing to read") && none.stderr.contains("2 paths"), "{}", none.stderr);
    s.write(".polc.yaml", "exclude:\n  - fixtures\n  - ../up\n");
    let bad = polc(&s.dir, &["lint", "."], None);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains(".polc.yaml:3:") && bad.stderr.contains("exclude[1]"), "{}", bad.stderr);
}
