use super::*;

const ID_A: &str = "0f4b3a1c9e8d7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a";
const ID_B: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const UID: &str = "7d3c52a8-2f4e-4b71-9a0c-5e6f7a8b9c0d";

fn pod_list() -> String {
    format!(
        r#"{{
  "apiVersion": "v1",
  "kind": "List",
  "items": [
    {{
      "apiVersion": "v1",
      "kind": "Pod",
      "metadata": {{
        "name": "carts-5d8f7c9b4-x2x7k",
        "namespace": "sock-shop",
        "uid": "{UID}",
        "labels": {{ "name": "carts", "pod-template-hash": "5d8f7c9b4" }},
        "ownerReferences": [
          {{ "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "carts-5d8f7c9b4", "controller": true }}
        ]
      }},
      "spec": {{ "nodeName": "node-1" }},
      "status": {{
        "initContainerStatuses": [ {{ "name": "init", "containerID": "containerd://{ID_B}" }} ],
        "containerStatuses": [
          {{ "name": "carts", "containerID": "containerd://{ID_A}", "state": {{ "running": {{}} }} }},
          {{ "name": "sidecar" }}
        ]
      }}
    }},
    {{
      "apiVersion": "v1",
      "kind": "Pod",
      "metadata": {{ "name": "other", "uid": "00000000-0000-0000-0000-000000000000" }},
      "spec": {{ "nodeName": "node-2" }},
      "status": {{ "containerStatuses": [ {{ "name": "c", "containerID": "cri-o://{ID_B}" }} ] }}
    }}
  ]
}}"#
    )
}

fn read(text: &str, node: Option<&str>) -> Result<Vec<PodContainer>, PodsError> {
    read_pods(&load("pods.json", text.as_bytes()), node)
}

#[test]
fn a_pod_list_gives_every_container_with_its_workloads() {
    let c = read(&pod_list(), None).unwrap();
    let names: Vec<(&str, &str, &ContainerId, bool)> =
        c.iter().map(|c| (c.pod.as_str(), c.container.as_str(), &c.id, c.running)).collect();
    let known = |id: &str| ContainerId::Known(id.to_string());
    assert_eq!(
        names,
        [
            ("carts-5d8f7c9b4-x2x7k", "init", &known(ID_B), false),
            ("carts-5d8f7c9b4-x2x7k", "carts", &known(ID_A), true),
            ("carts-5d8f7c9b4-x2x7k", "sidecar", &ContainerId::None, false),
            ("other", "c", &known(ID_B), false),
        ]
    );
    assert_eq!(c[1].namespace, "sock-shop");
    assert_eq!(c[3].namespace, "default", "no namespace is the default namespace");
    assert_eq!(
        c[1].workloads,
        [
            ("Deployment".to_string(), "carts".to_string()),
            ("ReplicaSet".to_string(), "carts-5d8f7c9b4".to_string()),
            ("Pod".to_string(), "carts-5d8f7c9b4-x2x7k".to_string())
        ]
    );
    assert_eq!(c[3].workloads, [("Pod".to_string(), "other".to_string())]);
    assert_eq!(c[1].source, "pods.json:21:11", "the container's status, by line and column");
}

#[test]
fn a_node_keeps_only_its_pods() {
    let c = read(&pod_list(), Some("node-2")).unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].pod, "other");
    assert!(read(&pod_list(), Some("node-9")).unwrap().is_empty());
}

