//! Kubernetes pods on a node: the cgroup each running container is in, and the plan
//! that governs it.
//!
//! kubelet gives every container a cgroup of its own, named after the container's
//! runtime id, below a cgroup named after its pod's UID:
//!
//! ```text
//! systemd driver:  kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<UID, '-' as '_'>.slice/cri-containerd-<ID>.scope
//!                  (CRI-O: crio-<ID>.scope; cri-dockerd: docker-<ID>.scope)
//! cgroupfs driver: kubepods/burstable/pod<UID>/<ID>   (CRI-O: crio-<ID>)
//! ```
//!
//! Containers are looked for only in that shape, below `kubepods.slice` or
//! `kubepods` at the top of the cgroup tree (which only root can make cgroups in):
//! a directory named after a container elsewhere, or not directly below a directory
//! named after its pod's UID, is never bound, and two directories named after the
//! same container are both refused.
//!
//! The pod list (`kubectl get pods -o json`, the API's `PodList`) says which pod,
//! workload and container each runtime id belongs to (`status.containerStatuses`).
//! [`read_pods`] reads the list, [`scan`] walks the cgroup tree, and [`resolve`]
//! joins them with the loaded plans (`namespace/Kind/name/container`): a pod's
//! workload is found from its controller (the `ownerReferences` entry with
//! `controller: true`): a ReplicaSet whose name is a Deployment's name plus the pod's
//! `pod-template-hash` label stands for that Deployment, and a Job whose name is a
//! name plus `-` and 8 or more digits (a schedule time in minutes) may stand for a
//! CronJob; a pod without a controller is the workload `Pod/<name>`, and so, last,
//! is every pod (after its controller: a static pod's `Node`, an operator's
//! resource, or a pod compiled on its own by `polc agent watch --from-cluster`).
//!
//! Nothing is silently left out: every container of the list ends up bound, or in
//! [`Resolution::notes`] with the reason.

use polc_load::{FieldPath, Limits, SourceFile, pointer};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
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
    /// The runtime's container id, as the status gives it.
    pub id: ContainerId,
    /// The status says the container is running (`state.running`).
    pub running: bool,
    /// The workloads the pod may belong to, `(kind, name)`, the likeliest first.
    pub workloads: Vec<(String, String)>,
    /// `file:line:col` of the container's status.
    pub source: String,
}

impl PodContainer {
    /// The pod and container, as violation records name them.
    pub fn pod_ref(&self) -> crate::events::PodRef {
        crate::events::PodRef {
            namespace: self.namespace.clone(),
            name: self.pod.clone(),
            uid: self.uid.clone(),
            container: self.container.clone(),
            container_id: match &self.id {
                ContainerId::Known(id) => id.clone(),
                _ => String::new(),
            },
        }
    }

    /// `namespace/pod container NAME`.
    pub fn label(&self) -> String {
        format!("{}/{} container {}", self.namespace, self.pod, self.container)
    }
}

/// A container's runtime id, from `containerID` (`containerd://<ID>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainerId {
    /// No `containerID`: the container has not started.
    None,
    /// `containerd://`, `cri-o://` or `docker://` and 64 lowercase hexadecimal digits.
    Known(String),
    /// Another runtime, or another shape: its cgroup is not looked for.
    Unknown(String),
}

