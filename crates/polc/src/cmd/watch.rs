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

async fn watch(common: &AgentArgs, args: &AgentWatchArgs) -> anyhow::Result<Status> {
    let client = Client::try_default().await.context(
        "cannot reach the Kubernetes API (in a pod: its service account; elsewhere: $KUBECONFIG or ~/.kube/config)",
    )?;
    let api: Api<Pod> = Api::all(client);
    let cfg = watcher::Config::default().fields(&format!("spec.nodeName={}", args.node));
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
        cgroup_root: args.cgroup_root.clone(),
    };
    let mut pods = Pods::new();
    // The list being received after a (re)start of the watch, until InitDone.
    let mut listing: Option<Pods> = None;
    let mut listed = false;
    let mut sync_at: Option<Instant> = None;
    let mut quiet = Quiet::default();
    eprintln!("polc: watching the pods of node {} (Ctrl-C or SIGTERM stops)", args.node);
    loop {
        tokio::select! {
            ev = events.next() => match ev {
                None => anyhow::bail!("the watch of the API ended"),
                Some(Err(e)) => eprintln!("polc: watch: {e} (retrying)"),
                Some(Ok(Event::Init)) => listing = Some(Pods::new()),
                Some(Ok(Event::InitApply(p))) => {
                    if let Some(l) = listing.as_mut() {
                        put(l, &p);
                    }
                }
                Some(Ok(Event::InitDone)) => {
                    // Pods not listed again were deleted while the watch was away.
                    if let Some(l) = listing.take() {
                        pods = l;
                    }
                    if !listed {
                        eprintln!("polc: {} pods on node {}", pods.len(), args.node);
                    }
                    listed = true;
                    sync_at.get_or_insert_with(Instant::now);
                }
                Some(Ok(Event::Apply(p))) => {
                    put(&mut pods, &p);
                    sync_at.get_or_insert_with(|| Instant::now() + SETTLE);
                }
                Some(Ok(Event::Delete(p))) => {
                    pods.remove(&key(&p));
                    sync_at.get_or_insert_with(|| Instant::now() + SETTLE);
                }
            },
            () = sleep_until(sync_at), if sync_at.is_some() && listed => {
                sync_at = None;
                sync(common, &apply_args, &pods, &mut quiet);
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

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

/// One `apply --prune --pods` with the pods known. A failure is printed and the
/// watch goes on (the next change or resync tries again).
fn sync(common: &AgentArgs, args: &AgentApplyArgs, pods: &Pods, quiet: &mut Quiet) {
    let values: Vec<serde_json::Value> = pods.values().cloned().collect();
    let (containers, problems) = polc_agent::pods::read_pod_objects(&values, args.node.as_deref());
    for p in &problems {
        eprintln!("polc: watch: {p}; the pod is left out");
    }
    match apply_with(common, args, Some(containers), Some(quiet)) {
        Ok(_) => quiet.failure.clear(),
        Err(e) => {
            let e = format!("{e:#}");
            if e != quiet.failure {
                eprintln!("polc: watch: the sync failed: {e} (tried again at every change and resync)");
                quiet.failure = e;
            }
        }
    }
}
