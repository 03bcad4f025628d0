//! Workload manifests linted beside the policies: which policies select them, and
//! the posture issues (privileged, host namespaces, sensitive hostPath mounts,
//! privilege escalation, no seccomp) that runtime policies exist to contain.

use crate::checks::policy::PolicyEntry;
use crate::codes::Code;
use crate::{Ctx, Files, Finding, Level, NameAt};
use polc_api::PolcKind;
use polc_compiler::selector;
use polc_load::{Document, Object, SourceFile, WorkloadKind};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// A workload and its pod template.
pub(crate) struct Workload {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub containers: Vec<String>,
    pub loc: (usize, usize),
    /// Where `metadata.name` is written.
    pub name_at: NameAt,
    /// The posture findings, at the level for a workload no policy contains (see
    /// [`coverage`]), made while the document was at hand.
    pub posture: Vec<Finding>,
}

impl Workload {
    /// Read the workload of `doc` in `file` (file and document index `loc`), and its
    /// posture findings.
    pub fn read(kind: WorkloadKind, obj: &Object, file: &SourceFile, doc: &Document, loc: (usize, usize)) -> Workload {
        let labels = polc_load::pointer(&doc.value, &format!("{}/labels", kind.pod_metadata_pointer()))
            .and_then(Value::as_object)
            .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
            .unwrap_or_default();
        let spec = kind.pod_spec_pointer();
        let mut containers = Vec::new();
        for list in ["containers", "initContainers", "ephemeralContainers"] {
            for c in polc_load::pointer(&doc.value, &format!("{spec}/{list}"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(n) = c.get("name").and_then(Value::as_str) {
                    containers.push(n.to_string());
                }
            }
        }
        let namespace = obj.namespace.clone().unwrap_or_else(|| "default".into());
        let mut posture_out = Vec::new();
        let mut pctx = Ctx {
            file,
            doc,
            value: &doc.value,
            object: Some(format!("{} {namespace}/{}", kind.as_str(), obj.name)),
            out: &mut posture_out,
        };
        posture(&mut pctx, kind);
        Workload {
            kind,
            namespace,
            name: obj.name.clone(),
            labels,
            containers,
            loc,
            name_at: NameAt::of(doc),
            posture: posture_out,
        }
    }

    /// `Kind namespace/name`.
    pub fn label(&self) -> String {
        format!("{} {}/{}", self.kind.as_str(), self.namespace, self.name)
    }
}

/// Does the policy apply to (some container of) the workload?
pub(crate) fn selects(p: &PolicyEntry, w: &Workload) -> bool {
    p.namespace == w.namespace
        && selector::matches(&p.selector, &w.labels)
        && (p.containers.is_empty() || p.containers.iter().any(|c| w.containers.contains(c)))
}

const SENSITIVE_HOST_PATHS: &[&str] = &[
    "/",
    "/proc",
    "/sys",
    "/etc",
    "/root",
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/var/run/containerd/containerd.sock",
    "/run/containerd/containerd.sock",
    "/var/run/crio/crio.sock",
    "/run/crio/crio.sock",
    "/var/run",
    "/run",
    "/var/run/containerd",
    "/run/containerd",
    "/var/run/crio",
    "/run/crio",
    "/var/lib/kubelet",
    "/boot",
    "/dev",
];

fn sensitive(path: &str) -> bool {
    let p = if path.len() > 1 { path.trim_end_matches('/') } else { path };
    SENSITIVE_HOST_PATHS
        .iter()
        .any(|s| p == *s || (*s != "/" && p.starts_with(&format!("{s}/")) && !s.ends_with(".sock")))
}

/// Coverage: unselected workloads, posture issues (a note when a policy contains the
/// workload), policies selecting nothing, container names nobody has.
pub(crate) fn coverage(
    files: &Files<'_>,
    policies: &[PolicyEntry],
    workloads: &[Workload],
    threads: usize,
    out: &mut Vec<Finding>,
) {
    let mut ns_workloads: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, w) in workloads.iter().enumerate() {
        ns_workloads.entry(&w.namespace).or_default().push(i);
    }
    let mut ns_policies: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, p) in policies.iter().enumerate() {
        ns_policies.entry(&p.namespace).or_default().push(i);
    }
    // Workloads in runs on every thread; the runs' findings and hits are merged in
    // workload order, so the result does not depend on the threads.
    let runs: Vec<&[Workload]> = workloads.chunks(COVERAGE_RUN).collect();
    let hits = crate::par_map(&runs, threads, |run| {
        let mut h = Hits::default();
        for w in *run {
            let mut contained = false;
            for &pi in ns_policies.get(w.namespace.as_str()).into_iter().flatten() {
                let p = &policies[pi];
                if p.namespace == w.namespace && selector::matches(&p.selector, &w.labels) {
                    h.labels.push(pi);
                    for (ci, c) in p.containers.iter().enumerate() {
                        if w.containers.contains(c) {
                            h.containers.push((pi, ci));
                        }
                    }
                    if selects(p, w) {
                        h.selected.push(pi);
                        contained |= p.kind != PolcKind::NetworkAccessPolicy;
                    }
                }
            }
            let label = w.label();
            if !contained {
                let message = format!("{label} is not selected by any PreventionPolicy or RuntimePolicy");
                let f = w
                    .name_at
                    .finding(Code::Unselected, &files.list[w.loc.0].name, label, message)
                    .help("add a policy whose selector matches the pod template labels");
                h.out.push(f);
            }
            // A policy that contains the workload makes its posture findings notes.
            for f in &w.posture {
                let mut f = f.clone();
                if contained {
                    f.level = Level::Note;
                    f.message.push_str(" (contained by a polc policy)");
                }
                h.out.push(f);
            }
        }
        h
    });
    let mut selected_any = vec![false; policies.len()];
    let mut labels_match_any = vec![false; policies.len()];
    let mut container_hit: Vec<Vec<bool>> = policies.iter().map(|p| vec![false; p.containers.len()]).collect();
    for h in hits {
        out.extend(h.out);
        for pi in h.labels {
            labels_match_any[pi] = true;
        }
        for pi in h.selected {
            selected_any[pi] = true;
        }
        for (pi, ci) in h.containers {
            container_hit[pi][ci] = true;
        }
    }
    let mut docs = files.cache();
    for (pi, p) in policies.iter().enumerate() {
        let in_ns = ns_workloads.contains_key(p.namespace.as_str());
        let unknown_container = labels_match_any[pi] && container_hit[pi].iter().any(|hit| !hit);
        if !in_ns || (labels_match_any[pi] && !unknown_container) {
            continue;
        }
        // A finding to place: the policy's document (parsed again when it was dropped).
        let kept = docs.docs(p.loc.0);
        let (file, doc) = (&files.list[p.loc.0], crate::doc_at(&kept, p.loc.1));
        let mut ctx = Ctx { file, doc, value: &doc.value, object: Some(p.label()), out: &mut *out };
        if !labels_match_any[pi] {
            let n = ns_workloads[p.namespace.as_str()].len();
            let f = ctx
                .finding_at(
                    Code::SelectsNothing,
                    "/spec/selector",
                    format!("selects none of the {n} workloads linted in namespace `{}`", p.namespace),
                )
                .help("selectors match the pod template's labels (`spec.template.metadata.labels`)");
            ctx.push(f);
        } else {
            for (ci, c) in p.containers.iter().enumerate() {
                if !container_hit[pi][ci] {
                    let f = ctx.finding_at_value(
                        Code::UnknownContainer,
                        &format!("/spec/containers/{ci}"),
                        format!("no selected workload has a container named `{c}`"),
                    );
                    ctx.push(f);
                }
            }
        }
    }
}

