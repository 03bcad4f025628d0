//! Kubernetes pods on a node: the cgroup each running container is in, and the plan
//! that governs it.
//!
//! kubelet gives every container a cgroup of its own, named after the container's
//! runtime id, below a cgroup named after its pod's UID:
//!
//! ```text
//! systemd driver:  kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<UID, '-' as '_'>.slice/cri-containerd-<ID>.scope
//!                  (CRI-O: crio-<ID>.scope; cri-dockerd: docker-<ID>.scope)
//! cgroupfs driver: kubepods/burstable/pod<UID>/<ID>
//! ```
//!
//! The pod list (`kubectl get pods -o json`, the API's `PodList`) says which pod,
//! workload and container each runtime id belongs to (`status.containerStatuses`).
//! [`read_pods`] reads the list, [`scan`] walks the cgroup tree, and [`resolve`]
//! joins them with the loaded plans (`namespace/Kind/name/container`): a pod's
//! workload is found from its controller (`ownerReferences`): a ReplicaSet whose name
//! is a Deployment's name plus the pod's `pod-template-hash` label stands for that
//! Deployment, and a Job whose name is a name plus `-<digits>` may stand for a
//! CronJob; a pod without a controller is the workload `Pod/<name>`.
//!
//! Nothing is silently left out: every container of the list ends up bound, or in
//! [`Resolution::notes`] with the reason.

use polc_load::{FieldPath, Limits, SourceFile, pointer};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

/// Largest pod list read (a node's pods are far less; a cluster's may be more).
pub const MAX_POD_LIST_BYTES: u64 = 256 << 20;

/// One container of a pod in the list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodContainer {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub pod: String,
    /// The pod's UID.
    pub uid: String,
    /// The container's name.
    pub container: String,
    /// The runtime's container id (`containerd://<ID>` without the scheme); `None`
    /// while the container has not started.
    pub id: Option<String>,
    /// The workloads the pod may belong to, `(kind, name)`, the likeliest first.
    pub workloads: Vec<(String, String)>,
    /// `file:line:col` of the container's status.
    pub source: String,
}

impl PodContainer {
    /// `namespace/pod container NAME`.
    pub fn label(&self) -> String {
        format!("{}/{} container {}", self.namespace, self.pod, self.container)
    }
}

/// A pod list that cannot be read: every problem, each with file, line and field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodsError(pub Vec<String>);

impl fmt::Display for PodsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for PodsError {}

/// Load a pod list's bytes (JSON or YAML) under the limits of a pod list.
pub fn load(name: &str, bytes: &[u8]) -> SourceFile {
    let limits = Limits { max_file_bytes: MAX_POD_LIST_BYTES, ..Limits::default() };
    polc_load::load_input(name.to_string(), bytes, &limits)
}

/// The containers of the pods in `file`: documents of kind `PodList`, `List` (of
/// pods) or `Pod`. With `node`, only pods whose `spec.nodeName` is `node`.
///
/// # Errors
/// A file that does not parse, a document of another kind, or a pod or container
/// status without the fields named above: every problem, with file, line and field.
pub fn read_pods(file: &SourceFile, node: Option<&str>) -> Result<Vec<PodContainer>, PodsError> {
    let mut errors: Vec<String> = file
        .errors
        .iter()
        .map(|e| match e.span {
            Some(s) => format!("{}:{}:{}: {}: {}", file.name, s.line, s.col, e.field, e.kind),
            None => format!("{}: {}", file.name, e.kind),
        })
        .collect();
    let mut out = Vec::new();
    for doc in &file.documents {
        let at = |path: &FieldPath| {
            let s = doc.spans.value_span(&doc.value, path.segs());
            format!("{}:{}:{}", file.name, s.line, s.col)
        };
        let kind = doc.value.get("kind").and_then(Value::as_str).unwrap_or("");
        let pods: Vec<FieldPath> = match kind {
            "Pod" => vec![FieldPath::root()],
            "PodList" | "List" => match doc.value.get("items") {
                Some(Value::Array(items)) => {
                    (0..items.len()).map(|i| FieldPath::root().key("items").index(i)).collect()
                }
                None | Some(Value::Null) => Vec::new(),
                Some(_) => {
                    let p = FieldPath::root().key("items");
                    errors.push(format!("{}: {p}: expected a list of pods", at(&p)));
                    continue;
                }
            },
            _ if doc.value.is_null() => continue,
            other => {
                let p = FieldPath::root().key("kind");
                errors.push(format!(
                    "{}: kind: expected Pod, PodList or List (as `kubectl get pods -o json` prints), found `{other}`",
                    at(&p)
                ));
                continue;
            }
        };
        for p in pods {
            if let Err(e) = read_pod(&doc.value, &p, node, &at, &mut out) {
                errors.push(e);
            }
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(PodsError(errors)) }
}

fn value_at<'v>(root: &'v Value, path: &FieldPath) -> Option<&'v Value> {
    let mut v = root;
    for seg in path.segs() {
        v = match seg {
            polc_load::PathSeg::Key(k) => v.get(k.as_str())?,
            polc_load::PathSeg::Index(i) => v.get(*i)?,
        };
    }
    Some(v)
}

