//! `polc agent watch`: keep a node's pods bound to their plans, from the Kubernetes
//! API. One single-threaded tokio runtime for the watch; each sync is
//! `polc agent apply --prune --pods` with the pods the watch knows. With
//! `--from-cluster` the watch also knows the cluster's polc policies, and each sync
//! first compiles the node's bundles from them and the pods (`cmd::cluster`).

use crate::Status;
use crate::cli::{AgentApplyArgs, AgentArgs, AgentWatchArgs};
use crate::cmd::agent::{Quiet, apply_with, bundle_files};
use crate::cmd::cluster::{ClusterBuild, POLICY_KINDS};
use anyhow::Context as _;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource, ResourceExt as _};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// How long a burst of pod events is gathered before one sync.
const SETTLE: Duration = Duration::from_millis(200);

pub(crate) fn run(common: &AgentArgs, args: &AgentWatchArgs) -> anyhow::Result<Status> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the watch's runtime")?;
    rt.block_on(watch(common, args))
}

/// The objects the watch knows of one kind (pods, or one kind of policy), by
/// namespace/name, as JSON.
type Pods = BTreeMap<String, serde_json::Value>;

fn key<K: Resource>(p: &K) -> String {
    format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any())
}

fn put<K: Resource + serde::Serialize>(pods: &mut Pods, p: &K) {
    match serde_json::to_value(p) {
        Ok(v) => {
            pods.insert(key(p), v);
        }
        Err(e) => eprintln!("polc: watch: {} cannot be read: {e}", key(p)),
    }
}

/// What the watch knows of the node's pods (or of one kind of policy).
#[derive(Default)]
struct Known {
    pods: Pods,
    /// The list being received after a (re)start of the watch, until InitDone.
    listing: Option<Pods>,
    /// A first list was received.
    listed: bool,
}

/// What to do after an event.
#[derive(Debug, PartialEq, Eq)]
enum Then {
    Nothing,
    /// Sync now (a list is complete).
    SyncNow,
    /// Sync once the burst settles (a pod changed).
    SyncSoon,
}

impl Known {
    /// Apply one watcher event (kube-runtime's `watcher::Event`): a list replaces
    /// the pods when it is complete (pods missing from it were deleted meanwhile);
    /// Apply and Delete change one pod.
    fn on<K: Resource + serde::Serialize>(&mut self, ev: Event<K>) -> Then {
        match ev {
            Event::Init => {
                self.listing = Some(Pods::new());
                Then::Nothing
            }
            Event::InitApply(p) => {
                if let Some(l) = self.listing.as_mut() {
                    put(l, &p);
                }
                Then::Nothing
            }
            Event::InitDone => {
                if let Some(l) = self.listing.take() {
                    self.pods = l;
                }
                self.listed = true;
                Then::SyncNow
            }
            Event::Apply(p) => {
                put(&mut self.pods, &p);
                Then::SyncSoon
            }
            Event::Delete(p) => {
                self.pods.remove(&key(&p));
                Then::SyncSoon
            }
        }
    }
}

/// One event of the watch's streams: a pod, or a policy of `POLICY_KINDS[i]`.
enum Ev {
    Pod(Box<Event<Pod>>),
    Policy(usize, Box<Event<DynamicObject>>),
}

