//! `polc agent watch`: keep a node's pods bound to their plans, from the Kubernetes
//! API. One single-threaded tokio runtime for the watch; each sync is
//! `polc agent apply --prune --pods` with the pods the watch knows.

use crate::Status;
use crate::cli::{AgentApplyArgs, AgentArgs, AgentWatchArgs};
use crate::cmd::agent::{Quiet, apply_with};
use anyhow::Context as _;
use futures_util::StreamExt as _;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
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

/// The pods the watch knows, by namespace/name, as JSON.
type Pods = BTreeMap<String, serde_json::Value>;

fn key(p: &Pod) -> String {
    format!("{}/{}", p.metadata.namespace.as_deref().unwrap_or(""), p.metadata.name.as_deref().unwrap_or(""))
}

fn put(pods: &mut Pods, p: &Pod) {
    match serde_json::to_value(p) {
        Ok(v) => {
            pods.insert(key(p), v);
        }
        Err(e) => eprintln!("polc: watch: pod {} cannot be read: {e}", key(p)),
    }
}

/// What the watch knows of the node's pods.
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
    fn on(&mut self, ev: Event<Pod>) -> Then {
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

async fn watch(common: &AgentArgs, args: &AgentWatchArgs) -> anyhow::Result<Status> {
    let client = Client::try_default().await.context(
        "cannot reach the Kubernetes API (in a pod: its service account; elsewhere: $KUBECONFIG or ~/.kube/config)",
    )?;
    let api: Api<Pod> = Api::all(client);
    let selector = format!("spec.nodeName={}", args.node);
    // One list first: a kubeconfig or RBAC that does not allow it is an error now,
    // not a watch that retries for ever while nothing is enforced.
    api.list(&kube::api::ListParams::default().fields(&selector).limit(1)).await.with_context(|| {
        format!("cannot list the pods of node {} (the agent needs `list` and `watch` on pods)", args.node)
    })?;
    let cfg = watcher::Config::default().fields(&selector);
    let mut events = watcher::watcher(api, cfg).default_backoff().boxed();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut resync = tokio::time::interval(Duration::from_secs(args.resync));
    resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let apply_args = AgentApplyArgs {
        bundles: vec![args.bundles.clone()],
        bind: Vec::new(),
        prune: true,
        pods: None,
        node: Some(args.node.clone()),
        used_only: true,
        cgroup_root: args.cgroup_root.clone(),
    };
    let mut known = Known::default();
    let mut sync_at: Option<Instant> = None;
    let mut quiet = Quiet::default();
    eprintln!("polc: watching the pods of node {} (Ctrl-C or SIGTERM stops)", args.node);
    loop {
        tokio::select! {
            ev = events.next() => match ev {
                None => anyhow::bail!("the watch of the API ended"),
                Some(Err(e)) => eprintln!("polc: watch: {e} (retrying)"),
                Some(Ok(ev)) => {
                    let first = !known.listed;
                    match known.on(ev) {
                        Then::Nothing => {}
                        Then::SyncNow => {
                            if first {
                                eprintln!("polc: {} pods on node {}", known.pods.len(), args.node);
                            }
                            sync_at = Some(Instant::now());
                        }
                        Then::SyncSoon => {
                            sync_at.get_or_insert_with(|| Instant::now() + SETTLE);
                        }
                    }
                }
            },
            () = sleep_until(sync_at), if sync_at.is_some() && known.listed => {
                sync_at = None;
                sync(common, &apply_args, &known.pods, &mut quiet);
            }
            _ = resync.tick() => {
                if known.listed {
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

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

/// One `apply --prune --pods` with the pods known. A failure is printed and the
/// watch goes on (the next change or resync tries again).
fn sync(common: &AgentArgs, args: &AgentApplyArgs, pods: &Pods, quiet: &mut Quiet) {
    let (containers, problems) = polc_agent::pods::read_pod_objects(pods.values(), args.node.as_deref());
    let problems: String = problems.iter().map(|p| format!("polc: watch: {p}; the pod is left out\n")).collect();
    if problems != quiet.pod_problems {
        eprint!("{problems}");
        quiet.pod_problems = problems;
    }
    match apply_with(common, args, Some(containers), Some(quiet)) {
        Ok(_) => {
            if !quiet.failure.is_empty() {
                eprintln!("polc: watch: the sync works again");
                quiet.failure.clear();
            }
        }
        Err(e) => {
            let e = format!("{e:#}");
            if e != quiet.failure {
                eprintln!("polc: watch: the sync failed: {e} (tried again at every change and resync)");
                quiet.failure = e;
            }
        }
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
        assert_eq!(k.on(Event::Init), Then::Nothing);
        assert_eq!(k.on(Event::InitApply(pod("a", "p1"))), Then::Nothing);
        assert_eq!(k.on(Event::InitApply(pod("a", "p2"))), Then::Nothing);
        assert!(!k.listed && k.pods.is_empty(), "nothing is known before the list is complete");
        assert_eq!(k.on(Event::InitDone), Then::SyncNow);
        assert_eq!(names(&k), ["a/p1", "a/p2"]);
        assert_eq!(k.on(Event::Apply(pod("b", "p1"))), Then::SyncSoon);
        assert_eq!(k.on(Event::Delete(pod("a", "p1"))), Then::SyncSoon);
        assert_eq!(names(&k), ["a/p2", "b/p1"]);
        // A relist: until it is done the old pods stand; then only the listed ones.
        assert_eq!(k.on(Event::Init), Then::Nothing);
        assert_eq!(k.on(Event::InitApply(pod("c", "p9"))), Then::Nothing);
        assert_eq!(names(&k), ["a/p2", "b/p1"]);
        assert_eq!(k.on(Event::InitDone), Then::SyncNow);
        assert_eq!(names(&k), ["c/p9"]);
        assert!(k.pods["c/p9"]["metadata"]["name"] == "p9", "kept as the API's JSON");
    }
}
