//! `polc compile --target cilium` end to end, with the built binary: snapshots of the
//! output for examples/ and policies/, a policy set that exercises every feature of
//! the backend, and every generated CiliumNetworkPolicy checked the way a cluster
//! would check it:
//!
//! - against the served `v2` `openAPIV3Schema` of **both** CRDs in
//!   `shared/conformance` (Cilium 1.20 and Cilium <= 1.19), translated to JSON Schema
//!   as the API server reads it: OpenAPI `nullable` becomes a `null` type,
//!   `x-kubernetes-list-type: set` becomes `uniqueItems`, `map` lists must have unique
//!   keys, only the formats the API server knows are checked (`cidr` as Go's
//!   `net.ParseCIDR` does; `idn-hostname`, `int32` ... are dropped as it drops them),
//!   and the `x-kubernetes-validations` CEL rules are checked by hand (an unknown rule
//!   fails the test, so a schema update cannot slip past);
//! - for fields the API server would prune (not in the structural schema), and for a
//!   valid `metadata`;
//! - against what Cilium's own rule validation rejects and the CRD does not express:
//!   one kind of peer per rule, L7 HTTP rules on TCP ports only, DNS rules on egress
//!   port 53 only, at most 40 ports per `toPorts` entry.
//!
//! A missing schema file fails the tests; nothing is skipped.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{Scratch, conformance, openapi_to_json_schema, read_yaml, root};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const CRD_CURRENT: &str =
    "metio/kube-custom-resources-rs/crd-catalog/cilium/cilium/cilium.io/v2/ciliumnetworkpolicies.yaml";
const CRD_1_19: &str = "metio/kube-custom-resources-rs/at-3f2a36236647dfa01e5cbfc0031a399a4e5d77dc/crd-catalog/cilium/cilium/cilium.io/v2/ciliumnetworkpolicies.yaml";

/// The formats the API server validates (k8s.io/apiextensions-apiserver); it strips
/// every other `format` from a CRD schema.
const K8S_FORMATS: &[&str] = &[
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
];

/// ObjectMeta fields a manifest may set.
const OBJECT_META: &[&str] = &["name", "namespace", "labels", "annotations", "finalizers", "ownerReferences"];

// ---------------------------------------------------------------------------------
// The CRD schemas.
// ---------------------------------------------------------------------------------

struct Crd {
    label: &'static str,
    /// The served version's openAPIV3Schema as written.
    schema: Value,
    validator: jsonschema::Validator,
}

fn crds() -> &'static [Crd] {
    static CRDS: OnceLock<Vec<Crd>> = OnceLock::new();
    CRDS.get_or_init(|| vec![load_crd("cilium 1.20", CRD_CURRENT), load_crd("cilium <= 1.19", CRD_1_19)])
}

fn load_crd(label: &'static str, rel: &str) -> Crd {
    let doc = read_yaml(&conformance(rel));
    assert_eq!(doc["kind"], "CustomResourceDefinition", "{rel}");
    assert_eq!(doc["spec"]["group"], "cilium.io", "{rel}");
    assert_eq!(doc["spec"]["names"]["kind"], "CiliumNetworkPolicy", "{rel}");
    assert_eq!(doc["spec"]["scope"], "Namespaced", "{rel}");
    let version = doc["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == "v2" && v["served"] == true)
        .unwrap_or_else(|| panic!("{rel}: no served v2 version"));
    let schema = version["schema"]["openAPIV3Schema"].clone();
    assert!(schema.is_object(), "{rel}: no openAPIV3Schema");
    let mut js = schema.clone();
    to_json_schema(&mut js);
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(true)
        .with_format("cidr", is_cidr)
        .build(&js)
        .unwrap_or_else(|e| panic!("{rel}: schema does not compile: {e}"));
    Crd { label, schema, validator }
}

/// OpenAPI as the API server reads it, in JSON Schema: beyond the shared `nullable`
/// translation, a nullable enum admits `null`, `set` lists have unique items, patterns
/// are RE2 and formats the API server does not know are dropped.
fn to_json_schema(v: &mut Value) {
    openapi_to_json_schema(v, &mut |m, nullable| {
        if nullable && let Some(Value::Array(e)) = m.get_mut("enum") {
            e.push(Value::Null);
        }
        if m.get("x-kubernetes-list-type") == Some(&json!("set")) {
            m.insert("uniqueItems".into(), Value::Bool(true));
        }
        if let Some(Value::String(re)) = m.get_mut("pattern") {
            *re = re2_to_ecma(re);
        }
        if let Some(Value::String(f)) = m.get("format")
            && !K8S_FORMATS.contains(&f.as_str())
        {
            m.remove("format");
        }
    });
}

/// The API server compiles `pattern` with Go's RE2, which allows the one-letter class
/// shorthand `\pL`/`\PC`; ECMA-262 (the JSON Schema dialect) needs `\p{L}`/`\P{C}`.
fn re2_to_ecma(re: &str) -> String {
    let mut out = String::with_capacity(re.len());
    let mut chars = re.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '\\'
            && let Some(&n) = chars.peek()
        {
            chars.next();
            out.push(n);
            if matches!(n, 'p' | 'P')
                && let Some(&class) = chars.peek()
                && class.is_ascii_uppercase()
            {
                chars.next();
                out.push_str(&format!("{{{class}}}"));
            }
        }
    }
    out
}

