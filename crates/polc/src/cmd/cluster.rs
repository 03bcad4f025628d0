//! `polc agent watch --from-cluster`: each node compiles its own bundles from the
//! polc policies in the Kubernetes API and the pods that run on it.
//!
//! Why on the node: the policies reach the cluster as objects (Argo CD syncs them
//! from git), every node already watches its pods, and a node needs the plans of
//! its own pods only. Compiling there needs no transport for bundles (a ConfigMap
//! holds 1 MiB; the sock-shop demo's bundles alone are 743 KB) and no controller
//! in the path of enforcement, and the workloads compiled are the pods as they run,
//! not manifests that may differ from them.
//!
//! The input is written as files under `<state dir>/cluster/source` (so that lint
//! findings and violation records name a file an operator can read on the node),
//! and compiled for bpf-lsm into `<state dir>/cluster/build` exactly as `polc
//! compile` does; the watch's sync then loads the bundles from there.
//!
//! - **Policies**: every `PreventionPolicy`, `RuntimePolicy` and
//!   `NetworkAccessPolicy` in a namespace that has a pod on the node, as
//!   `source/policies/<namespace>/<Kind>.<name>.json` (apiVersion, kind, name,
//!   namespace, labels, annotations and spec; the API's bookkeeping left out).
//! - **Workloads**: one per group of the node's pods that share a workload, as
//!   `source/workloads/<namespace>/<Kind>.<name>.json`: the pods' workload (the
//!   likeliest of [`polc_agent::pods`]'s candidates: a Deployment for a
//!   ReplicaSet's pods), with the labels all its pods share and their container
//!   names, which is all a policy selects by; nothing in it counts or names the
//!   pods, so scaling, restarts and rollouts that change nothing selected do not
//!   make the node compile again. Pods of one workload that differ in those (container
//!   names, or a label some selector of the namespace names) are taken one
//!   candidate further, down to `Pod/<name>`, so a plan always holds for what its
//!   pods really are; the agent's binding finds the plan the same way (the first
//!   candidate that has one).
//! - **A policy with errors is left out**, with its findings printed, and the rest
//!   is compiled: one team's broken policy does not stop enforcement of the
//!   others' (the cluster's PolicyReports are the place to see it).

use crate::cmd::compile::{self, Quietly};
use polc_agent::pods::pod_workloads;
use polc_compiler::backend::Target;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The polc policy kinds the agent watches: kind and plural.
pub(crate) const POLICY_KINDS: [(&str, &str); 3] = [
    ("PreventionPolicy", "preventionpolicies"),
    ("RuntimePolicy", "runtimepolicies"),
    ("NetworkAccessPolicy", "networkaccesspolicies"),
];

/// The files of one compile's input: path relative to the source directory -> text.
pub(crate) type SourceFiles = BTreeMap<String, String>;

/// What a pod contributes to the workload it is compiled under: what the
/// policies of its namespace select by. Labels are compared by the keys those
/// policies' selectors name only: the labels controllers set per pod
/// (`statefulset.kubernetes.io/pod-name`, `pod-template-hash`, ...) do not split a
/// workload unless a policy selects by them.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Selected {
    labels: BTreeMap<String, Value>,
    containers: Vec<String>,
    init_containers: Vec<String>,
    ephemeral_containers: Vec<String>,
}

/// One pod of the node, as the workload grouping sees it.
struct PodIn<'a> {
    namespace: &'a str,
    name: &'a str,
    /// The workloads it may belong to, of kinds polc compiles, `Pod/<name>` last
    /// (the only Pod: a pod made by another pod is its own workload).
    candidates: Vec<(String, String)>,
    selected: Selected,
    /// All its labels (those all pods of its workload share are written into it).
    labels: &'a Map<String, Value>,
}

/// The kinds a workload may be written as: kind -> (apiVersion, path of the pod
/// template, empty for a Pod).
fn template_of(kind: &str) -> Option<(&'static str, &'static [&'static str])> {
    Some(match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => ("apps/v1", &["spec", "template"]),
        "Job" => ("batch/v1", &["spec", "template"]),
        "CronJob" => ("batch/v1", &["spec", "jobTemplate", "spec", "template"]),
        "Pod" => ("v1", &[]),
        _ => return None,
    })
}