/// A pod list that cannot be read: every problem (the first of each pod), each with
/// file, line and field.
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
    if errors.is_empty() && file.documents.iter().all(|d| d.value.is_null()) {
        errors.push(format!(
            "{}: no pod list (the input is empty; `kubectl get pods -o json` prints a List even when there are no pods)",
            file.name
        ));
    }
    for doc in &file.documents {
        let at = |path: &FieldPath| {
            let s = doc.spans.value_span(&doc.value, path.segs());
            format!("{}:{}:{}", file.name, s.line, s.col)
        };
        let kind = doc.value.get("kind").and_then(Value::as_str).unwrap_or("");
        let pods: Vec<(&Value, FieldPath)> = match kind {
            "Pod" => vec![(&doc.value, FieldPath::root())],
            "PodList" | "List" => match doc.value.get("items") {
                Some(Value::Array(items)) => {
                    items.iter().enumerate().map(|(i, v)| (v, FieldPath::root().key("items").index(i))).collect()
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
        for (pod, p) in pods {
            if let Err(e) = read_pod(pod, &p, node, &at, &mut out) {
                errors.push(e);
            }
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(PodsError(errors)) }
}

/// The containers of pods read from the API (each a `Pod` as JSON), with `node` as
/// in [`read_pods`]. A pod that cannot be read is left out and its problem is in the
/// second list (`pod NAMESPACE/NAME: field: problem`): one odd pod does not keep the
/// others of the node from being bound.
pub fn read_pod_objects<'v>(
    pods: impl IntoIterator<Item = &'v Value>,
    node: Option<&str>,
) -> (Vec<PodContainer>, Vec<String>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for pod in pods {
        let name = |k: &str| pointer(pod, &format!("/metadata/{k}")).and_then(Value::as_str).unwrap_or("?").to_string();
        let label = format!("pod {}/{}", name("namespace"), name("name"));
        let at = |_: &FieldPath| label.clone();
        if let Err(e) = read_pod(pod, &FieldPath::root(), node, &at, &mut out) {
            errors.push(e);
        }
    }
    (out, errors)
}

/// Read one pod, `pod`, found at `at_pod` in its document (for messages).
fn read_pod(
    pod: &Value,
    at_pod: &FieldPath,
    node: Option<&str>,
    at: &dyn Fn(&FieldPath) -> String,
    out: &mut Vec<PodContainer>,
) -> Result<(), String> {
    if let Some(kind) = pod.get("kind").filter(|_| !at_pod.segs().is_empty())
        && kind.as_str() != Some("Pod")
    {
        let p = at_pod.key("kind");
        return Err(format!("{}: {p}: expected Pod (a list of pods), found {kind}", at(&p)));
    }
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
    let workloads = workloads_of(pod, name, hash).map_err(|i| {
        let p = field("metadata.ownerReferences").index(i);
        format!("{}: {p}: a controller reference needs a kind and a name", at(&p))
    })?;
    match pod.get("status") {
        None | Some(Value::Null | Value::Object(_)) => {}
        Some(_) => {
            let p = field("status");
            return Err(format!("{}: {p}: expected a mapping", at(&p)));
        }
    }
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
                None | Some(Value::Null) => ContainerId::None,
                Some(Value::String(c)) if c.is_empty() => ContainerId::None,
                Some(Value::String(c)) => match runtime_id(c) {
                    Some(id) => ContainerId::Known(id.to_string()),
                    None => ContainerId::Unknown(c.clone()),
                },
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
                id,
                running: pointer(s, "/state/running").is_some_and(Value::is_object),
                workloads: workloads.clone(),
                source: at(&p),
            });
        }
    }
    Ok(())
}

/// `containerd://<ID>`, `cri-o://<ID>` or `docker://<ID>` -> `<ID>`, an ID being 64
/// lowercase hexadecimal digits (what these runtimes name cgroups after).
pub fn runtime_id(s: &str) -> Option<&str> {
    let (scheme, id) = s.split_once("://")?;
    (matches!(scheme, "containerd" | "cri-o" | "docker") && is_id(id)).then_some(id)
}

fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The workloads a pod (the API's JSON) may belong to, the likeliest first and
/// `Pod/<name>` last, as [`PodContainer::workloads`]; `Err`: why not (no name, a
/// controller reference without a kind or name).
pub fn pod_workloads(pod: &Value) -> Result<Vec<(String, String)>, String> {
    let name = pointer(pod, "/metadata/name").and_then(Value::as_str).filter(|n| !n.is_empty());
    let Some(name) = name else { return Err("metadata.name: missing".to_string()) };
    let hash = pointer(pod, "/metadata/labels/pod-template-hash").and_then(Value::as_str);
    workloads_of(pod, name, hash)
        .map_err(|i| format!("metadata.ownerReferences[{i}]: a controller reference needs a kind and a name"))
}

/// The workloads a pod may belong to, the likeliest first and `Pod/<name>` last
/// (see the module's docs); `Err(index)`: the controller reference at that index has no kind or name.
fn workloads_of(pod: &Value, name: &str, hash: Option<&str>) -> Result<Vec<(String, String)>, usize> {
    let owners = pointer(pod, "/metadata/ownerReferences").and_then(Value::as_array);
    let controller = owners
        .and_then(|o| o.iter().enumerate().find(|(_, r)| r.get("controller").and_then(Value::as_bool) == Some(true)));
    let Some((i, owner)) = controller else {
        return Ok(vec![("Pod".into(), name.into())]);
    };
    let kind_name = Some(owner).and_then(|r| Some((r.get("kind")?.as_str()?, r.get("name")?.as_str()?)));
    let Some((kind, owner_name)) = kind_name.filter(|(k, n)| !k.is_empty() && !n.is_empty()) else {
        return Err(i);
    };
    let mut w = Vec::new();
    match kind {
        // A pod made by another pod is a workload of its own: the other pod's plan
        // is compiled for that pod's labels and containers, not this one's.
        "Pod" => return Ok(vec![("Pod".into(), name.into())]),
        "ReplicaSet" => {
            if let Some(d) = hash.and_then(|h| owner_name.strip_suffix(h)?.strip_suffix('-')).filter(|d| !d.is_empty())
            {
                w.push(("Deployment".into(), d.into()));
            }
        }
        "Job" => {
            if let Some((prefix, n)) = owner_name.rsplit_once('-')
                && !prefix.is_empty()
                && n.len() >= 8
                && n.bytes().all(|b| b.is_ascii_digit())
            {
                // A CronJob's Job is the CronJob's name and its schedule time in
                // minutes since 1970 (8 digits since 1970-03-11).
                w.push(("Job".into(), owner_name.into()));
                w.push(("CronJob".into(), prefix.into()));
                w.push(("Pod".into(), name.into()));
                return Ok(w);
            }
        }
        _ => {}
    }
    w.push((kind.into(), owner_name.into()));
    // Last, the pod itself: a static pod (controller: its Node), an operator's
    // resource, or a pod `polc agent watch --from-cluster` compiled on its own.
    w.push(("Pod".into(), name.into()));
    Ok(w)
}

/// A container's cgroup, as found in the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerCgroup {
    /// Its directory.
    pub dir: PathBuf,
    /// Its id (inode number).
    pub id: u64,
    /// The pod UID of the directory it is in.
    pub pod_uid: String,
    /// Cgroups below it (a runtime or the workload may make them), `(dir, id)`.
    pub below: Vec<(PathBuf, u64)>,
}

/// What [`scan`] found below the kubelet's cgroups.
#[derive(Clone, Debug, Default)]
pub struct Cgroups {
    /// The kubelet's top cgroups found (`kubepods.slice`, `kubepods`).
    pub roots: Vec<PathBuf>,
    /// Container cgroups by runtime id.
    pub containers: HashMap<String, ContainerCgroup>,
    /// Runtime ids that two or more directories are named after: none is bound.
    pub duplicates: BTreeMap<String, Vec<PathBuf>>,
    /// Directories seen below the roots.
    pub dirs: usize,
    /// What could not be read or was left out, in words (directories that could not
    /// be read, a tree deeper than the walk goes, a container directory out of place).
    pub problems: Vec<String>,
}

/// The runtime id a container cgroup's directory is named after:
/// `cri-containerd-<ID>.scope`, `crio-<ID>.scope`, `docker-<ID>.scope` (the systemd
/// driver), `<ID>` or `crio-<ID>` (the cgroupfs driver). IDs are 64 lowercase
/// hexadecimal digits. CRI-O's `crio-conmon-*` (the monitor, not the container) is
/// not a container.
pub fn container_dir_id(name: &str) -> Option<&str> {
    let s = name.strip_suffix(".scope").unwrap_or(name);
    let s = ["cri-containerd-", "crio-", "docker-"].iter().find_map(|p| s.strip_prefix(p)).unwrap_or(s);
    is_id(s).then_some(s)
}