fn read_pod(
    root: &Value,
    at_pod: &FieldPath,
    node: Option<&str>,
    at: &dyn Fn(&FieldPath) -> String,
    out: &mut Vec<PodContainer>,
) -> Result<(), String> {
    let pod = value_at(root, at_pod).unwrap_or(&Value::Null);
    let field = |rel: &str| -> FieldPath {
        let mut p = at_pod.clone();
        for k in rel.split('.') {
            p = p.key(k);
        }
        p
    };
    let string = |rel: &str| -> Result<&str, String> {
        let p = field(rel);
        match pointer(pod, &format!("/{}", rel.replace('.', "/"))) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s),
            Some(_) => Err(format!("{}: {p}: expected a non-empty string", at(&p))),
            None => Err(format!("{}: {p}: missing (a pod needs it to be bound)", at(at_pod))),
        }
    };
    if !pod.is_object() {
        return Err(format!("{}: {at_pod}: expected a pod (a mapping)", at(at_pod)));
    }
    if let Some(node) = node
        && pointer(pod, "/spec/nodeName").and_then(Value::as_str) != Some(node)
    {
        return Ok(());
    }
    let name = string("metadata.name")?;
    let uid = string("metadata.uid")?;
    let namespace = match pointer(pod, "/metadata/namespace") {
        None | Some(Value::Null) => "default",
        Some(_) => string("metadata.namespace")?,
    };
    let hash = pointer(pod, "/metadata/labels/pod-template-hash").and_then(Value::as_str);
    let workloads = workloads_of(pod, name, hash);
    for list in ["initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"] {
        let Some(statuses) = pointer(pod, &format!("/status/{list}")) else { continue };
        let Some(statuses) = statuses.as_array() else {
            if statuses.is_null() {
                continue;
            }
            let p = field("status").key(list);
            return Err(format!("{}: {p}: expected a list of container statuses", at(&p)));
        };
        for (i, s) in statuses.iter().enumerate() {
            let p = field("status").key(list).index(i);
            let Some(container) = s.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()) else {
                return Err(format!("{}: {p}.name: missing or not a string", at(&p)));
            };
            let id = match s.get("containerID") {
                None | Some(Value::Null) => None,
                Some(Value::String(c)) if c.is_empty() => None,
                Some(Value::String(c)) => Some(runtime_id(c).ok_or_else(|| {
                    let q = p.key("containerID");
                    format!("{}: {q}: `{c}` is not RUNTIME://ID with a hexadecimal ID", at(&q))
                })?),
                Some(_) => {
                    let q = p.key("containerID");
                    return Err(format!("{}: {q}: expected a string", at(&q)));
                }
            };
            out.push(PodContainer {
                namespace: namespace.to_string(),
                pod: name.to_string(),
                uid: uid.to_string(),
                container: container.to_string(),
                id: id.map(str::to_string),
                workloads: workloads.clone(),
                source: at(&p),
            });
        }
    }
    Ok(())
}