fn names(pod: &Value, list: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{list}"))
        .and_then(Value::as_array)
        .map(|cs| cs.iter().filter_map(|c| c.get("name")?.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The label keys a policy's selector names (`matchLabels` and
/// `matchExpressions[].key`), whatever their shape.
fn selector_keys(policy: &Value, keys: &mut BTreeSet<String>) {
    if let Some(Value::Object(m)) = policy.pointer("/spec/selector/matchLabels") {
        keys.extend(m.keys().cloned());
    }
    if let Some(Value::Array(es)) = policy.pointer("/spec/selector/matchExpressions") {
        keys.extend(es.iter().filter_map(|e| e.get("key")?.as_str().map(str::to_string)));
    }
}

/// A plain file name for `kind.name.json`: the name itself when it is made of
/// letters, digits, `-`, `_` and `.` (not leading), and short; otherwise a digest
/// of it. Kubernetes does not check every name the agent meets (an owner
/// reference's name is any string): none may reach outside the source directory
/// or over a file system's name limit.
fn file_stem(kind: &str, name: &str) -> String {
    format!("{}.{}", component(kind), component(name))
}

/// `s` when it is a plain file name component (see [`file_stem`]), else
/// `sha256-` and the start of its digest.
fn component(s: &str) -> String {
    let plain = !s.is_empty()
        && s.len() <= 200
        && !s.starts_with('.')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if plain { s.to_string() } else { format!("sha256-{}", digest(s)) }
}

fn digest(s: &str) -> String {
    let d = <sha2::Sha256 as sha2::Digest>::digest(s.as_bytes());
    d.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// The input files for the node's pods and the cluster's policies (each with the
/// kind it was watched as), and a line per pod or policy left out.
pub(crate) fn source<'v>(
    pods: impl IntoIterator<Item = &'v Value>,
    policies: impl IntoIterator<Item = (&'v str, &'v Value)>,
) -> (SourceFiles, Vec<String>) {
    let policies: Vec<(&str, &Value)> = policies.into_iter().collect();
    let ns_of = |v: &'v Value| {
        v.pointer("/metadata/namespace").and_then(Value::as_str).filter(|s| !s.is_empty()).unwrap_or("default")
    };
    let mut keys: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (_, p) in &policies {
        selector_keys(p, keys.entry(ns_of(p)).or_default());
    }
    let no_keys = BTreeSet::new();
    let mut notes = Vec::new();
    let mut ins = Vec::new();
    static NO_LABELS: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
    for pod in pods {
        let Some(name) = pod.pointer("/metadata/name").and_then(Value::as_str).filter(|s| !s.is_empty()) else {
            notes.push("a pod without a name is left out".to_string());
            continue;
        };
        let namespace = ns_of(pod);
        let mut candidates: Vec<(String, String)> = match pod_workloads(pod) {
            Ok(w) => w.into_iter().filter(|(k, _)| template_of(k).is_some()).collect(),
            Err(e) => {
                notes.push(format!("pod {namespace}/{name}: {e}; the pod is left out"));
                continue;
            }
        };
        // `pod_workloads` ends with Pod/<name>, the only Pod among them.
        if candidates.last().is_none_or(|(k, n)| k != "Pod" || n != name) {
            candidates.push(("Pod".to_string(), name.to_string()));
        }
        let labels = pod.pointer("/metadata/labels").and_then(Value::as_object).unwrap_or(&NO_LABELS);
        let ns_keys = keys.get(namespace).unwrap_or(&no_keys);
        let selected = Selected {
            labels: labels.iter().filter(|(k, _)| ns_keys.contains(*k)).map(|(k, v)| (k.clone(), v.clone())).collect(),
            containers: names(pod, "containers"),
            init_containers: names(pod, "initContainers"),
            ephemeral_containers: names(pod, "ephemeralContainers"),
        };
        ins.push(PodIn { namespace, name, candidates, selected, labels });
    }
    ins.sort_by(|a, b| (a.namespace, a.name).cmp(&(b.namespace, b.name)));
    let mut files = SourceFiles::new();
    for (key, members) in group(&ins) {
        let (namespace, kind, name) = key;
        let text = workload(namespace, kind, name, &ins, &members);
        files.insert(format!("workloads/{}/{}.json", component(namespace), file_stem(kind, name)), text);
    }
    let namespaces: BTreeSet<&str> = ins.iter().map(|p| p.namespace).collect();
    for (kind, p) in policies {
        let Some(name) = p.pointer("/metadata/name").and_then(Value::as_str).filter(|s| !s.is_empty()) else {
            notes.push(format!("a {kind} without a name is left out"));
            continue;
        };
        let namespace = ns_of(p);
        if !namespaces.contains(namespace) {
            continue;
        }
        let mut meta = Map::new();
        meta.insert("name".into(), name.into());
        meta.insert("namespace".into(), namespace.into());
        if let Some(l) = p.pointer("/metadata/labels").filter(|l| l.is_object()) {
            meta.insert("labels".into(), l.clone());
        }
        if let Some(Value::Object(a)) = p.pointer("/metadata/annotations") {
            let a: Map<String, Value> = a
                .iter()
                .filter(|(k, _)| k.as_str() != "kubectl.kubernetes.io/last-applied-configuration")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if !a.is_empty() {
                meta.insert("annotations".into(), Value::Object(a));
            }
        }
        let mut doc = Map::new();
        doc.insert("apiVersion".into(), "polc.dev/v1alpha1".into());
        doc.insert("kind".into(), kind.into());
        doc.insert("metadata".into(), Value::Object(meta));
        doc.insert("spec".into(), p.get("spec").cloned().unwrap_or(Value::Null));
        let path = format!("policies/{}/{}.json", component(namespace), file_stem(kind, name));
        files.insert(path, pretty(&Value::Object(doc)));
    }
    (files, notes)
}

type GroupKey<'a> = (&'a str, &'a str, &'a str);

/// The workloads the pods are compiled under: (namespace, kind, name) -> the pods
/// (indexes into `ins`). Every pod starts at its likeliest workload; a workload
/// whose pods differ in what policies select by, or that a pod compiled elsewhere
/// would be bound to first (an earlier candidate of it), moves all its pods one
/// candidate on. `Pod/<name>` is every pod's last candidate, and is its own.
fn group<'a>(ins: &'a [PodIn<'a>]) -> BTreeMap<GroupKey<'a>, Vec<usize>> {
    let mut level = vec![0usize; ins.len()];
    let key = |i: usize, l: usize| -> GroupKey<'a> {
        let (k, n) = &ins[i].candidates[l.min(ins[i].candidates.len() - 1)];
        (ins[i].namespace, k.as_str(), n.as_str())
    };
    loop {
        let mut groups: BTreeMap<GroupKey<'a>, Vec<usize>> = BTreeMap::new();
        for (i, &at) in level.iter().enumerate() {
            groups.entry(key(i, at)).or_default().push(i);
        }
        let mut moved = false;
        let mut bump: BTreeSet<GroupKey<'a>> = BTreeSet::new();
        for (k, members) in &groups {
            let first = &ins[members[0]].selected;
            if members.iter().any(|&i| ins[i].selected != *first) {
                bump.insert(*k);
            }
        }
        // A pod whose earlier candidate is another group's workload would be bound
        // to that group's plan: unless it selects the same, that group moves on.
        for (i, (pod, &at)) in ins.iter().zip(&level).enumerate() {
            for l in 0..at {
                if let Some(members) = groups.get(&key(i, l))
                    && ins[members[0]].selected != pod.selected
                {
                    bump.insert(key(i, l));
                }
            }
        }
        for k in &bump {
            for &i in &groups[k] {
                if level[i] + 1 < ins[i].candidates.len() {
                    level[i] += 1;
                    moved = true;
                }
            }
        }
        if !moved {
            return groups;
        }
    }
}

/// A workload document for the pods `members` (indexes into `ins`, all selecting
/// alike): their container names, and the labels all of them carry with the same
/// value (the ones policies select by among them). Nothing in it depends on how
/// many pods there are or which came first: a replica more or less, a StatefulSet's
/// per-pod labels, a restarted pod change nothing, and the node is not compiled
/// again for them (only bound).
fn workload(namespace: &str, kind: &str, name: &str, ins: &[PodIn<'_>], members: &[usize]) -> String {
    let Some((api, path)) = template_of(kind) else { return String::new() };
    let Some((&first, rest)) = members.split_first() else { return String::new() };
    let s = &ins[first].selected;
    let containers = |names: &[String]| -> Value { names.iter().map(|n| json!({"name": n})).collect() };
    let mut spec = Map::new();
    spec.insert("containers".into(), containers(&s.containers));
    if !s.init_containers.is_empty() {
        spec.insert("initContainers".into(), containers(&s.init_containers));
    }
    if !s.ephemeral_containers.is_empty() {
        spec.insert("ephemeralContainers".into(), containers(&s.ephemeral_containers));
    }
    // Sorted by key: the file does not depend on the order the API gave them in.
    let common: BTreeMap<&String, &Value> =
        ins[first].labels.iter().filter(|(k, v)| rest.iter().all(|&i| ins[i].labels.get(*k) == Some(*v))).collect();
    let labels = Value::Object(common.into_iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    let meta = json!({"name": name, "namespace": namespace});
    let doc = if path.is_empty() {
        let mut meta = meta;
        meta["labels"] = labels;
        json!({"apiVersion": api, "kind": kind, "metadata": meta, "spec": Value::Object(spec)})
    } else {
        // The template, and the path down to it (spec.template or
        // spec.jobTemplate.spec.template).
        let mut inner = json!({"metadata": {"labels": labels}, "spec": Value::Object(spec)});
        for seg in path.iter().skip(1).rev() {
            inner = json!({ *seg: inner });
        }
        json!({"apiVersion": api, "kind": kind, "metadata": meta, "spec": inner})
    };
    pretty(&doc)
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// The node's compile: its source and build directories, and the input last
/// compiled.
pub(crate) struct ClusterBuild {
    root: PathBuf,
    /// The input last compiled (`None`: nothing compiled yet).
    last: Option<SourceFiles>,
}

/// What [`ClusterBuild::update`] did.
#[derive(Debug, Default)]
pub(crate) struct Update {
    /// The input changed and was compiled.
    pub compiled: bool,
    /// Files left out, each with its findings (lint errors or what bpf-lsm cannot
    /// express), in the order found.
    pub left_out: Vec<(String, Vec<String>)>,
    /// Plans compiled.
    pub plans: usize,
}

impl ClusterBuild {
    pub(crate) fn new(state_dir: &Path) -> ClusterBuild {
        ClusterBuild { root: state_dir.join("cluster"), last: None }
    }

    /// Where the bundles are.
    pub(crate) fn bundles(&self) -> PathBuf {
        self.root.join("build")
    }

    fn source_dir(&self) -> PathBuf {
        self.root.join("source")
    }

    /// Compile `files` for bpf-lsm into [`ClusterBuild::bundles`], unless they are
    /// what was compiled last (and that build is still there). A file that cannot
    /// be written or has errors is left out of the compile (it stays in the source
    /// directory, where its findings point) and the rest compiled again; what was
    /// left out is in the result. An error: the compile could not run (the last
    /// build stays in place).
    pub(crate) fn update(&mut self, files: &SourceFiles) -> anyhow::Result<Update> {
        let out = self.bundles();
        if self.last.as_ref() == Some(files) && out.join(compile::INDEX).is_file() {
            return Ok(Update::default());
        }
        let src = self.source_dir();
        match std::fs::remove_dir_all(&src) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => anyhow::bail!("cannot remove the last input {}: {e}", src.display()),
        }
        std::fs::create_dir_all(&src).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", src.display()))?;
        let mut update = Update { compiled: true, ..Update::default() };
        let mut inputs: Vec<String> = Vec::with_capacity(files.len());
        for (rel, text) in files {
            // `source` makes every component a plain name; this is the backstop.
            let plain = rel.split('/').all(|c| !c.is_empty() && c != "." && c != "..");
            anyhow::ensure!(plain, "internal error: the input file name {rel:?} is not a plain relative path");
            let p = src.join(rel);
            let written = p
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(&p, text))
                .map_err(|e| format!("cannot write {}: {e}", p.display()));
            match written {
                Ok(()) => inputs.push(p.to_string_lossy().into_owned()),
                Err(e) => update.left_out.push((rel.clone(), vec![e])),
            }
        }
        // In the order a walk of the source directory gives (by path component),
        // as `polc compile STATE_DIR/cluster/source` would read them.
        inputs.sort_by(|a, b| Path::new(a).cmp(Path::new(b)));
        // Each round leaves out at least one file, so this ends; the bound keeps a
        // surprise from looping.
        for _ in 0..=files.len() {
            let result = if inputs.is_empty() {
                // Nothing to compile: an empty build (every plan is unloaded).
                let empty = self.root.join("empty");
                std::fs::create_dir_all(&empty)
                    .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", empty.display()))?;
                compile::quietly(&[empty.to_string_lossy().into_owned()], &[Target::BpfLsm], &out)?
            } else {
                compile::quietly(&inputs, &[Target::BpfLsm], &out)?
            };
            match result {
                Quietly::Done { plans } => {
                    update.plans = plans;
                    self.last = Some(files.clone());
                    return Ok(update);
                }
                Quietly::Failed(by_file) => {
                    let before = inputs.len();
                    for (file, errors) in by_file {
                        inputs.retain(|i| *i != file);
                        let rel = Path::new(&file).strip_prefix(&src).map_or(file.clone(), |r| r.display().to_string());
                        update.left_out.push((rel, errors));
                    }
                    anyhow::ensure!(inputs.len() < before, "internal error: a failed compile blamed no input file");
                }
            }
        }
        anyhow::bail!("the compile kept failing; the last build stays in place")
    }
}

#[cfg(test)]
mod tests;