/// Go's `net.ParseCIDR`: an IPv4 or IPv6 address, `/`, a prefix length that fits it.
fn is_cidr(s: &str) -> bool {
    let Some((addr, prefix)) = s.split_once('/') else { return false };
    let Ok(addr) = addr.parse::<std::net::IpAddr>() else { return false };
    let width = if addr.is_ipv4() { 32 } else { 128 };
    !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_digit()) && prefix.parse::<u32>().is_ok_and(|p| p <= width)
}

/// Every CEL rule of the schema, with the JSON pointer of the schema node it is on.
fn cel_rules(schema: &Value, at: &str, out: &mut Vec<(String, String)>) {
    if let Some(rules) = schema.get("x-kubernetes-validations").and_then(Value::as_array) {
        for r in rules {
            out.push((at.to_string(), r["rule"].as_str().unwrap_or_default().to_string()));
        }
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, s) in props {
            cel_rules(s, &format!("{at}/{k}"), out);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(s) = schema.get(key).filter(|s| s.is_object()) {
            cel_rules(s, &format!("{at}/{key}"), out);
        }
    }
}

// ---------------------------------------------------------------------------------
// The checks.
// ---------------------------------------------------------------------------------

/// Every problem a cluster with either CRD (and Cilium itself) would have with `obj`.
fn problems(path: &str, obj: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for crd in crds() {
        for e in crd.validator.iter_errors(obj) {
            out.push(format!("{}: schema: {} at {}", crd.label, e, e.instance_path()));
        }
        let mut pruned = Vec::new();
        unknown_fields(&crd.schema, obj, "", &mut pruned);
        out.extend(pruned.into_iter().map(|p| format!("{}: pruned by the API server: {p}", crd.label)));
        let mut rules = Vec::new();
        cel_rules(&crd.schema, "", &mut rules);
        for (at, rule) in rules {
            match (at.as_str(), rule.as_str()) {
                ("", "has(self.spec) || has(self.specs)") => {
                    if obj.get("spec").is_none() && obj.get("specs").is_none() {
                        out.push(format!("{}: CEL `{rule}` fails", crd.label));
                    }
                }
                _ => {
                    out.push(format!("{}: unknown CEL rule `{rule}` at `{at}`: teach this test to check it", crd.label))
                }
            }
        }
    }
    out.extend(metadata_problems(path, obj));
    out.extend(cilium_problems(&obj["spec"]));
    out
}

/// Fields the API server prunes: not in `properties`, no object `additionalProperties`,
/// no `x-kubernetes-preserve-unknown-fields`. `metadata` is checked against ObjectMeta.
fn unknown_fields(schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
                return;
            }
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            for (k, v) in map {
                let here = format!("{at}/{k}");
                if at.is_empty() && k == "metadata" {
                    continue;
                }
                if let Some(sub) = props.and_then(|p| p.get(k)) {
                    unknown_fields(sub, v, &here, out);
                } else if let Some(sub) = additional.filter(|a| a.is_object()) {
                    unknown_fields(sub, v, &here, out);
                } else if additional != Some(&Value::Bool(true)) {
                    out.push(here);
                }
            }
        }
        Value::Array(items) => {
            if let Some(sub) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    unknown_fields(sub, v, &format!("{at}/{i}"), out);
                }
            }
        }
        _ => {}
    }
}

fn dns_label(s: &str, max: usize) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

fn dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(|l| dns_label(l, 63))
}

fn label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

fn qualified_name(s: &str) -> bool {
    match s.split_once('/') {
        Some((prefix, name)) => dns_subdomain(prefix) && label_name(name),
        None => label_name(s),
    }
}

