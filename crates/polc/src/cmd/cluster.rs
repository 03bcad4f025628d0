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
//!   ReplicaSet's pods), with the pods' labels and container names, which is all
//!   a policy selects by. Pods of one workload that differ in those (a rollout that
//!   changes labels) are taken one candidate further, down to `Pod/<name>`, so a
//!   plan always holds for what its pods really are; the agent's binding finds the
//!   plan the same way (the first candidate that has one).
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

/// What a pod contributes to the workload it is compiled under: what policies
/// select by.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Selected {
    labels: Map<String, Value>,
    containers: Vec<String>,
    init_containers: Vec<String>,
}

/// One pod of the node, as the workload grouping sees it.
struct PodIn<'a> {
    namespace: &'a str,
    name: &'a str,
    /// The workloads it may belong to, of kinds polc compiles, `Pod/<name>` last.
    candidates: Vec<(String, String)>,
    selected: Selected,
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

/// The input files for the node's pods and the cluster's policies (each kind's
/// objects as the API gives them), and a line per pod or policy left out.
pub(crate) fn source<'v>(
    pods: impl IntoIterator<Item = &'v Value>,
    policies: impl IntoIterator<Item = &'v Value>,
) -> (SourceFiles, Vec<String>) {
    let mut notes = Vec::new();
    let mut ins = Vec::new();
    for pod in pods {
        let s = |p: &str| pod.pointer(p).and_then(Value::as_str).filter(|s| !s.is_empty());
        let Some(name) = s("/metadata/name") else {
            notes.push("a pod without a name is left out".to_string());
            continue;
        };
        let namespace = s("/metadata/namespace").unwrap_or("default");
        let candidates = match pod_workloads(pod) {
            Ok(w) => w.into_iter().filter(|(k, _)| template_of(k).is_some()).collect(),
            Err(e) => {
                notes.push(format!("pod {namespace}/{name}: {e}; the pod is left out"));
                continue;
            }
        };
        let labels = pod.pointer("/metadata/labels").and_then(Value::as_object).cloned().unwrap_or_default();
        let selected =
            Selected { labels, containers: names(pod, "containers"), init_containers: names(pod, "initContainers") };
        ins.push(PodIn { namespace, name, candidates, selected });
    }
    ins.sort_by(|a, b| (a.namespace, a.name).cmp(&(b.namespace, b.name)));
    let mut files = SourceFiles::new();
    for (key, members) in group(&ins) {
        let (namespace, kind, name) = key;
        let first = &ins[members[0]].selected;
        let pods: Vec<&str> = members.iter().map(|&i| ins[i].name).collect();
        files
            .insert(format!("workloads/{namespace}/{kind}.{name}.json"), workload(namespace, kind, name, first, &pods));
    }
    let namespaces: BTreeSet<&str> = ins.iter().map(|p| p.namespace).collect();
    for p in policies {
        let s = |p2: &str| p.pointer(p2).and_then(Value::as_str).filter(|s| !s.is_empty());
        let (Some(kind), Some(name)) = (s("/kind"), s("/metadata/name")) else {
            notes.push("a policy without a kind or name is left out".to_string());
            continue;
        };
        let namespace = s("/metadata/namespace").unwrap_or("default");
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
        doc.insert("apiVersion".into(), p.get("apiVersion").cloned().unwrap_or_else(|| "polc.dev/v1alpha1".into()));
        doc.insert("kind".into(), kind.into());
        doc.insert("metadata".into(), Value::Object(meta));
        doc.insert("spec".into(), p.get("spec").cloned().unwrap_or(Value::Null));
        files.insert(format!("policies/{namespace}/{kind}.{name}.json"), pretty(&Value::Object(doc)));
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

/// A workload document for `pods`, with their labels and container names.
fn workload(namespace: &str, kind: &str, name: &str, s: &Selected, pods: &[&str]) -> String {
    let Some((api, path)) = template_of(kind) else { return String::new() };
    let containers = |names: &[String]| -> Value { names.iter().map(|n| json!({"name": n})).collect() };
    let mut spec = Map::new();
    spec.insert("containers".into(), containers(&s.containers));
    if !s.init_containers.is_empty() {
        spec.insert("initContainers".into(), containers(&s.init_containers));
    }
    let pod_meta = json!({"labels": Value::Object(s.labels.clone())});
    let meta = json!({
        "name": name,
        "namespace": namespace,
        "annotations": {"polc.dev/pods": pods.join(", ")},
    });
    let doc = if path.is_empty() {
        let mut meta = meta;
        meta["labels"] = pod_meta["labels"].clone();
        json!({"apiVersion": api, "kind": kind, "metadata": meta, "spec": Value::Object(spec)})
    } else {
        // The template, and the path down to it (spec.template or
        // spec.jobTemplate.spec.template).
        let mut inner = json!({"metadata": pod_meta, "spec": Value::Object(spec)});
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

/// The node's compile: its source files, its build directory and what the last
/// compile left out.
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
    /// what was compiled last. A file with errors is removed from the input and
    /// the rest compiled again; what was left out is in the result. An error: the
    /// compile could not run (the last build stays in place).
    pub(crate) fn update(&mut self, files: &SourceFiles) -> anyhow::Result<Update> {
        if self.last.as_ref() == Some(files) {
            return Ok(Update::default());
        }
        let src = self.source_dir();
        let _ = std::fs::remove_dir_all(&src);
        for (rel, text) in files {
            let p = src.join(rel);
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", d.display()))?;
            }
            std::fs::write(&p, text).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", p.display()))?;
        }
        std::fs::create_dir_all(&src).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", src.display()))?;
        let mut update = Update { compiled: true, ..Update::default() };
        let out = self.bundles();
        // Each round leaves out at least one file, so this ends; a bound keeps a
        // surprise from looping (every file would have to fail alone).
        for _ in 0..=files.len() {
            let paths = [src.to_string_lossy().into_owned()];
            match compile::quietly(&paths, &[Target::BpfLsm], &out)? {
                Quietly::Done { plans } => {
                    update.plans = plans;
                    self.last = Some(files.clone());
                    return Ok(update);
                }
                Quietly::Failed(by_file) => {
                    anyhow::ensure!(!by_file.is_empty(), "internal error: a failed compile without a file to blame");
                    for (file, errors) in by_file {
                        let _ = std::fs::remove_file(&file);
                        let rel = Path::new(&file).strip_prefix(&src).map_or(file.clone(), |r| r.display().to_string());
                        update.left_out.push((rel, errors));
                    }
                }
            }
        }
        anyhow::bail!("the compile kept failing; the last build stays in place")
    }
}

#[cfg(test)]
mod tests;