/// The pod UID a pod cgroup's directory is named after: `pod<UID>` (cgroupfs) or
/// `[<parent>-]kubepods[-<class>]-pod<UID with '_' for '-'>.slice` (systemd; a
/// kubelet with its own cgroup root, as in kind's nodes, prefixes its parent's name).
pub fn pod_dir_uid(name: &str) -> Option<String> {
    let uid = match name.strip_suffix(".slice") {
        Some(s) => {
            let (unit, last) = s.rsplit_once('-')?;
            if !(unit == "kubepods" || unit.ends_with("-kubepods") || unit.contains("kubepods-")) {
                return None;
            }
            last.strip_prefix("pod")?
        }
        None => name.strip_prefix("pod")?,
    };
    let uid = uid.replace('_', "-");
    (uid.len() == 36 && uid.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit())).then_some(uid)
}

/// Deepest directory [`scan`] looks for pods and containers at, below a kubelet root
/// (the cgroups below a container are all taken, however deep).
const MAX_DEPTH: usize = 64;

/// The kubelet's top cgroups, directly below the cgroup root (or below
/// `--cgroup-root`: `kubelet-kubepods.slice` below `kubelet.slice` in kind's nodes).
pub const KUBELET_ROOTS: [&str; 3] = ["kubepods.slice", "kubepods", "kubelet-kubepods.slice"];

/// Walk the kubelet's cgroups below `root` (the cgroup v2 root): the container
/// cgroups, each directly below a directory named after its pod's UID.
///
/// # Errors
/// The root cannot be read. Directories below it that cannot be read are in
/// [`Cgroups::problems`]; directories that vanish during the walk (a container
/// that stops) are skipped.
pub fn scan(root: &Path) -> std::io::Result<Cgroups> {
    let dev = std::fs::metadata(root)?.dev();
    std::fs::read_dir(root)?;
    let mut found = Cgroups::default();
    for top in KUBELET_ROOTS {
        let top = root.join(top);
        match std::fs::metadata(&top) {
            Ok(m) if m.is_dir() && m.dev() == dev => found.roots.push(top),
            _ => {}
        }
    }
    if found.roots.is_empty() {
        found.problems.push(format!(
            "{} has none of the kubelet's cgroups ({}): no container can be found",
            root.display(),
            KUBELET_ROOTS.join(", ")
        ));
    }
    // (dir, depth, the pod UID the dir is named after, the container above it)
    let mut stack: Vec<(PathBuf, usize, Option<String>, Option<String>)> =
        found.roots.iter().map(|r| (r.clone(), 0, None, None)).collect();
    while let Some((dir, depth, pod_uid, in_container)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                found.problems.push(format!("cannot read {}: {e}", dir.display()));
                continue;
            }
        };
        for e in entries {
            let e = match e {
                Ok(e) => e,
                Err(err) => {
                    found.problems.push(format!("cannot read {}: {err}", dir.display()));
                    break;
                }
            };
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let path = e.path();
            let meta = match e.metadata() {
                Ok(m) => m,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => {
                    found.problems.push(format!("cannot read {}: {err}", path.display()));
                    continue;
                }
            };
            if meta.dev() != dev {
                found.problems.push(format!("{} is not on the cgroup file system: left out", path.display()));
                continue;
            }
            found.dirs += 1;
            // Below a container every cgroup is bound, however deep (the walk keeps its
            // own stack); elsewhere the kubelet's shape is a few levels.
            if in_container.is_none() && depth + 1 >= MAX_DEPTH {
                found.problems.push(format!("{} is more than {MAX_DEPTH} levels deep: left out", path.display()));
                continue;
            }
            let name = e.file_name();
            let name = name.to_string_lossy();
            let mut child_container = in_container.clone();
            if let Some(c) = &in_container {
                if let Some(cg) = found.containers.get_mut(c) {
                    cg.below.push((path.clone(), meta.ino()));
                }
            } else if let Some(id) = container_dir_id(&name) {
                match &pod_uid {
                    Some(uid) => {
                        if let Some(dirs) = found.duplicates.get_mut(id) {
                            dirs.push(path.clone());
                        } else if let Some(first) = found.containers.remove(id) {
                            found.duplicates.insert(id.to_string(), vec![first.dir, path.clone()]);
                        } else {
                            let cg = ContainerCgroup {
                                dir: path.clone(),
                                id: meta.ino(),
                                pod_uid: uid.clone(),
                                below: Vec::new(),
                            };
                            found.containers.insert(id.to_string(), cg);
                            child_container = Some(id.to_string());
                        }
                    }
                    None => found.problems.push(format!(
                        "{} is named after a container but is not directly below a pod's cgroup: left out",
                        path.display()
                    )),
                }
            }
            stack.push((path, depth + 1, pod_dir_uid(&name), child_container));
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
    /// Its `containerID` is of another runtime or shape.
    UnknownRuntime(String),
    /// No cgroup of the kubelet's tree is named after its runtime id: it runs on
    /// another node, or it has stopped.
    NoCgroup,
    /// The cgroup named after its runtime id is in another pod's directory.
    OtherPod {
        /// That cgroup.
        dir: PathBuf,
        /// The pod UID of the directory it is in.
        uid: String,
    },
    /// Two or more directories are named after its runtime id.
    Duplicate(Vec<PathBuf>),
}