fn metadata_problems(path: &str, obj: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let meta = &obj["metadata"];
    if obj["apiVersion"] != "cilium.io/v2" || obj["kind"] != "CiliumNetworkPolicy" {
        out.push(format!("not a cilium.io/v2 CiliumNetworkPolicy: {} {}", obj["apiVersion"], obj["kind"]));
    }
    for k in meta.as_object().into_iter().flat_map(|m| m.keys()) {
        if !OBJECT_META.contains(&k.as_str()) {
            out.push(format!("metadata.{k} is not an ObjectMeta field a manifest sets"));
        }
    }
    let (name, ns) = (meta["name"].as_str().unwrap_or_default(), meta["namespace"].as_str().unwrap_or_default());
    if !dns_subdomain(name) {
        out.push(format!("metadata.name `{name}` is not a DNS subdomain"));
    }
    if !dns_label(ns, 63) {
        out.push(format!("metadata.namespace `{ns}` is not a DNS label"));
    }
    if path != format!("cilium/{ns}/{name}.yaml") {
        out.push(format!("written to {path}, not cilium/{ns}/{name}.yaml"));
    }
    for (k, v) in meta["labels"].as_object().into_iter().flatten() {
        let v = v.as_str().unwrap_or("<not a string>");
        if !qualified_name(k) || !(v.is_empty() || label_name(v)) {
            out.push(format!("label `{k}: {v}` is not a valid label"));
        }
    }
    for (k, v) in meta["annotations"].as_object().into_iter().flatten() {
        if !qualified_name(k) || !v.is_string() {
            out.push(format!("annotation `{k}` is not a valid annotation"));
        }
    }
    if meta["labels"]["app.kubernetes.io/managed-by"] != "polc" {
        out.push("no app.kubernetes.io/managed-by: polc label".into());
    }
    out
}

/// What Cilium's rule validation rejects beyond the CRD (pkg/policy/api/rule_validation.go).
fn cilium_problems(spec: &Value) -> Vec<String> {
    const L3: &[&str] = &[
        "toEndpoints",
        "toCIDR",
        "toCIDRSet",
        "toEntities",
        "toServices",
        "toFQDNs",
        "toGroups",
        "toNodes",
        "fromEndpoints",
        "fromCIDR",
        "fromCIDRSet",
        "fromEntities",
        "fromGroups",
        "fromNodes",
    ];
    let mut out = Vec::new();
    for section in ["egress", "egressDeny", "ingress", "ingressDeny"] {
        for (i, rule) in spec[section].as_array().into_iter().flatten().enumerate() {
            let kinds: Vec<&str> =
                L3.iter().copied().filter(|k| rule.get(*k).is_some_and(|v| v != &json!([]))).collect();
            if kinds.len() > 1 {
                out.push(format!("{section}[{i}] combines {}", kinds.join(" and ")));
            }
            for (j, tp) in rule["toPorts"].as_array().into_iter().flatten().enumerate() {
                let ports = tp["ports"].as_array().cloned().unwrap_or_default();
                if ports.len() > 40 {
                    out.push(format!("{section}[{i}].toPorts[{j}] has {} ports (Cilium's maximum is 40)", ports.len()));
                }
                let rules = &tp["rules"];
                if rules.get("http").is_some() && ports.iter().any(|p| p["protocol"] != "TCP") {
                    out.push(format!("{section}[{i}].toPorts[{j}]: L7 HTTP rules on a port that is not TCP"));
                }
                if rules.get("dns").is_some()
                    && (section != "egress" || ports.iter().any(|p| p["port"] != "53" || p.get("endPort").is_some()))
                {
                    out.push(format!("{section}[{i}].toPorts[{j}]: DNS rules need egress port 53"));
                }
            }
        }
    }
    if spec.get("enableDefaultDeny").is_none() {
        out.push("polc always states enableDefaultDeny".into());
    }
    out
}

// ---------------------------------------------------------------------------------
// Running polc.
// ---------------------------------------------------------------------------------

struct Compiled {
    /// `(path, text, object)` of every file under `cilium/`, sorted by path.
    objects: Vec<(String, String, Value)>,
    /// The cilium capability entries of report.json.
    capabilities: Vec<Value>,
}

impl Compiled {
    fn object(&self, name: &str) -> &Value {
        let want = format!("/{name}.yaml");
        &self
            .objects
            .iter()
            .find(|(p, _, _)| p.ends_with(&want))
            .unwrap_or_else(|| panic!("no {name}; have {:?}", self.objects.iter().map(|o| &o.0).collect::<Vec<_>>()))
            .2
    }

    fn spec(&self, name: &str) -> &Value {
        &self.object(name)["spec"]
    }

    fn has(&self, name: &str) -> bool {
        let want = format!("/{name}.yaml");
        self.objects.iter().any(|(p, _, _)| p.ends_with(&want))
    }

    /// The one capability entry of `policy` (name) and `rule`, or every entry when several.
    fn caps(&self, policy: &str, rule: &str) -> Vec<&Value> {
        let want = format!("/{policy}");
        let found: Vec<&Value> = self
            .capabilities
            .iter()
            .filter(|c| c["policy"].as_str().is_some_and(|p| p.ends_with(&want)) && c["rule"] == rule)
            .collect();
        assert!(!found.is_empty(), "no capability for {policy} {rule}:\n{:#?}", self.capabilities);
        found
    }