/// `containerd://<hex>` (or `cri-o://`, `docker://`, any scheme) -> `<hex>`.
pub fn runtime_id(s: &str) -> Option<&str> {
    let (_, id) = s.split_once("://")?;
    (!id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// The workloads a pod may belong to, the likeliest first (see the module's docs).
fn workloads_of(pod: &Value, name: &str, hash: Option<&str>) -> Vec<(String, String)> {
    let owners = pointer(pod, "/metadata/ownerReferences").and_then(Value::as_array);
    let owner = owners.and_then(|o| {
        o.iter().find(|r| r.get("controller").and_then(Value::as_bool) == Some(true)).or_else(|| o.first())
    });
    let kind_name = owner.and_then(|r| Some((r.get("kind")?.as_str()?, r.get("name")?.as_str()?)));
    let Some((kind, owner_name)) = kind_name else {
        return vec![("Pod".into(), name.into())];
    };
    let mut w = Vec::new();
    match kind {
        "ReplicaSet" => {
            if let Some(d) = hash.and_then(|h| owner_name.strip_suffix(h)?.strip_suffix('-')).filter(|d| !d.is_empty())
            {
                w.push(("Deployment".into(), d.into()));
            }
        }
        "Job" => {
            if let Some((prefix, n)) = owner_name.rsplit_once('-')
                && !prefix.is_empty()
                && !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
            {
                // A CronJob's Job is the CronJob's name and its schedule time.
                w.push(("Job".into(), owner_name.into()));
                w.push(("CronJob".into(), prefix.into()));
                return w;
            }
        }
        _ => {}
    }
    w.push((kind.into(), owner_name.into()));
    w
}

/// A container's cgroup, as found in the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerCgroup {
    /// Its directory.
    pub dir: PathBuf,
    /// Its id (inode number).
    pub id: u64,
    /// The pod UID of the directory above it, when its name carries one.
    pub pod_uid: Option<String>,
    /// Cgroups below it (a runtime or the workload may make them), `(dir, id)`.
    pub below: Vec<(PathBuf, u64)>,
}

/// What [`scan`] found under the cgroup root.
#[derive(Clone, Debug, Default)]
pub struct Cgroups {
    /// Container cgroups by runtime id.
    pub containers: HashMap<String, ContainerCgroup>,
    /// The id of every cgroup directory under the root (the root included).
    pub ids: HashSet<u64>,
    /// Directories seen.
    pub dirs: usize,
}

/// The runtime id a container cgroup's directory is named after:
/// `cri-containerd-<ID>.scope`, `crio-<ID>.scope`, `docker-<ID>.scope`, or `<ID>`
/// (the cgroupfs driver). IDs are 64 hexadecimal digits. CRI-O's `crio-conmon-*` (the
/// monitor, not the container) is not a container.
pub fn container_dir_id(name: &str) -> Option<&str> {
    let s = name.strip_suffix(".scope").unwrap_or(name);
    let s = ["cri-containerd-", "crio-", "docker-", "containerd-"].iter().find_map(|p| s.strip_prefix(p)).unwrap_or(s);
    (s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))).then_some(s)
}

/// The pod UID a pod cgroup's directory is named after: `pod<UID>` (cgroupfs) or
/// `kubepods-<class>-pod<UID with '_' for '-'>.slice` (systemd).
pub fn pod_dir_uid(name: &str) -> Option<String> {
    let s = name.strip_suffix(".slice").unwrap_or(name);
    let at = s.rfind("pod")?;
    if at > 0 && !s[..at].ends_with('-') {
        return None;
    }
    let uid = s[at + 3..].replace('_', "-");
    (uid.len() == 36 && uid.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit())).then_some(uid)
}

/// Deepest directory [`scan`] descends to, below the root.
const MAX_DEPTH: usize = 32;