impl NotBound {
    /// Is a policy meant for this container left unenforced? Not for a container
    /// with no plan, or one not started; for one that runs with a plan, when its
    /// cgroup cannot be found for sure (`on_this_node`: the list is of this node's
    /// pods, so a running container must have its cgroup here).
    pub fn is_gap(&self, c: &PodContainer, on_this_node: bool) -> bool {
        match self {
            NotBound::NoPlan { .. } | NotBound::NotStarted => false,
            NotBound::UnknownRuntime(_) => c.running,
            NotBound::NoCgroup => c.running && on_this_node,
            NotBound::OtherPod { .. } | NotBound::Duplicate(_) => true,
        }
    }
}

/// What [`resolve`] made of the list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolution {
    /// The containers to bind, in list order.
    pub binds: Vec<PodBind>,
    /// The containers not bound, and why, in list order.
    pub notes: Vec<(PodContainer, NotBound)>,
}

/// The plan of a container among the plans `has` knows (plan id -> its value):
/// its workloads' plans for its name, then for every container (`*`), the likeliest
/// workload first; `Err`: the plan ids looked for.
pub fn plan_of<T>(c: &PodContainer, has: impl Fn(&str) -> Option<T>) -> Result<(String, T), Vec<String>> {
    let mut looked_for = Vec::new();
    for (kind, name) in &c.workloads {
        for container in [c.container.as_str(), "*"] {
            let id = format!("{}/{kind}/{name}/{container}", c.namespace);
            if let Some(v) = has(&id) {
                return Ok((id, v));
            }
            looked_for.push(id);
        }
    }
    Err(looked_for)
}

/// The plans among `targets` that the containers use.
pub fn plans_used(
    containers: &[PodContainer],
    targets: &std::collections::BTreeSet<&str>,
) -> std::collections::BTreeSet<String> {
    containers
        .iter()
        .filter_map(|c| plan_of(c, |id| targets.contains(id).then_some(())).ok())
        .map(|(id, ())| id)
        .collect()
}

/// Join the list's containers with the cgroups found and the loaded plans (`plan
/// id -> slot`). A workload's plan for the container's name is taken before its plan
/// for every container (`*`).
pub fn resolve(containers: &[PodContainer], cgroups: &Cgroups, plans: &BTreeMap<&str, u16>) -> Resolution {
    let mut r = Resolution::default();
    for c in containers {
        let (plan, slot) = match plan_of(c, |id| plans.get(id).copied()) {
            Ok(hit) => hit,
            Err(looked_for) => {
                r.notes.push((c.clone(), NotBound::NoPlan { looked_for }));
                continue;
            }
        };
        let id = match &c.id {
            ContainerId::Known(id) => id,
            ContainerId::None => {
                r.notes.push((c.clone(), NotBound::NotStarted));
                continue;
            }
            ContainerId::Unknown(s) => {
                r.notes.push((c.clone(), NotBound::UnknownRuntime(s.clone())));
                continue;
            }
        };
        if let Some(dirs) = cgroups.duplicates.get(id) {
            r.notes.push((c.clone(), NotBound::Duplicate(dirs.clone())));
            continue;
        }
        let Some(cg) = cgroups.containers.get(id) else {
            r.notes.push((c.clone(), NotBound::NoCgroup));
            continue;
        };
        if !cg.pod_uid.eq_ignore_ascii_case(&c.uid) {
            r.notes.push((c.clone(), NotBound::OtherPod { dir: cg.dir.clone(), uid: cg.pod_uid.clone() }));
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