    /// The support of every entry of the rule, which must all agree.
    fn support(&self, policy: &str, rule: &str) -> (String, String) {
        let caps = self.caps(policy, rule);
        let s: BTreeSet<(String, String)> = caps
            .iter()
            .map(|c| (c["support"].as_str().unwrap().to_string(), c["reason"].as_str().unwrap_or_default().to_string()))
            .collect();
        assert_eq!(s.len(), 1, "{policy} {rule}: entries disagree: {s:#?}");
        s.into_iter().next().unwrap()
    }

    /// Check every object; panics with the list of problems.
    fn conform(&self) {
        let mut all = Vec::new();
        for (path, _, obj) in &self.objects {
            all.extend(problems(path, obj).into_iter().map(|p| format!("{path}: {p}")));
        }
        assert!(all.is_empty(), "generated CiliumNetworkPolicies a cluster would reject:\n{}", all.join("\n"));
    }

    fn artifacts_text(&self) -> String {
        self.objects.iter().map(|(p, t, _)| format!("# {p}\n{t}")).collect::<Vec<_>>().join("---\n")
    }

    fn capabilities_text(&self) -> String {
        let mut rows: Vec<String> = self
            .capabilities
            .iter()
            .map(|c| {
                let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
                let reason = s("reason");
                let note = if reason.is_empty() { String::new() } else { format!("\n    {reason}") };
                format!("{} | {} | {} | {} | {}{note}", s("policy"), s("rule"), s("matches"), s("source"), s("support"))
            })
            .collect();
        rows.sort();
        rows.join("\n") + "\n"
    }
}

fn polc(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_polc")).current_dir(root()).args(args).output().unwrap()
}