/// Workloads per unit of work of [`coverage`].
const COVERAGE_RUN: usize = 64;

/// What the workloads of one run found: their findings, and the policies (and
/// containers of policies) whose selectors matched them.
#[derive(Default)]
struct Hits {
    out: Vec<Finding>,
    labels: Vec<usize>,
    selected: Vec<usize>,
    containers: Vec<(usize, usize)>,
}

/// The posture findings of a workload, as warnings: [`coverage`] makes them notes
/// (with a word why) for a workload a policy contains.
fn posture(ctx: &mut Ctx<'_>, kind: WorkloadKind) {
    let spec_ptr = kind.pod_spec_pointer();
    let Some(spec) = polc_load::pointer(ctx.value, spec_ptr) else {
        return;
    };
    let mut found: Vec<(Code, String, String)> = Vec::new();
    for key in ["hostPID", "hostNetwork", "hostIPC"] {
        if spec.get(key) == Some(&Value::Bool(true)) {
            found.push((
                Code::HostNamespaces,
                format!("{spec_ptr}/{key}"),
                format!("`{key}: true` shares the host's namespace"),
            ));
        }
    }
    for (i, v) in spec.get("volumes").and_then(Value::as_array).into_iter().flatten().enumerate() {
        if let Some(p) = polc_load::pointer(v, "/hostPath/path").and_then(Value::as_str)
            && sensitive(p)
        {
            found.push((
                Code::SensitiveHostPath,
                format!("{spec_ptr}/volumes/{i}/hostPath/path"),
                format!("hostPath mount of `{p}` gives the container control of the node"),
            ));
        }
    }
    let pod_seccomp = polc_load::pointer(spec, "/securityContext/seccompProfile").is_some();
    for list in ["initContainers", "containers"] {
        for (i, c) in spec.get(list).and_then(Value::as_array).into_iter().flatten().enumerate() {
            let base = format!("{spec_ptr}/{list}/{i}");
            let name = c.get("name").and_then(Value::as_str).unwrap_or("?");
            let sc = c.get("securityContext");
            if sc.and_then(|s| s.get("privileged")) == Some(&Value::Bool(true)) {
                found.push((
                    Code::Privileged,
                    format!("{base}/securityContext/privileged"),
                    format!("container `{name}` is privileged"),
                ));
            }
            match sc.and_then(|s| s.get("allowPrivilegeEscalation")) {
                Some(Value::Bool(false)) => {}
                Some(_) => found.push((
                    Code::PrivilegeEscalation,
                    format!("{base}/securityContext/allowPrivilegeEscalation"),
                    format!("container `{name}` allows privilege escalation"),
                )),
                None => found.push((
                    Code::PrivilegeEscalation,
                    format!("{base}/name"),
                    format!("container `{name}` does not set `allowPrivilegeEscalation: false`"),
                )),
            }
            if !pod_seccomp && sc.and_then(|s| s.get("seccompProfile")).is_none() {
                found.push((
                    Code::NoSeccomp,
                    format!("{base}/name"),
                    format!("container `{name}` has no seccomp profile"),
                ));
            }
        }
    }
    for (code, ptr, msg) in found {
        let f = ctx.finding_at(code, &ptr, msg).level(Level::Warning);
        ctx.push(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_paths() {
        assert!(sensitive("/var/run/docker.sock"));
        assert!(sensitive("/proc"));
        assert!(sensitive("/proc/1/ns"));
        assert!(sensitive("/etc/"));
        assert!(sensitive("/"));
        assert!(!sensitive("/data"));
        assert!(!sensitive("/var/log"));
    }
}
