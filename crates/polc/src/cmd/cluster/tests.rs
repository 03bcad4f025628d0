use super::*;
use polc_compiler::backend::bpf::bundle::Bundle;

/// A pod of `owner` (kind, name) with `labels` and one container `c`.
fn pod(ns: &str, name: &str, owner: Option<(&str, &str)>, labels: Value, containers: &[&str]) -> Value {
    let mut p = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"), "labels": labels},
        "spec": {"nodeName": "n1", "containers": containers.iter().map(|c| json!({"name": c, "image": "x"})).collect::<Vec<_>>()},
    });
    if let Some((kind, owner)) = owner {
        p["metadata"]["ownerReferences"] =
            json!([{"apiVersion": "apps/v1", "kind": kind, "name": owner, "controller": true}]);
    }
    p
}

fn policy(ns: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "polc.dev/v1alpha1",
        "kind": "PreventionPolicy",
        "metadata": {
            "name": name, "namespace": ns, "uid": "u", "resourceVersion": "7", "generation": 2,
            "managedFields": [{"manager": "argocd"}],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}", "team": "shop"},
        },
        "spec": spec,
        "status": {"selectedWorkloads": 1},
    })
}

fn block_id(app: &str) -> Value {
    json!({"selector": {"matchLabels": {"app": app}}, "process": [{"name": "block-id", "action": "Block", "paths": ["/usr/bin/id"]}]})
}

fn paths(files: &SourceFiles) -> Vec<&str> {
    files.keys().map(String::as_str).filter(|p| p.starts_with("workloads/")).collect()
}

/// The input with these policies, as the watch gives them (PreventionPolicy).
fn src(pods: &[Value], policies: &[Value]) -> (SourceFiles, Vec<String>) {
    source(pods, policies.iter().map(|p| ("PreventionPolicy", p)))
}

/// A policy of namespace shop that selects by `keys` (matchLabels app, and a
/// matchExpressions entry for each other key).
fn selecting(keys: &[&str]) -> Value {
    let exprs: Vec<Value> =
        keys.iter().filter(|k| **k != "app").map(|k| json!({"key": k, "operator": "Exists"})).collect();
    policy(
        "shop",
        "sel",
        json!({"selector": {"matchLabels": {"app": "web"}, "matchExpressions": exprs}, "process": [{"name": "r", "action": "Block", "paths": ["/usr/bin/id"]}]}),
    )
}

fn doc(files: &SourceFiles, path: &str) -> Value {
    serde_json::from_str(&files[path]).unwrap()
}

/// The pods of one Deployment are one workload, named after the Deployment, with
/// their labels and containers; a pod without a controller is a Pod.
#[test]
fn pods_of_one_workload_are_one_workload() {
    let web = |n: &str| {
        pod(
            "shop",
            n,
            Some(("ReplicaSet", "web-5d8f")),
            json!({"app": "web", "pod-template-hash": "5d8f"}),
            &["web", "log"],
        )
    };
    let bare = pod("shop", "debug", None, json!({"app": "debug"}), &["sh"]);
    let pods = [web("web-5d8f-b"), web("web-5d8f-a"), bare];
    let (files, notes) = src(&pods, &[]);
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(paths(&files), ["workloads/shop/Deployment.web.json", "workloads/shop/Pod.debug.json"]);
    let d = doc(&files, "workloads/shop/Deployment.web.json");
    assert_eq!(d["apiVersion"], "apps/v1");
    assert_eq!(d["metadata"].get("annotations"), None);
    assert_eq!(d["spec"]["template"]["metadata"]["labels"]["app"], "web");
    assert_eq!(d["spec"]["template"]["spec"]["containers"], json!([{"name": "web"}, {"name": "log"}]));
    let p = doc(&files, "workloads/shop/Pod.debug.json");
    assert_eq!((&p["apiVersion"], &p["metadata"]["labels"]["app"]), (&json!("v1"), &json!("debug")));
    assert_eq!(p["spec"]["containers"], json!([{"name": "sh"}]));
}