#[test]
fn owners_give_their_workloads() {
    let pod = |owner: &str, hash: &str| {
        let v: Value = serde_json::from_str(&format!(
            r#"{{"metadata": {{"ownerReferences": [{owner}], "labels": {{"pod-template-hash": "{hash}"}}}}}}"#
        ))
        .unwrap();
        workloads_of(&v, "p", Some(hash).filter(|h| !h.is_empty())).unwrap()
    };
    let w = |v: &[(&str, &str)]| v.iter().map(|(k, n)| ((*k).to_string(), (*n).to_string())).collect::<Vec<_>>();
    assert_eq!(
        pod(r#"{"kind": "StatefulSet", "name": "db", "controller": true}"#, ""),
        w(&[("StatefulSet", "db"), ("Pod", "p")])
    );
    assert_eq!(
        pod(r#"{"kind": "DaemonSet", "name": "ds", "controller": true}"#, ""),
        w(&[("DaemonSet", "ds"), ("Pod", "p")])
    );
    // The hash must be the name's own suffix.
    assert_eq!(
        pod(r#"{"kind": "ReplicaSet", "name": "web-abc", "controller": true}"#, "xyz"),
        w(&[("ReplicaSet", "web-abc"), ("Pod", "p")])
    );
    assert_eq!(
        pod(r#"{"kind": "Job", "name": "backup-28870520", "controller": true}"#, ""),
        w(&[("Job", "backup-28870520"), ("CronJob", "backup"), ("Pod", "p")])
    );
    assert_eq!(
        pod(r#"{"kind": "Job", "name": "migrate", "controller": true}"#, ""),
        w(&[("Job", "migrate"), ("Pod", "p")])
    );
    // Fewer than 8 digits is not a schedule time.
    assert_eq!(
        pod(r#"{"kind": "Job", "name": "step-2", "controller": true}"#, ""),
        w(&[("Job", "step-2"), ("Pod", "p")])
    );
    // The controller, not the first owner.
    assert_eq!(
        pod(r#"{"kind": "ConfigMap", "name": "x"}, {"kind": "DaemonSet", "name": "ds", "controller": true}"#, ""),
        w(&[("DaemonSet", "ds"), ("Pod", "p")])
    );
    // Owners that are not controllers do not count.
    assert_eq!(pod(r#"{"kind": "ConfigMap", "name": "cm"}"#, ""), w(&[("Pod", "p")]));
    // A static pod (its Node controls it), or an operator's resource: then Pod/<name>.
    assert_eq!(pod(r#"{"kind": "Node", "name": "n1", "controller": true}"#, ""), w(&[("Node", "n1"), ("Pod", "p")]));
    // A pod made by another pod is its own workload, never the other pod's.
    assert_eq!(pod(r#"{"kind": "Pod", "name": "parent", "controller": true}"#, ""), w(&[("Pod", "p")]));
    // A controller reference without a name is refused (its index).
    let v: Value = serde_json::from_str(
        r#"{"metadata": {"ownerReferences": [{"kind": "A", "name": "a"}, {"kind": "ReplicaSet", "controller": true}]}}"#,
    )
    .unwrap();
    assert_eq!(workloads_of(&v, "p", None), Err(1));
}

#[test]
fn bad_lists_name_file_line_and_field() {
    let e = read(r#"{"kind": "Deployment"}"#, None).unwrap_err().to_string();
    assert!(e.starts_with("pods.json:1:") && e.contains("kind: expected Pod, PodList or List"), "{e}");
    let e = read("kind: Pod\nmetadata:\n  name: p\n", None).unwrap_err().to_string();
    assert!(e.contains("metadata.uid: missing"), "{e}");
    let e = read("kind: PodList\nitems:\n- kind: Pod\n  metadata: {name: p, uid: u}\n  status:\n    containerStatuses:\n    - name: c\n      containerID: 42\n", None)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("pods.json:8:20: items[0].status.containerStatuses[0].containerID: expected a string"),
        "{e}"
    );
    let e = read("kind: PodList\nitems: [}\n", None).unwrap_err().to_string();
    assert!(e.starts_with("pods.json:2:"), "{e}");
    // Every pod's problem, not the first pod's only.
    let e = read("kind: PodList\nitems:\n- metadata: {}\n- metadata: {name: q}\n", None).unwrap_err();
    assert_eq!(e.0.len(), 2, "{e}");
    // Nothing at all is not an empty list: a failed `kubectl ... |` gives nothing.
    for empty in ["", "---\n", "null\n", "# nothing\n"] {
        let e = read(empty, None).unwrap_err().to_string();
        assert!(e.contains("no pod list"), "{empty:?}: {e}");
    }
    assert_eq!(read(r#"{"kind": "PodList", "items": []}"#, None).unwrap(), []);
    // A list's item of another kind, a status that is not a mapping.
    let e = read(r#"{"kind": "List", "items": [{"kind": "Deployment", "metadata": {"name": "d", "uid": "u"}}]}"#, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("items[0].kind: expected Pod"), "{e}");
    let e = read(r#"{"kind": "Pod", "metadata": {"name": "p", "uid": "u"}, "status": "oops"}"#, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("status: expected a mapping"), "{e}");
    // An id of another runtime or shape is kept, as unknown.
    let c = read(
        r#"{"kind": "Pod", "metadata": {"name": "p", "uid": "u"}, "status": {"containerStatuses": [
            {"name": "a", "containerID": "containerd://ABC"}, {"name": "b", "containerID": "rkt://1"}]}}"#,
        None,
    )
    .unwrap();
    assert_eq!(c[0].id, ContainerId::Unknown("containerd://ABC".into()));
    assert_eq!(c[1].id, ContainerId::Unknown("rkt://1".into()));
}

#[test]
fn cgroup_names() {
    assert_eq!(container_dir_id(&format!("cri-containerd-{ID_A}.scope")), Some(ID_A));
    assert_eq!(container_dir_id(&format!("crio-{ID_A}.scope")), Some(ID_A));
    assert_eq!(container_dir_id(&format!("docker-{ID_A}.scope")), Some(ID_A));
    assert_eq!(container_dir_id(ID_A), Some(ID_A));
    assert_eq!(container_dir_id(&format!("crio-{ID_A}")), Some(ID_A), "CRI-O, cgroupfs driver");
    assert_eq!(container_dir_id(&format!("crio-conmon-{ID_A}.scope")), None);
    assert_eq!(container_dir_id(&ID_A.to_uppercase()), None);
    assert_eq!(container_dir_id(&ID_A[1..]), None);
    assert_eq!(container_dir_id("kubepods.slice"), None);
    let systemd = format!("kubepods-burstable-pod{}.slice", UID.replace('-', "_"));
    assert_eq!(pod_dir_uid(&systemd).as_deref(), Some(UID));
    assert_eq!(pod_dir_uid(&format!("kubepods-pod{}.slice", UID.replace('-', "_"))).as_deref(), Some(UID));
    assert_eq!(pod_dir_uid(&format!("pod{UID}")).as_deref(), Some(UID));
    assert_eq!(pod_dir_uid("kubepods-burstable.slice"), None);
    assert_eq!(pod_dir_uid(&format!("ipod{UID}")), None);
    assert_eq!(pod_dir_uid(&format!("user-pod{}.slice", UID.replace('-', "_"))), None);
    assert_eq!(pod_dir_uid(&format!("podx{}.slice", UID.replace('-', "_"))), None);
    assert_eq!(
        pod_dir_uid(&format!("kubelet-kubepods-besteffort-pod{}.slice", UID.replace('-', "_"))).as_deref(),
        Some(UID),
        "kind's nodes"
    );
    assert_eq!(runtime_id(&format!("containerd://{ID_A}")), Some(ID_A));
    assert_eq!(runtime_id(&format!("cri-o://{ID_A}")), Some(ID_A));
    assert_eq!(runtime_id(&format!("docker://{ID_A}")), Some(ID_A));
    assert_eq!(runtime_id(&format!("other://{ID_A}")), None);
    assert_eq!(runtime_id(&format!("containerd://{}", ID_A.to_uppercase())), None);
    assert_eq!(runtime_id("containerd://"), None);
    assert_eq!(runtime_id(ID_A), None);
}

/// A kubelet-shaped tree (systemd driver) in a temporary directory: `scan` finds the
/// container by its runtime id, under its pod's UID, with what is below it.
#[test]
fn scan_and_resolve() {
    let root = std::env::temp_dir().join(format!("polc-pods-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let pod = root
        .join("kubepods.slice/kubepods-burstable.slice")
        .join(format!("kubepods-burstable-pod{}.slice", UID.replace('-', "_")));
    let carts = pod.join(format!("cri-containerd-{ID_A}.scope"));
    std::fs::create_dir_all(carts.join("container")).unwrap();
    // B's cgroup is under another pod: the list says B is the init container of the
    // carts pod, so it must not be bound.
    let other = root.join("kubepods.slice/kubepods-pod00000000_0000_0000_0000_000000000001.slice");
    std::fs::create_dir_all(other.join(format!("cri-containerd-{ID_B}.scope"))).unwrap();
    // Decoys out of place: a directory named after A outside the kubelet's tree, one
    // in a fake pod directory outside it, and one in kubepods but not in a pod's
    // directory. None is taken for A.
    std::fs::create_dir_all(root.join(format!("user.slice/pod{UID}/cri-containerd-{ID_A}.scope"))).unwrap();
    std::fs::create_dir_all(root.join(format!("kubepods.slice/kubepods-burstable.slice/{ID_A}"))).unwrap();
    let found = scan(&root).unwrap();
    assert_eq!(found.roots, [root.join("kubepods.slice")]);
    assert_eq!(found.dirs, 7);
    assert_eq!(found.problems.len(), 1, "{:?}", found.problems);
    assert!(found.problems[0].contains("not directly below a pod's cgroup"), "{:?}", found.problems);
    let a = &found.containers[ID_A];
    assert_eq!(a.dir, carts);
    assert_eq!(a.pod_uid, UID);
    assert_eq!(a.below.len(), 1);
    assert_eq!(a.below[0].0, carts.join("container"));

    let containers = read(&pod_list(), Some("node-1")).unwrap();
    let plans: BTreeMap<&str, u16> =
        [("sock-shop/Deployment/carts/carts", 3), ("sock-shop/Deployment/carts/*", 4)].into_iter().collect();
    let r = resolve(&containers, &found, &plans);
    assert_eq!(r.binds.len(), 1);
    let b = &r.binds[0];
    assert_eq!(
        (b.plan.as_str(), b.slot, b.container.container.as_str()),
        ("sock-shop/Deployment/carts/carts", 3, "carts")
    );
    assert_eq!(b.cgroups.iter().map(|c| c.1).collect::<Vec<_>>(), [a.id, a.below[0].1]);
    let notes: Vec<(&str, &NotBound)> = r.notes.iter().map(|(c, n)| (c.container.as_str(), n)).collect();
    assert_eq!(notes.len(), 2);
    assert_eq!(notes[0].0, "init");
    assert!(matches!(notes[0].1, NotBound::OtherPod { uid, .. } if uid == "00000000-0000-0000-0000-000000000001"));
    assert_eq!(notes[1], ("sidecar", &NotBound::NotStarted));

    // A second directory named after A in a pod directory: both are refused.
    let twin = root.join("kubepods.slice/kubepods-pod00000000_0000_0000_0000_000000000002.slice");
    std::fs::create_dir_all(twin.join(format!("crio-{ID_A}.scope"))).unwrap();
    let twins = scan(&root).unwrap();
    assert!(!twins.containers.contains_key(ID_A));
    assert_eq!(twins.duplicates[ID_A].len(), 2);
    let r2 = resolve(&containers, &twins, &plans);
    assert!(r2.binds.is_empty());
    assert!(matches!(&r2.notes[1].1, NotBound::Duplicate(d) if d.len() == 2));
    assert!(r2.notes[1].1.is_gap(&r2.notes[1].0, true));
    let _ = std::fs::remove_dir_all(&root);

    // No plan: the ids looked for are named.
    let r = resolve(&containers[1..2], &found, &BTreeMap::new());
    assert_eq!(
        r.notes[0].1,
        NotBound::NoPlan {
            looked_for: vec![
                "sock-shop/Deployment/carts/carts".into(),
                "sock-shop/Deployment/carts/*".into(),
                "sock-shop/ReplicaSet/carts-5d8f7c9b4/carts".into(),
                "sock-shop/ReplicaSet/carts-5d8f7c9b4/*".into(),
                "sock-shop/Pod/carts-5d8f7c9b4-x2x7k/carts".into(),
                "sock-shop/Pod/carts-5d8f7c9b4-x2x7k/*".into(),
            ]
        }
    );
}

/// Pods from the API: one that cannot be read is left out with its reason, the
/// others are read.
#[test]
fn api_pods_one_bad_pod_does_not_stop_the_others() {
    let good: Value = serde_json::from_str(&format!(
        r#"{{"metadata": {{"name": "ok", "namespace": "n", "uid": "{UID}"}}, "spec": {{"nodeName": "node-1"}},
            "status": {{"containerStatuses": [{{"name": "c", "containerID": "containerd://{ID_A}"}}]}}}}"#
    ))
    .unwrap();
    let bad: Value =
        serde_json::from_str(r#"{"metadata": {"name": "bad", "namespace": "n"}, "spec": {"nodeName": "node-1"}}"#)
            .unwrap();
    let (c, problems) = read_pod_objects(&[bad, good], Some("node-1"));
    assert_eq!(c.len(), 1);
    assert_eq!((c[0].pod.as_str(), c[0].source.as_str()), ("ok", "pod n/ok"));
    assert_eq!(problems.len(), 1);
    assert!(problems[0].starts_with("pod n/bad: metadata.uid: missing"), "{problems:?}");
}

/// Every cgroup below a container is taken, however deep.
#[test]
fn deep_cgroups_below_a_container_are_taken() {
    let root = std::env::temp_dir().join(format!("polc-pods-deep-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let scope = root.join(format!("kubepods/pod{UID}/{ID_A}"));
    let mut deep = scope.clone();
    for i in 0..80 {
        deep = deep.join(format!("d{i}"));
    }
    std::fs::create_dir_all(&deep).unwrap();
    let found = scan(&root).unwrap();
    let _ = std::fs::remove_dir_all(&root);
    assert_eq!(found.containers[ID_A].below.len(), 80);
    assert!(found.problems.is_empty(), "{:?}", found.problems);
}

/// The plans a node's pods use, among those given.
#[test]
fn plans_used_by_the_pods() {
    let c = read(&pod_list(), Some("node-1")).unwrap();
    let targets: std::collections::BTreeSet<&str> = [
        "sock-shop/Deployment/carts/carts",
        "sock-shop/Deployment/orders/orders",
        "sock-shop/ReplicaSet/carts-5d8f7c9b4/*",
    ]
    .into_iter()
    .collect();
    let used: Vec<String> = plans_used(&c, &targets).into_iter().collect();
    // carts uses its Deployment's plan; init and sidecar fall back to the
    // ReplicaSet's plan for every container; orders is used by no pod.
    assert_eq!(used, ["sock-shop/Deployment/carts/carts", "sock-shop/ReplicaSet/carts-5d8f7c9b4/*"]);
}