/// `polc compile INPUTS --out OUT --target cilium --format json --no-config` in the
/// repository root; must succeed.
fn compile(inputs: &[&Path], out: &Path) -> Compiled {
    let mut args: Vec<&std::ffi::OsStr> = vec!["compile".as_ref()];
    args.extend(inputs.iter().map(|p| p.as_os_str()));
    args.extend(["--out".as_ref(), out.as_os_str()]);
    args.extend(["--target", "cilium", "--format", "json", "--no-config"].map(std::ffi::OsStr::new));
    let run = polc(&args);
    let (stdout, stderr) = (String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert_eq!(run.status.code(), Some(0), "polc compile failed:\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("report is not JSON ({e}):\n{stdout}"));
    let capabilities: Vec<Value> =
        report["capabilities"].as_array().unwrap().iter().filter(|c| c["backend"] == "cilium").cloned().collect();
    let mut objects = Vec::new();
    let dir = out.join("cilium");
    if dir.is_dir() {
        for ns in std::fs::read_dir(&dir).unwrap() {
            let ns = ns.unwrap().path();
            assert!(ns.is_dir(), "{} is not a namespace directory", ns.display());
            for f in std::fs::read_dir(&ns).unwrap() {
                let f = f.unwrap().path();
                let text = std::fs::read_to_string(&f).unwrap();
                let obj: Value = serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
                let rel = f.strip_prefix(out).unwrap().to_string_lossy().replace('\\', "/");
                objects.push((rel, text, obj));
            }
        }
    }
    objects.sort_by(|a, b| a.0.cmp(&b.0));
    Compiled { objects, capabilities }
}

// ---------------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------------

#[test]
fn examples_conform_and_match_the_snapshots() {
    let s = Scratch::new("examples");
    let out = compile(&[Path::new("examples")], &s.dir.join("out"));
    assert_eq!(out.objects.len(), 15, "{:?}", out.objects.iter().map(|o| &o.0).collect::<Vec<_>>());
    out.conform();
    // Every NetworkAccessPolicy of the shop is an allow-list enforced exactly.
    for c in &out.capabilities {
        if c["policy"].as_str().unwrap().starts_with("NetworkAccessPolicy") {
            assert_eq!(c["support"], "exact", "{c:#}");
        }
    }
    assert_eq!(out.spec("polc-front-end")["enableDefaultDeny"], json!({"egress": true, "ingress": true}));
    assert_eq!(
        out.spec("polc-sock-shop-kernel-surface-network")["enableDefaultDeny"],
        json!({"egress": false}),
        "PreventionPolicy output only ever denies"
    );
    insta::assert_snapshot!("examples_artifacts", out.artifacts_text());
    insta::assert_snapshot!("examples_capabilities", out.capabilities_text());
}

#[test]
fn policies_conform_and_match_the_snapshots() {
    let s = Scratch::new("policies");
    let out = compile(&[Path::new("policies")], &s.dir.join("out"));
    out.conform();
    // The library ships in DryRun: Cilium must not deny anything.
    for (path, _, obj) in &out.objects {
        for k in ["egressDeny", "ingressDeny"] {
            assert!(obj["spec"].get(k).is_none(), "{path}: a DryRun library policy denies");
        }
    }
    let (support, reason) = out.support("block-cloud-metadata-egress", "block-instance-metadata");
    assert_eq!(support, "approximated");
    assert!(reason.contains("mode DryRun"), "{reason}");
    insta::assert_snapshot!("policies_artifacts", out.artifacts_text());
    insta::assert_snapshot!("policies_capabilities", out.capabilities_text());
}

const FEATURES: &str = r#"
apiVersion: polc.dev/v1alpha1
kind: NetworkAccessPolicy
metadata: {name: api, namespace: shop}
spec:
  selector:
    matchLabels: {app: api}
    matchExpressions: [{key: tier, operator: NotIn, values: [test]}]
  egress:
    - name: partners
      action: Allow
      peers: [{fqdn: partner.example.com}, {fqdn: "*.cdn.example.net"}]
      ports: [{port: 443}]
      http:
        - {method: GET, path: "/v2/.*", host: 'partner\.example\.com', headers: ["X-Tenant:shop", Authorization]}
    - name: internet-except-private
      action: Allow
      peers: [{cidr: 0.0.0.0/0, except: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]}]
      ports: [{port: 8000, endPort: 8100}, {port: 9000, protocol: UDP}, {port: 9999, protocol: SCTP}]
    - name: cluster-services
      action: Allow
      peers: [{entity: remote-node}, {entity: cluster}, {entity: kube-apiserver}, {entity: host}]
      ports: [{port: 10250}]
    - name: collector
      action: Allow
      peers:
        - namespaces:
            matchLabels: {team: obs}
            matchExpressions: [{key: env, operator: In, values: [prod, stage]}]
          pods: {matchLabels: {app: collector}}
      ports: [{port: 4317, protocol: ANY}]
    - name: no-metadata
      action: Block
      peers: [{cidr: 169.254.169.254/32}]
    - name: audit-smtp
      action: Audit
      peers: [{entity: world}]
      ports: [{port: 25}]
  ingress:
    - name: from-web
      action: Allow
      peers: [{pods: {matchLabels: {app: web}}}, {namespaces: {matchLabels: {kubernetes.io/metadata.name: edge}}}]
      ports: [{port: 8080}]
      http: [{method: POST, path: /v1/orders}, {method: GET}]
    - name: public
      action: Allow
      peers: [{entity: world}]
      ports: [{port: 443}]
    - name: no-scanners
      action: Block
      peers: [{cidr: 198.51.100.0/24}, {cidr: "2001:db8::/32"}]
---
apiVersion: polc.dev/v1alpha1
kind: NetworkAccessPolicy
metadata: {name: legacy, namespace: shop}
spec:
  selector: {matchLabels: {app: legacy}}
  defaultAction: Allow
  egress:
    - name: block-partner-net
      action: Block
      peers: [{cidr: 203.0.113.0/24}]
    - name: allow-partner-api
      action: Allow
      peers: [{cidr: 203.0.113.10/32}]
      ports: [{port: 443}]
    - name: block-evil
      action: Block
      peers: [{fqdn: evil.example.com}]
    - name: l7-without-default-deny
      action: Allow
      peers: [{entity: world}]
      ports: [{port: 80}]
      http: [{method: GET}]
  ingress:
    - name: watch-ssh
      action: Audit
      ports: [{port: 22}]
---
apiVersion: polc.dev/v1alpha1
kind: NetworkAccessPolicy
metadata: {name: rollout, namespace: shop}
spec:
  selector: {matchLabels: {app: rollout}}
  mode: DryRun
  egress:
    - name: only-db
      action: Allow
      peers: [{pods: {matchLabels: {app: db}}}]
      ports: [{port: 5432}]
    - name: no-world
      action: Block
      peers: [{entity: world}]
---
apiVersion: polc.dev/v1alpha1
kind: NetworkAccessPolicy
metadata: {name: observe, namespace: shop}
spec:
  selector: {matchLabels: {app: observe}}
  defaultAction: Audit
  ingress:
    - name: lb
      action: Allow
      peers: [{entity: world}]
      ports: [{port: 443}]
---
apiVersion: polc.dev/v1alpha1
kind: NetworkAccessPolicy
metadata: {name: sealed, namespace: shop}
spec:
  selector: {matchLabels: {app: batch}}
  ingress:
    - name: nothing-from-world
      action: Block
      peers: [{entity: world}]
---
apiVersion: polc.dev/v1alpha1
kind: PreventionPolicy
metadata: {name: guard, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  network:
    - {name: no-metadata, action: Block, cidrs: [169.254.169.254/32, "fd00:ec2::254/128"], ports: [{port: 80}]}
    - {name: no-telnet-in, action: Block, direction: Ingress, ports: [{port: 23}]}
    - {name: no-raw, action: Block, rawSockets: true}
  process:
    - {name: no-shells, action: Block, paths: [/bin/sh, /bin/bash]}
---
apiVersion: polc.dev/v1alpha1
kind: PreventionPolicy
metadata: {name: app-only, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  containers: [app]
  network:
    - {name: no-metadata, action: Block, cidrs: [169.254.169.254/32]}
---
apiVersion: polc.dev/v1alpha1
kind: PreventionPolicy
metadata: {name: egress-list, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  defaultAction: Block
  network:
    - {name: https, action: Allow, ports: [{port: 443}]}
---
apiVersion: polc.dev/v1alpha1
kind: RuntimePolicy
metadata: {name: api-baseline, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  baseline:
    egress: [{cidr: 10.0.0.0/8, ports: [{port: 5432}]}]
    syscalls: [read, write]
"#;

#[test]
fn every_feature_conforms_to_both_crds() {
    let s = Scratch::new("features");
    let mut many = String::from(
        "apiVersion: polc.dev/v1alpha1\nkind: NetworkAccessPolicy\nmetadata: {name: many-ports, namespace: shop}\n\
         spec:\n  selector: {matchLabels: {app: many}}\n  egress:\n    - name: fanout\n      action: Allow\n      \
         peers: [{entity: world}]\n      ports:\n",
    );
    for p in 1000..1045 {
        many.push_str(&format!("        - {{port: {p}}}\n"));
    }
    let inputs = [s.write("features.yaml", FEATURES), s.write("many.yaml", &many)];
    let out = compile(&inputs.iter().map(PathBuf::as_path).collect::<Vec<_>>(), &s.dir.join("out"));
    out.conform();
    let names: Vec<&str> = out.objects.iter().map(|o| o.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "cilium/shop/polc-api.yaml",
            "cilium/shop/polc-guard-network.yaml",
            "cilium/shop/polc-legacy.yaml",
            "cilium/shop/polc-many-ports.yaml",
            "cilium/shop/polc-observe.yaml",
            "cilium/shop/polc-rollout.yaml",
            "cilium/shop/polc-sealed.yaml",
        ]
    );

    // An allow-list with every kind of peer, L7 rules, ranges and protocols.
    let api = out.spec("polc-api");
    assert_eq!(api["enableDefaultDeny"], json!({"egress": true, "ingress": true}));
    assert_eq!(
        api["endpointSelector"],
        json!({"matchLabels": {"app": "api"}, "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["test"]}]})
    );
    let egress = api["egress"].as_array().unwrap();
    assert_eq!(
        egress[0],
        json!({"toFQDNs": [{"matchName": "partner.example.com"}, {"matchPattern": "*.cdn.example.net"}],
               "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}], "rules": {"http": [
                   {"method": "GET", "path": "/v2/.*", "host": "partner\\.example\\.com", "headers": ["X-Tenant: shop", "Authorization"]}]}}]})
    );
    assert_eq!(
        egress[1],
        json!({"toCIDRSet": [{"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]}],
               "toPorts": [{"ports": [{"port": "8000", "endPort": 8100, "protocol": "TCP"}, {"port": "9000", "protocol": "UDP"},
                                      {"port": "9999", "protocol": "SCTP"}]}]})
    );
    assert_eq!(
        egress[2],
        json!({"toEntities": ["cluster", "host", "kube-apiserver", "remote-node"],
               "toPorts": [{"ports": [{"port": "10250", "protocol": "TCP"}]}]})
    );
    assert_eq!(
        egress[3]["toEndpoints"],
        json!([{"matchLabels": {"app": "collector", "k8s:io.cilium.k8s.namespace.labels.team": "obs"},
                "matchExpressions": [{"key": "k8s:io.cilium.k8s.namespace.labels.env", "operator": "In", "values": ["prod", "stage"]},
                                     {"key": "k8s:io.kubernetes.pod.namespace", "operator": "Exists"}]}])
    );
    assert_eq!(egress[3]["toPorts"][0]["ports"], json!([{"port": "4317", "protocol": "ANY"}]));
    assert_eq!(
        egress[4],
        json!({"toEntities": ["world"], "toPorts": [{"ports": [{"port": "25", "protocol": "TCP"}]}]})
    );
    // The DNS rule polc adds for the FQDN peers, last.
    assert_eq!(
        egress[5],
        json!({"toEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system", "k8s:k8s-app": "kube-dns"}}],
               "toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}], "rules": {"dns": [{"matchPattern": "*"}]}}]})
    );
    assert_eq!(egress.len(), 6);
    assert_eq!(api["egressDeny"], json!([{"toCIDRSet": [{"cidr": "169.254.169.254/32"}]}]));
    assert_eq!(
        api["ingress"][0]["fromEndpoints"],
        json!([{"matchLabels": {"app": "web"}}, {"matchLabels": {"k8s:io.kubernetes.pod.namespace": "edge"}}])
    );
    assert_eq!(
        api["ingress"][0]["toPorts"][0]["rules"],
        json!({"http": [{"method": "POST", "path": "/v1/orders"}, {"method": "GET"}]})
    );
    assert_eq!(
        api["ingressDeny"],
        json!([{"fromCIDRSet": [{"cidr": "198.51.100.0/24"}, {"cidr": "2001:db8::/32"}]}]),
        "the scanner ranges override the public 443 rule"
    );
    let (s, r) = out.support("api", "partners");
    assert!(s == "approximated" && r.contains("adds an egress rule allowing DNS"), "{s} {r}");
    let (s, r) = out.support("api", "internet-except-private");
    assert!(s == "approximated" && r.contains("only outside the cluster"), "{s} {r}");
    let (s, r) = out.support("api", "audit-smtp");
    assert!(s == "approximated" && r.starts_with("Audit"), "{s} {r}");
    for rule in ["cluster-services", "collector", "no-metadata", "from-web", "public", "no-scanners"] {
        assert_eq!(out.support("api", rule).0, "exact", "{rule}");
    }

    // Default Allow: no default deny; the Block and the more specific Allow under it.
    let legacy = out.spec("polc-legacy");
    assert_eq!(legacy["enableDefaultDeny"], json!({"egress": false, "ingress": false}));
    assert_eq!(legacy["egressDeny"], json!([{"toCIDRSet": [{"cidr": "203.0.113.0/24"}]}]));
    assert_eq!(
        legacy["egress"],
        json!([{"toCIDRSet": [{"cidr": "203.0.113.10/32"}], "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]}]),
        "no FQDN deny, no L7 allow without default deny"
    );
    assert_eq!(
        legacy["ingress"],
        json!([{"fromEntities": ["all"], "toPorts": [{"ports": [{"port": "22", "protocol": "TCP"}]}]}])
    );
    let (s, r) = out.support("legacy", "allow-partner-api");
    assert!(s == "approximated" && r.contains("deny rules win") && r.contains("block-partner-net"), "{s} {r}");
    let (s, r) = out.support("legacy", "block-evil");
    assert!(s == "notExpressible" && r.contains("toFQDNs"), "{s} {r}");
    assert_eq!(out.support("legacy", "l7-without-default-deny").0, "exact");
    assert!(out.support("legacy", "watch-ssh").1.starts_with("Audit"));

    // DryRun and Audit defaults never deny.
    let rollout = out.spec("polc-rollout");
    assert_eq!(rollout["enableDefaultDeny"], json!({"egress": false}));
    assert!(rollout.get("egressDeny").is_none());
    assert!(out.support("rollout", "no-world").1.contains("mode DryRun"));
    assert!(out.support("rollout", "defaultAction").1.contains("mode DryRun"));
    assert_eq!(out.spec("polc-observe")["enableDefaultDeny"], json!({"ingress": false}));
    assert!(out.support("observe", "defaultAction").1.contains("defaultAction Audit"));

    // Default deny with nothing allowed.
    let sealed = out.spec("polc-sealed");
    assert_eq!(sealed["ingress"], json!([{}]));
    assert_eq!(sealed["enableDefaultDeny"], json!({"ingress": true}));

    // More than 40 ports: split over toPorts entries.
    let tp = out.spec("polc-many-ports")["egress"][0]["toPorts"].as_array().unwrap().clone();
    assert_eq!(tp.iter().map(|t| t["ports"].as_array().unwrap().len()).collect::<Vec<_>>(), [40, 5]);

    // PreventionPolicy: deny rules only, for egress and ingress.
    let guard = out.spec("polc-guard-network");
    assert_eq!(guard["enableDefaultDeny"], json!({"egress": false, "ingress": false}));
    assert_eq!(
        guard["egressDeny"],
        json!([{"toCIDRSet": [{"cidr": "169.254.169.254/32"}, {"cidr": "fd00:ec2::254/128"}],
                "toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}]}]}])
    );
    assert_eq!(
        guard["ingressDeny"],
        json!([{"fromEntities": ["all"], "toPorts": [{"ports": [{"port": "23", "protocol": "TCP"}]}]}])
    );
    assert_eq!(out.support("guard", "no-metadata").0, "exact");
    assert!(out.support("guard", "no-raw").1.contains("bpf-lsm"));
    let shells = out.caps("guard", "no-shells");
    assert_eq!(shells.len(), 1, "not expressible once per rule");
    assert_eq!(shells[0]["support"], "notExpressible");
    assert!(!out.has("polc-app-only-network") && !out.has("polc-egress-list-network"));
    assert!(out.support("app-only", "no-metadata").1.contains("containers app"));
    assert_eq!(out.support("egress-list", "defaultAction").0, "notExpressible");
    assert_eq!(out.support("egress-list", "https").0, "exact");
    assert_eq!(out.support("api-baseline", "baseline.egress").0, "notExpressible");
    assert_eq!(out.support("api-baseline", "baseline.syscalls").0, "notExpressible");

    // Every rule entry of every policy is reported.
    let policies: BTreeSet<&str> = out.capabilities.iter().map(|c| c["policy"].as_str().unwrap()).collect();
    assert_eq!(policies.len(), 10, "{policies:#?}");
}

#[test]
fn rules_cilium_would_reject_fail_the_compile() {
    let s = Scratch::new("reject");
    let input = s.write(
        "bad.yaml",
        "apiVersion: polc.dev/v1alpha1\nkind: NetworkAccessPolicy\nmetadata: {name: dns-l7, namespace: shop}\n\
         spec:\n  selector: {matchLabels: {app: x}}\n  egress:\n    - name: dns-over-http\n      action: Allow\n      \
         ports: [{port: 53, protocol: UDP}]\n      http: [{method: GET}]\n",
    );
    let out = s.dir.join("out");
    let run = polc(&[
        "compile".as_ref(),
        input.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--target".as_ref(),
        "cilium".as_ref(),
        "--no-config".as_ref(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    // Lint catches it before the backend runs: L7 rules need TCP ports.
    assert!(stderr.contains("error[P034]") && stderr.contains("need TCP ports; port 53 is UDP"), "{stderr}");
    assert!(stderr.contains("bad.yaml:"), "the error names the file: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!out.exists(), "nothing is written");
}

/// The checks must be able to fail: each broken object is caught for the right reason.
#[test]
fn the_checks_reject_what_a_cluster_rejects() {
    let good = json!({
        "apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "polc-x", "namespace": "shop", "labels": {"app.kubernetes.io/managed-by": "polc"}},
        "spec": {"endpointSelector": {}, "enableDefaultDeny": {"egress": true},
                 "egress": [{"toEntities": ["world"], "toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}]}]}]},
    });
    assert_eq!(problems("cilium/shop/polc-x.yaml", &good), Vec::<String>::new());
    let broken = |patch: &dyn Fn(&mut Value), want: &str| {
        let mut v = good.clone();
        patch(&mut v);
        let p = problems("cilium/shop/polc-x.yaml", &v);
        assert!(p.iter().any(|x| x.contains(want)), "want `{want}`, got {p:#?}");
    };
    broken(&|v| v["spec"]["egress"][0]["toPorts"][0]["ports"][0]["port"] = json!(80), "schema");
    broken(&|v| v["spec"]["egress"][0]["toCIDRSet"] = json!([{"cidr": "10.0.0.0/33"}]), "schema");
    broken(&|v| v["spec"]["egress"][0]["toCIDRSet"] = json!([{"cidr": "10.0.0.0/8"}]), "combines");
    broken(&|v| v["spec"]["egress"][0]["toEntities"] = json!(["everything"]), "schema");
    broken(&|v| v["spec"]["egress"][0]["toPorts"][0]["ports"][0]["protocol"] = json!("GRE"), "cilium <= 1.19: schema");
    broken(&|v| v["spec"]["egress"][0]["toPorts"][0]["rules"] = json!({"kafka": []}), "cilium 1.20: pruned");
    broken(
        &|v| v["spec"]["egress"][0]["toPorts"][0]["rules"] = json!({"http": [{}], "dns": [{"matchPattern": "*"}]}),
        "schema",
    );
    broken(
        &|v| {
            v["spec"]["egress"][0]["toPorts"][0]["ports"][0]["protocol"] = json!("UDP");
            v["spec"]["egress"][0]["toPorts"][0]["rules"] = json!({"http": [{"method": "GET"}]});
        },
        "L7 HTTP rules on a port that is not TCP",
    );
    broken(&|v| v["spec"]["egress"][0]["bogus"] = json!(true), "pruned by the API server: /spec/egress/0/bogus");
    broken(&|v| v["spec"]["egressDeny"] = json!([{"toFQDNs": [{"matchName": "a.example"}]}]), "pruned");
    broken(&|v| v["spec"]["endpointSelector"]["matchLabels"] = json!({"app": "not valid!"}), "schema");
    broken(&|v| v["spec"]["nodeSelector"] = json!({}), "schema");
    broken(&|v| _ = v["spec"].as_object_mut().unwrap().remove("endpointSelector"), "schema");
    broken(&|v| _ = v.as_object_mut().unwrap().remove("spec"), "CEL");
    broken(&|v| v["metadata"]["labels"]["polc.dev/policy"] = json!("x".repeat(64)), "not a valid label");
    broken(&|v| v["metadata"]["name"] = json!("Polc_X"), "not a DNS subdomain");
    broken(&|v| v["metadata"]["uid"] = json!("1"), "not an ObjectMeta field");
    broken(
        &|v| {
            v["spec"]["egress"][0]["toPorts"][0]["ports"] =
                Value::Array((1..=41).map(|p| json!({"port": p.to_string()})).collect())
        },
        "maximum is 40",
    );
}