/// A rollout whose template changed a label a policy selects by: the Deployment's
/// pods differ, so each ReplicaSet is a workload of its own; pods of one
/// StatefulSet that differ are Pods. A CronJob's pod is written as its Job (the
/// likeliest candidate); an operator's pod as a Pod.
#[test]
fn pods_that_differ_are_taken_one_candidate_further() {
    let v1 = pod(
        "shop",
        "web-aaa-1",
        Some(("ReplicaSet", "web-aaa")),
        json!({"app": "web", "pod-template-hash": "aaa"}),
        &["web"],
    );
    let v2 = pod(
        "shop",
        "web-bbb-1",
        Some(("ReplicaSet", "web-bbb")),
        json!({"app": "web2", "pod-template-hash": "bbb"}),
        &["web"],
    );
    let s1 = pod("shop", "db-0", Some(("StatefulSet", "db")), json!({"app": "db", "v": "1"}), &["db"]);
    let s2 = pod("shop", "db-1", Some(("StatefulSet", "db")), json!({"app": "db", "v": "2"}), &["db"]);
    let mut cron = pod("shop", "backup-28870520-x", None, json!({"app": "backup"}), &["b"]);
    cron["metadata"]["ownerReferences"] = json!([{"kind": "Job", "name": "backup-28870520", "controller": true}]);
    let op = pod("shop", "op-1", Some(("Rollout", "op")), json!({"app": "op"}), &["o"]);
    let (files, _) = src(&[v1, v2, s1, s2, cron, op], &[selecting(&["app", "v"])]);
    assert_eq!(
        paths(&files),
        [
            "workloads/shop/Job.backup-28870520.json",
            "workloads/shop/Pod.db-0.json",
            "workloads/shop/Pod.db-1.json",
            "workloads/shop/Pod.op-1.json",
            "workloads/shop/ReplicaSet.web-aaa.json",
            "workloads/shop/ReplicaSet.web-bbb.json",
        ]
    );
    let j = doc(&files, "workloads/shop/Job.backup-28870520.json");
    assert_eq!(j["spec"]["template"]["metadata"]["labels"]["app"], "backup");
    assert_eq!(
        doc(&files, "workloads/shop/ReplicaSet.web-bbb.json")["spec"]["template"]["metadata"]["labels"]["app"],
        "web2"
    );
}

/// A pod whose earlier candidate is another group's workload would be bound to its
/// plan: that group moves on unless it selects the same.
#[test]
fn no_pod_is_bound_to_a_plan_compiled_for_others() {
    let rs = |name: &str, owner: &str, labels: Value| pod("shop", name, Some(("ReplicaSet", owner)), labels, &["web"]);
    // x and z: ReplicaSet web-aaa's, without the hash label (so not the
    // Deployment's), and they differ: both end as Pods. y and w: Deployment web's,
    // through two ReplicaSets, and they differ: each goes to its ReplicaSet, y to
    // web-aaa, which x would then be bound to first: so y ends as a Pod too.
    let x = rs("x", "web-aaa", json!({"app": "x"}));
    let z = rs("z", "web-aaa", json!({"app": "z"}));
    let y = rs("y", "web-aaa", json!({"app": "y", "pod-template-hash": "aaa"}));
    let w = rs("w", "web-bbb", json!({"app": "w", "pod-template-hash": "bbb"}));
    let (files, _) = src(&[x, y, z, w], &[selecting(&["app"])]);
    assert_eq!(
        paths(&files),
        [
            "workloads/shop/Pod.x.json",
            "workloads/shop/Pod.y.json",
            "workloads/shop/Pod.z.json",
            "workloads/shop/ReplicaSet.web-bbb.json"
        ]
    );
    // Pods of one ReplicaSet that agree stay one workload, whichever candidate.
    let a = rs("a", "web-aaa", json!({"app": "a"}));
    let b = rs("b", "web-aaa", json!({"app": "a", "pod-template-hash": "aaa"}));
    let (files, _) = src(&[a.clone(), b.clone()], &[selecting(&["app", "pod-template-hash"])]);
    // b is Deployment web's (its hash), a is not; b's selection differs (the hash
    // label, which a policy selects by), so Deployment web holds b and ReplicaSet
    // web-aaa holds a, which b would be bound to second only: both plans are right.
    assert_eq!(paths(&files), ["workloads/shop/Deployment.web.json", "workloads/shop/ReplicaSet.web-aaa.json"]);
    // When no policy selects by the hash label they select alike, and the same
    // two plans are right (each pod's first candidate; identical rules).
    let (files, _) = src(&[a, b], &[selecting(&["app"])]);
    assert_eq!(paths(&files), ["workloads/shop/Deployment.web.json", "workloads/shop/ReplicaSet.web-aaa.json"]);
}

