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
    files.keys().map(String::as_str).collect()
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
    let (files, notes) = source(&pods, &[]);
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(paths(&files), ["workloads/shop/Deployment.web.json", "workloads/shop/Pod.debug.json"]);
    let d = doc(&files, "workloads/shop/Deployment.web.json");
    assert_eq!(d["apiVersion"], "apps/v1");
    assert_eq!(d["metadata"]["annotations"]["polc.dev/pods"], "web-5d8f-a, web-5d8f-b");
    assert_eq!(d["spec"]["template"]["metadata"]["labels"]["app"], "web");
    assert_eq!(d["spec"]["template"]["spec"]["containers"], json!([{"name": "web"}, {"name": "log"}]));
    let p = doc(&files, "workloads/shop/Pod.debug.json");
    assert_eq!((&p["apiVersion"], &p["metadata"]["labels"]["app"]), (&json!("v1"), &json!("debug")));
    assert_eq!(p["spec"]["containers"], json!([{"name": "sh"}]));
}

/// A rollout whose template changed the labels: the Deployment's pods differ, so
/// each ReplicaSet is a workload of its own; pods of one ReplicaSet that differ are
/// Pods. A CronJob's pods are written as a CronJob.
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
    let (files, _) = source(&[v1, v2, s1, s2, cron, op], &[]);
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
    let (files, _) = source(&[x, y, z, w], &[]);
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
    let (files, _) = source(&[a, b], &[]);
    // b is Deployment web's (its hash), a is not; b's selection differs (the hash
    // label), so Deployment web holds b and ReplicaSet web-aaa holds a, which b
    // would be bound to second only: both plans are right.
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
    let (files, notes) = source(&pods, &pols);
    assert_eq!(paths(&files), ["policies/shop/PreventionPolicy.no-id.json", "workloads/shop/Pod.p.json"]);
    let p = doc(&files, "policies/shop/PreventionPolicy.no-id.json");
    assert_eq!(
        p["metadata"],
        json!({"name": "no-id", "namespace": "shop", "annotations": {"team": "shop"}}),
        "uid, resourceVersion, managedFields and kubectl's annotation left out"
    );
    assert!(p.get("status").is_none());
    assert_eq!(p["spec"], block_id("web"));
    assert_eq!(notes, ["a pod without a name is left out", "a policy without a kind or name is left out"]);
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
    let (files, _) = source(std::slice::from_ref(&web), &pols);
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
    let (files, _) = source(std::slice::from_ref(&web), &pols[1..]);
    let u = c.update(&files).unwrap();
    assert!(u.compiled && u.left_out.len() == 1);
    assert!(built(&c).is_empty(), "no policy, no plan: {:?}", built(&c).keys());
    let _ = std::fs::remove_dir_all(&state);
}