/// Walk the cgroup tree under `root`: every cgroup's id, and the container cgroups.
///
/// # Errors
/// The root cannot be read. Directories that vanish during the walk (a container
/// that stops) are skipped.
pub fn scan(root: &Path) -> std::io::Result<Cgroups> {
    let mut found = Cgroups::default();
    found.ids.insert(std::fs::metadata(root)?.ino());
    std::fs::read_dir(root)?;
    let mut stack: Vec<(PathBuf, usize, Option<String>, Option<String>)> = vec![(root.to_path_buf(), 0, None, None)];
    // (dir, depth, pod uid of the nearest pod directory above, container id above)
    while let Some((dir, depth, pod_uid, in_container)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let Ok(meta) = e.metadata() else { continue };
            let path = e.path();
            let name = e.file_name();
            let name = name.to_string_lossy();
            found.dirs += 1;
            found.ids.insert(meta.ino());
            let mut child_container = in_container.clone();
            if let Some(c) = &in_container {
                if let Some(cg) = found.containers.get_mut(c) {
                    cg.below.push((path.clone(), meta.ino()));
                }
            } else if let Some(id) = container_dir_id(&name) {
                found.containers.insert(
                    id.to_string(),
                    ContainerCgroup { dir: path.clone(), id: meta.ino(), pod_uid: pod_uid.clone(), below: Vec::new() },
                );
                child_container = Some(id.to_string());
            }
            if depth + 1 < MAX_DEPTH {
                let uid = pod_dir_uid(&name).or_else(|| pod_uid.clone());
                stack.push((path, depth + 1, uid, child_container));
            }
        }
    }
    Ok(found)
}

/// A container to bind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodBind {
    /// The plan id.
    pub plan: String,
    /// Its slot.
    pub slot: u16,
    /// The container.
    pub container: PodContainer,
    /// Its cgroup and the cgroups below it, `(dir, id)`.
    pub cgroups: Vec<(PathBuf, u64)>,
}

/// Why a container of the list is not bound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotBound {
    /// No loaded plan names its workload and container.
    NoPlan {
        /// The plan ids looked for.
        looked_for: Vec<String>,
    },
    /// It has not started (no `containerID`).
    NotStarted,
    /// No cgroup of the tree is named after its runtime id: it runs on another node,
    /// or it has stopped.
    NoCgroup,
    /// The cgroup named after its runtime id is below another pod's directory.
    OtherPod {
        /// That cgroup.
        dir: PathBuf,
        /// The pod UID of the directory above it.
        uid: String,
    },
}

/// What [`resolve`] made of the list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolution {
    /// The containers to bind, in list order.
    pub binds: Vec<PodBind>,
    /// The containers not bound, and why, in list order.
    pub notes: Vec<(PodContainer, NotBound)>,
}

/// Join the list's containers with the cgroups found and the loaded plans (`plan
/// id -> slot`). A workload's plan for the container's name is taken before its plan
/// for every container (`*`).
pub fn resolve(containers: &[PodContainer], cgroups: &Cgroups, plans: &BTreeMap<&str, u16>) -> Resolution {
    let mut r = Resolution::default();
    for c in containers {
        let mut looked_for = Vec::new();
        let mut hit = None;
        'found: for (kind, name) in &c.workloads {
            for container in [c.container.as_str(), "*"] {
                let id = format!("{}/{kind}/{name}/{container}", c.namespace);
                if let Some(slot) = plans.get(id.as_str()) {
                    hit = Some((id, *slot));
                    break 'found;
                }
                looked_for.push(id);
            }
        }
        let Some((plan, slot)) = hit else {
            r.notes.push((c.clone(), NotBound::NoPlan { looked_for }));
            continue;
        };
        let Some(id) = &c.id else {
            r.notes.push((c.clone(), NotBound::NotStarted));
            continue;
        };
        let Some(cg) = cgroups.containers.get(id) else {
            r.notes.push((c.clone(), NotBound::NoCgroup));
            continue;
        };
        if let Some(uid) = cg.pod_uid.as_ref().filter(|u| !u.eq_ignore_ascii_case(&c.uid)) {
            r.notes.push((c.clone(), NotBound::OtherPod { dir: cg.dir.clone(), uid: uid.clone() }));
            continue;
        }
        let mut cgroups = vec![(cg.dir.clone(), cg.id)];
        cgroups.extend(cg.below.iter().cloned());
        r.binds.push(PodBind { plan, slot, container: c.clone(), cgroups });
    }
    r
}

#[cfg(test)]
mod tests;