/// Policies of the namespaces with a pod on the node only, without the API's
/// bookkeeping; pods and policies that cannot be read are noted.
#[test]
fn policies_of_the_nodes_namespaces() {
    let pods = [pod("shop", "p", None, json!({"app": "web"}), &["c"]), json!({"metadata": {}})];
    let pols = [
        policy("shop", "no-id", block_id("web")),
        policy("elsewhere", "x", block_id("web")),
        json!({"kind": "PreventionPolicy"}),
    ];
    let (files, notes) = src(&pods, &pols);
    let all: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(all, ["policies/shop/PreventionPolicy.no-id.json", "workloads/shop/Pod.p.json"]);
    let p = doc(&files, "policies/shop/PreventionPolicy.no-id.json");
    assert_eq!(
        p["metadata"],
        json!({"name": "no-id", "namespace": "shop", "annotations": {"team": "shop"}}),
        "uid, resourceVersion, managedFields and kubectl's annotation left out"
    );
    assert!(p.get("status").is_none());
    assert_eq!(p["spec"], block_id("web"));
    assert_eq!(notes, ["a pod without a name is left out", "a PreventionPolicy without a name is left out"]);
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("polc-cluster-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The bundles of a build: plan id -> bundle.
fn built(c: &ClusterBuild) -> BTreeMap<String, Bundle> {
    let dir = c.bundles().join("bpf-lsm");
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(&dir) else { return out };
    for e in entries {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "bundle") {
            let b = Bundle::decode(&std::fs::read(&p).unwrap()).unwrap();
            out.insert(b.target.clone(), b);
        }
    }
    out
}

/// The whole node compile: the plan compiled is the one the agent binds the pod's
/// container to; a policy with an error is left out with its file, line and field
/// while the others are compiled; the same input is not compiled again; a policy
/// deleted from the API takes its plan away.
#[test]
fn the_node_compiles_the_plans_its_pods_are_bound_to() {
    let state = tmp("build");
    let mut c = ClusterBuild::new(&state);
    let web = pod(
        "shop",
        "web-5d8f-a",
        Some(("ReplicaSet", "web-5d8f")),
        json!({"app": "web", "pod-template-hash": "5d8f"}),
        &["web"],
    );
    let mut broken = block_id("web");
    broken["process"][0]["action"] = json!("Maybe");
    let pols = [policy("shop", "no-id", block_id("web")), policy("shop", "broken", broken)];
    let (files, _) = src(std::slice::from_ref(&web), &pols);
    let u = c.update(&files).unwrap();
    assert!(u.compiled);
    assert_eq!(u.left_out.len(), 1, "{:?}", u.left_out);
    let (file, errors) = &u.left_out[0];
    assert_eq!(file, "policies/shop/PreventionPolicy.broken.json");
    assert!(
        errors.iter().any(|e| e.contains("PreventionPolicy.broken.json:") && e.contains("spec.process[0].action")),
        "{errors:?}"
    );
    let bundles = built(&c);
    let targets: Vec<&str> = bundles.keys().map(String::as_str).collect();
    assert_eq!(u.plans, targets.len());
    // The agent finds the pod's plan among them, as a sync would.
    let mut with_status = web.clone();
    with_status["status"] = json!({"containerStatuses": [{"name": "web", "containerID": format!("containerd://{}", "a".repeat(64)), "state": {"running": {}}}]});
    let (containers, problems) = polc_agent::pods::read_pod_objects([&with_status], Some("n1"));
    assert!(problems.is_empty(), "{problems:?}");
    let (plan, ()) = polc_agent::pods::plan_of(&containers[0], |id| targets.contains(&id).then_some(())).unwrap();
    assert!(plan.starts_with("shop/Deployment/web/"), "{plan} among {targets:?}");
    // Its rule names the source file on the node.
    let json = std::fs::read_to_string(c.bundles().join("report.json")).unwrap();
    assert!(json.contains("PreventionPolicy.no-id.json"), "the report names the policy's file");
    // The same input again: nothing to do.
    assert!(!c.update(&files).unwrap().compiled);
    // The policy deleted from the API: compiled again, no plan left for the pod.
    let (files, _) = src(std::slice::from_ref(&web), &pols[1..]);
    let u = c.update(&files).unwrap();
    assert!(u.compiled && u.left_out.len() == 1);
    assert!(built(&c).is_empty(), "no policy, no plan: {:?}", built(&c).keys());
    let _ = std::fs::remove_dir_all(&state);
}

/// deploy/agent.yaml runs this agent as this module expects: every object reads
/// as its Kubernetes type; each container's arguments are accepted by polc's own
/// command line; the watch compiles from the cluster with NODE_NAME from the pod's
/// node, its --cgroup-root is the host's cgroup tree, and the state directory is
/// the same host directory for both containers; the ClusterRole lets the service
/// account of the DaemonSet list and watch pods and every kind the watch reads.
#[test]
fn deploy_agent_yaml_runs_this_agent() {
    use crate::cli::{AgentCommand, Cli, Command};
    use clap::Parser as _;
    use k8s_openapi::api::apps::v1::DaemonSet;
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
    let text = include_str!("../../../../../deploy/agent.yaml");
    let mut docs: BTreeMap<String, Value> = BTreeMap::new();
    for d in serde_yaml_ng::Deserializer::from_str(text) {
        let v: Value = serde::Deserialize::deserialize(d).expect("deploy/agent.yaml reads");
        let kind = v["kind"].as_str().unwrap().to_string();
        assert!(docs.insert(kind.clone(), v).is_none(), "one {kind}");
    }
    assert_eq!(
        docs.keys().collect::<Vec<_>>(),
        ["ClusterRole", "ClusterRoleBinding", "DaemonSet", "Namespace", "ServiceAccount"]
    );
    let ds: DaemonSet = serde_json::from_value(docs["DaemonSet"].clone()).unwrap();
    let role: ClusterRole = serde_json::from_value(docs["ClusterRole"].clone()).unwrap();
    let binding: ClusterRoleBinding = serde_json::from_value(docs["ClusterRoleBinding"].clone()).unwrap();
    let ds_ns = ds.metadata.namespace.as_deref().unwrap();
    assert_eq!(docs["Namespace"]["metadata"]["name"], ds_ns);
    let spec = ds.spec.unwrap();
    let labels = spec.template.metadata.as_ref().unwrap().labels.clone().unwrap();
    for (k, v) in spec.selector.match_labels.unwrap() {
        assert_eq!(labels.get(&k), Some(&v), "the selector matches the template's labels");
    }
    let pod = spec.template.spec.unwrap();
    let account = pod.service_account_name.clone().unwrap();
    assert_eq!(docs["ServiceAccount"]["metadata"]["name"], account.as_str());
    assert_eq!(binding.role_ref.name, role.metadata.name.clone().unwrap());
    let subject = &binding.subjects.unwrap()[0];
    assert_eq!(
        (subject.kind.as_str(), subject.name.as_str(), subject.namespace.as_deref()),
        ("ServiceAccount", account.as_str(), Some(ds_ns))
    );
    let host_path = |mount: &k8s_openapi::api::core::v1::VolumeMount| {
        let v = pod.volumes.as_ref().unwrap().iter().find(|v| v.name == mount.name).expect("the mount's volume");
        v.host_path.as_ref().expect("a host path").path.clone()
    };
    let mut commands = Vec::new();
    let mut state_dirs = BTreeSet::new();
    for c in &pod.containers {
        let mut args = c.args.clone().unwrap();
        // NODE_NAME (the pod's node, checked below) is what kubelet sets for --node.
        if c.env.iter().flatten().any(|e| e.name == "NODE_NAME") {
            args.push("--node=the-pods-node".into());
        }
        let cli = Cli::try_parse_from(std::iter::once("polc".to_string()).chain(args.iter().cloned()))
            .unwrap_or_else(|e| panic!("container {}: polc refuses its arguments {args:?}: {e}", c.name));
        let Command::Agent(agent) = cli.command else { panic!("container {}: not `polc agent`", c.name) };
        let mounts = c.volume_mounts.clone().unwrap();
        let mounted = |dir: &Path| mounts.iter().find(|m| dir.starts_with(&m.mount_path)).map(&host_path);
        state_dirs.insert(mounted(&agent.state_dir).expect("the state directory is a host directory"));
        assert_eq!(
            mounted(Path::new(polc_agent::PIN_DIR)).as_deref(),
            Some("/sys/fs/bpf"),
            "{}: the pins on the host's bpffs",
            c.name
        );
        // The kernel check before loading reads the active LSMs there.
        assert_eq!(
            mounted(Path::new("/sys/kernel/security/lsm")).as_deref(),
            Some("/sys/kernel/security"),
            "{}",
            c.name
        );
        let state_mount = mounts.iter().find(|m| agent.state_dir.starts_with(&m.mount_path)).unwrap();
        assert_ne!(state_mount.read_only, Some(true), "{}: the state directory is written by both", c.name);
        match agent.command {
            AgentCommand::Watch(w) => {
                assert!(w.from_cluster && w.bundles.is_none());
                assert_eq!(mounted(w.cgroup_root.as_deref().unwrap()).as_deref(), Some("/sys/fs/cgroup"));
                let env = c.env.clone().unwrap();
                let node = env.iter().find(|e| e.name == "NODE_NAME").expect("NODE_NAME");
                let field = node.value_from.as_ref().and_then(|v| v.field_ref.as_ref()).map(|f| f.field_path.as_str());
                assert_eq!(field, Some("spec.nodeName"));
                commands.push("watch");
            }
            AgentCommand::Events(_) => commands.push("events"),
            other => panic!("container {}: unexpected {other:?}", c.name),
        }
    }
    assert_eq!(commands, ["watch", "events"]);
    assert_eq!(state_dirs.len(), 1, "both containers share the state directory: {state_dirs:?}");
    let rules = role.rules.unwrap();
    let allowed = |group: &str, resource: &str, verb: &str| {
        rules.iter().any(|r| {
            r.api_groups.as_ref().is_some_and(|g| g.iter().any(|g| g == group))
                && r.resources.as_ref().is_some_and(|rs| rs.iter().any(|x| x == resource))
                && r.verbs.iter().any(|v| v == verb)
        })
    };
    for verb in ["list", "watch"] {
        assert!(allowed("", "pods", verb), "{verb} pods");
        for (_, plural) in POLICY_KINDS {
            assert!(allowed("polc.dev", plural, verb), "{verb} {plural}");
        }
    }
    // The plurals are the CRDs' own.
    for (kind, plural) in POLICY_KINDS {
        let crd = std::fs::read_to_string(format!("{}/../../crds/polc.dev_{plural}.yaml", env!("CARGO_MANIFEST_DIR")))
            .unwrap();
        assert!(crd.contains(&format!("kind: {kind}\n")) && crd.contains(&format!("plural: {plural}\n")), "{kind}");
    }
}

/// Labels that differ per pod but that no policy of the namespace selects by (a
/// StatefulSet's pod name, a rollout's hash) do not split a workload; a label a
/// policy names does. Ephemeral containers are written, so they get plans too.
#[test]
fn only_selected_labels_split_and_debug_containers_count() {
    let s = |n: &str, v: &str| {
        pod(
            "shop",
            n,
            Some(("StatefulSet", "db")),
            json!({"app": "db", "statefulset.kubernetes.io/pod-name": n, "v": v}),
            &["db"],
        )
    };
    let (files, _) = src(&[s("db-0", "1"), s("db-1", "1")], &[selecting(&["app"])]);
    assert_eq!(paths(&files), ["workloads/shop/StatefulSet.db.json"]);
    let (files, _) = src(&[s("db-0", "1"), s("db-1", "2")], &[selecting(&["app", "v"])]);
    assert_eq!(paths(&files), ["workloads/shop/Pod.db-0.json", "workloads/shop/Pod.db-1.json"]);
    let mut debug = s("db-1", "1");
    debug["spec"]["ephemeralContainers"] = json!([{"name": "debugger", "image": "busybox"}]);
    let (files, _) = src(&[s("db-0", "1"), debug], &[selecting(&["app"])]);
    assert_eq!(paths(&files), ["workloads/shop/Pod.db-0.json", "workloads/shop/Pod.db-1.json"]);
    assert_eq!(
        doc(&files, "workloads/shop/Pod.db-1.json")["spec"]["ephemeralContainers"],
        json!([{"name": "debugger"}])
    );
}

/// Names the API does not check (an owner reference's) never leave the source
/// directory nor exceed a file name's length; a pod controlled by a Pod is not
/// bound to that pod's plan.
#[test]
fn names_are_plain_file_names() {
    let evil =
        pod("shop", "e", Some(("ReplicaSet", "x/../../../policies/B/PreventionPolicy.guard")), json!({}), &["c"]);
    let long = pod("shop", &"p".repeat(253), None, json!({}), &["c"]);
    let child = pod("shop", "child", Some(("Pod", "parent")), json!({"app": "child"}), &["c"]);
    let parent = pod("shop", "parent", None, json!({"app": "parent"}), &["c"]);
    let (files, _) = src(&[evil, long, child, parent], &[selecting(&["app"])]);
    for p in files.keys() {
        let parts: Vec<&str> = p.split('/').collect();
        assert_eq!(parts.len(), 3, "{p}");
        assert!(parts.iter().all(|c| !c.is_empty() && *c != ".." && c.len() <= 255), "{p}");
    }
    let ws = paths(&files);
    assert!(ws.iter().any(|p| p.starts_with("workloads/shop/ReplicaSet.sha256-")), "{ws:?}");
    assert!(ws.iter().any(|p| p.starts_with("workloads/shop/Pod.sha256-")), "{ws:?}");
    assert!(ws.contains(&"workloads/shop/Pod.child.json") && ws.contains(&"workloads/shop/Pod.parent.json"), "{ws:?}");
    // The workload keeps its real name (the plan id): only the file name is a digest.
    let r = ws.iter().find(|p| p.starts_with("workloads/shop/ReplicaSet.sha256-")).unwrap();
    assert_eq!(doc(&files, r)["metadata"]["name"], "x/../../../policies/B/PreventionPolicy.guard");
}

/// A build removed behind the agent's back is compiled again, though the input
/// did not change; a file left out stays where its findings point.
#[test]
fn a_missing_build_is_compiled_again_and_left_out_files_stay() {
    let state = tmp("rebuild");
    let mut c = ClusterBuild::new(&state);
    let web = pod("shop", "w", None, json!({"app": "web"}), &["web"]);
    let mut broken = block_id("web");
    broken["process"][0]["action"] = json!("Maybe");
    let (files, _) =
        src(std::slice::from_ref(&web), &[policy("shop", "no-id", block_id("web")), policy("shop", "broken", broken)]);
    let u = c.update(&files).unwrap();
    assert!(u.compiled && u.plans == 1, "{u:?}");
    assert!(
        state.join("cluster/source/policies/shop/PreventionPolicy.broken.json").is_file(),
        "the left-out file is kept"
    );
    assert_eq!(built(&c).len(), 1);
    std::fs::remove_dir_all(c.bundles()).unwrap();
    let u = c.update(&files).unwrap();
    assert!(u.compiled, "compiled again: the build was gone");
    assert_eq!(built(&c).len(), 1);
    assert!(!c.update(&files).unwrap().compiled);
    let _ = std::fs::remove_dir_all(&state);
}

/// What the node compiles does not change with the number of pods or which of them
/// runs: a replica more, a deleted first pod, a StatefulSet's per-pod labels. Only
/// a change to what policies select by changes it.
#[test]
fn scaling_and_restarts_leave_the_input_as_it_was() {
    let web = |n: &str| {
        let labels = json!({"app": "web", "pod-template-hash": "5d8f"});
        pod("shop", n, Some(("ReplicaSet", "web-5d8f")), labels, &["web"])
    };
    let db = |i: u32| {
        let labels = json!({"app": "db", "statefulset.kubernetes.io/pod-name": format!("db-{i}"),
                            "apps.kubernetes.io/pod-index": i.to_string()});
        pod("shop", &format!("db-{i}"), Some(("StatefulSet", "db")), labels, &["db"])
    };
    let policies = [policy("shop", "no-id", block_id("web"))];
    let (two, _) = src(&[web("web-5d8f-a"), web("web-5d8f-b"), db(0), db(1)], &policies);
    let (three, _) = src(&[web("web-5d8f-a"), web("web-5d8f-b"), web("web-5d8f-c"), db(0), db(1), db(2)], &policies);
    let (first_gone, _) = src(&[web("web-5d8f-b"), db(1), db(2)], &policies);
    assert_eq!(paths(&two), ["workloads/shop/Deployment.web.json", "workloads/shop/StatefulSet.db.json"]);
    assert!(two.contains_key("policies/shop/PreventionPolicy.no-id.json"));
    assert_eq!(two, three);
    assert_eq!(two, first_gone);
    // The StatefulSet keeps the labels its pods share, not one pod's own.
    let d = doc(&two, "workloads/shop/StatefulSet.db.json");
    assert_eq!(d["spec"]["template"]["metadata"]["labels"], json!({"app": "db"}));
    // A new label value a policy selects by is a change.
    let (relabelled, _) = src(
        &[pod("shop", "web-5d8f-a", Some(("ReplicaSet", "web-5d8f")), json!({"app": "web2"}), &["web"]), db(0), db(1)],
        &policies,
    );
    assert_ne!(two, relabelled);
}