async fn watch(common: &AgentArgs, args: &AgentWatchArgs) -> anyhow::Result<Status> {
    let client = Client::try_default().await.context(
        "cannot reach the Kubernetes API (in a pod: its service account; elsewhere: $KUBECONFIG or ~/.kube/config)",
    )?;
    let api: Api<Pod> = Api::all(client.clone());
    let selector = format!("spec.nodeName={}", args.node);
    // One list first: a kubeconfig or RBAC that does not allow it is an error now,
    // not a watch that retries for ever while nothing is enforced.
    api.list(&kube::api::ListParams::default().fields(&selector).limit(1)).await.with_context(|| {
        format!("cannot list the pods of node {} (the agent needs `list` and `watch` on pods)", args.node)
    })?;
    let cfg = watcher::Config::default().fields(&selector);
    let mut streams: Vec<BoxStream<'static, Result<Ev, watcher::Error>>> =
        vec![watcher::watcher(api, cfg).default_backoff().map_ok(|e| Ev::Pod(Box::new(e))).boxed()];
    let mut cluster = None;
    if args.from_cluster {
        for (i, (kind, plural)) in POLICY_KINDS.iter().enumerate() {
            let gvk = GroupVersionKind::gvk("polc.dev", "v1alpha1", kind);
            let ar = ApiResource::from_gvk_with_plural(&gvk, plural);
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
            api.list(&kube::api::ListParams::default().limit(1)).await.with_context(|| {
                format!(
                    "cannot list the {plural}.polc.dev of the cluster (are the CRDs of crds/ applied, and may the agent `list` and `watch` them?)"
                )
            })?;
            let w = watcher::watcher(api, watcher::Config::default()).default_backoff();
            streams.push(w.map_ok(move |e| Ev::Policy(i, Box::new(e))).boxed());
        }
        cluster = Some(ClusterBuild::new(&common.state_dir));
    }
    let mut events = futures_util::stream::select_all(streams);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut resync = tokio::time::interval(Duration::from_secs(args.resync));
    resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut apply_args = AgentApplyArgs {
        bundles: args.bundles.iter().cloned().collect(),
        bind: Vec::new(),
        prune: true,
        pods: None,
        node: Some(args.node.clone()),
        used_only: true,
        cgroup_root: args.cgroup_root.clone(),
    };
    let mut known = Known::default();
    let mut policies: Vec<Known> = POLICY_KINDS.iter().map(|_| Known::default()).collect();
    let mut sync_at: Option<Instant> = None;
    let mut quiet = Quiet::default();
    if args.from_cluster {
        eprintln!(
            "polc: watching the pods of node {} and the cluster's polc policies (Ctrl-C or SIGTERM stops)",
            args.node
        );
    } else {
        eprintln!("polc: watching the pods of node {} (Ctrl-C or SIGTERM stops)", args.node);
    }
    loop {
        // Nothing is synced before every list is complete (with --from-cluster, a
        // sync before the policies are listed would unload their plans).
        let listed = known.listed && (cluster.is_none() || policies.iter().all(|p| p.listed));
        tokio::select! {
            ev = events.next() => match ev {
                None => anyhow::bail!("the watch of the API ended"),
                Some(Err(e)) => eprintln!("polc: watch: {e} (retrying)"),
                Some(Ok(ev)) => {
                    // The first complete list of each kind is announced.
                    let (then, listed_first) = match ev {
                        Ev::Pod(ev) => {
                            let first = !known.listed;
                            let then = known.on(*ev);
                            (then, first.then(|| format!("{} pods on node {}", known.pods.len(), args.node)))
                        }
                        Ev::Policy(i, ev) => {
                            let first = !policies[i].listed;
                            let then = policies[i].on(*ev);
                            let what = || format!("{} {} objects in the cluster", policies[i].pods.len(), POLICY_KINDS[i].0);
                            (then, first.then(what))
                        }
                    };
                    match then {
                        Then::Nothing => {}
                        Then::SyncNow => {
                            if let Some(what) = listed_first {
                                eprintln!("polc: {what}");
                            }
                            sync_at = Some(Instant::now());
                        }
                        Then::SyncSoon => {
                            sync_at.get_or_insert_with(|| Instant::now() + SETTLE);
                        }
                    }
                }
            },
            () = sleep_until(sync_at), if sync_at.is_some() && listed => {
                sync_at = None;
                if let Some(c) = cluster.as_mut() {
                    compile_node(c, &known.pods, &policies, &args.node, &mut quiet);
                    // No bundle (no policy selects a pod of the node): every plan is unloaded.
                    let built = bundle_files(&c.bundles()).is_ok_and(|f| !f.is_empty());
                    apply_args.bundles = if built { vec![c.bundles()] } else { Vec::new() };
                }
                sync(common, &apply_args, &known.pods, &mut quiet);
            }
            _ = resync.tick() => {
                if listed {
                    sync_at.get_or_insert_with(Instant::now);
                }
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        }
    }
    eprintln!("polc: watch stopped; the bindings stay in force");
    Ok(Status::Ok)
}

/// `--from-cluster`: compile the node's bundles when the pods or policies changed
/// what they compile from. A failure is printed once while it repeats; the last
/// build stays in place.
fn compile_node(c: &mut ClusterBuild, pods: &Pods, policies: &[Known], node: &str, quiet: &mut Quiet) {
    let by_kind = policies.iter().zip(POLICY_KINDS).flat_map(|(k, (kind, _))| k.pods.values().map(move |v| (kind, v)));
    let (files, notes) = crate::cmd::cluster::source(pods.values(), by_kind);
    changed(&mut quiet.source_notes, notes.iter().map(|n| format!("polc: watch: {n}\n")).collect());
    let failure = match c.update(&files) {
        Ok(u) if u.compiled => {
            let mut left_out = String::new();
            for (file, errors) in &u.left_out {
                left_out.push_str(&format!("polc: watch: {file} is left out of the node's compile:\n"));
                for e in errors {
                    left_out.push_str(&format!("  {e}\n"));
                }
            }
            changed(&mut quiet.left_out, left_out);
            let left = u.left_out.iter().filter(|(f, _)| f.starts_with("policies/")).count();
            let n = files.keys().filter(|f| f.starts_with("policies/")).count().saturating_sub(left);
            eprintln!(
                "polc: compiled {} plan{} for the pods of node {node} ({n} polic{} of their namespaces)",
                u.plans,
                if u.plans == 1 { "" } else { "s" },
                if n == 1 { "y" } else { "ies" }
            );
            None
        }
        Ok(_) => None,
        Err(e) => Some(format!("polc: watch: the node's compile failed: {e:#} (the last build stays in force)")),
    };
    once(&mut quiet.compile_failure, failure, "polc: watch: the node's compile works again");
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

/// One `apply --prune --pods` with the pods known. A failure is printed and the
/// watch goes on (the next change or resync tries again).
fn sync(common: &AgentArgs, args: &AgentApplyArgs, pods: &Pods, quiet: &mut Quiet) {
    let (containers, problems) = polc_agent::pods::read_pod_objects(pods.values(), args.node.as_deref());
    changed(
        &mut quiet.pod_problems,
        problems.iter().map(|p| format!("polc: watch: {p}; the pod is left out\n")).collect(),
    );
    let failure = apply_with(common, args, Some(containers), Some(quiet))
        .err()
        .map(|e| format!("polc: watch: the sync failed: {e:#} (tried again at every change and resync)"));
    once(&mut quiet.failure, failure, "polc: watch: the sync works again");
}

/// Print `text` when it differs from what was printed `last`.
fn changed(last: &mut String, text: String) {
    if text != *last {
        eprint!("{text}");
        *last = text;
    }
}

/// Print a failure once while it repeats (`last` holds it), and once that it ended.
fn once(last: &mut String, failure: Option<String>, recovered: &str) {
    match failure {
        None if !last.is_empty() => {
            eprintln!("{recovered}");
            last.clear();
        }
        None => {}
        Some(f) if f != *last => {
            eprintln!("{f}");
            *last = f;
        }
        Some(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pod(ns: &str, name: &str) -> Pod {
        Pod {
            metadata: ObjectMeta { namespace: Some(ns.into()), name: Some(name.into()), ..ObjectMeta::default() },
            ..Pod::default()
        }
    }

    fn names(k: &Known) -> Vec<&str> {
        k.pods.keys().map(String::as_str).collect()
    }

    /// A list replaces the pods once complete (a pod missing from a relist was
    /// deleted while the watch was away); changes sync after the burst settles.
    #[test]
    fn events() {
        let mut k = Known::default();
        assert_eq!(k.on(Event::<Pod>::Init), Then::Nothing);
        assert_eq!(k.on(Event::InitApply(pod("a", "p1"))), Then::Nothing);
        assert_eq!(k.on(Event::InitApply(pod("a", "p2"))), Then::Nothing);
        assert!(!k.listed && k.pods.is_empty(), "nothing is known before the list is complete");
        assert_eq!(k.on(Event::<Pod>::InitDone), Then::SyncNow);
        assert_eq!(names(&k), ["a/p1", "a/p2"]);
        assert_eq!(k.on(Event::Apply(pod("b", "p1"))), Then::SyncSoon);
        assert_eq!(k.on(Event::Delete(pod("a", "p1"))), Then::SyncSoon);
        assert_eq!(names(&k), ["a/p2", "b/p1"]);
        // A relist: until it is done the old pods stand; then only the listed ones.
        assert_eq!(k.on(Event::<Pod>::Init), Then::Nothing);
        assert_eq!(k.on(Event::InitApply(pod("c", "p9"))), Then::Nothing);
        assert_eq!(names(&k), ["a/p2", "b/p1"]);
        assert_eq!(k.on(Event::<Pod>::InitDone), Then::SyncNow);
        assert_eq!(names(&k), ["c/p9"]);
        assert!(k.pods["c/p9"]["metadata"]["name"] == "p9", "kept as the API's JSON");
    }
}
