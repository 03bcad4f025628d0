//! `NetworkAccessPolicy`: L3/L4/L7 network intent between workloads, namespaces,
//! CIDRs, FQDNs and HTTP methods and paths.

use crate::{Action, LabelSelector, Mode, PolicyStatus, PortMatch, RuleMeta, Severity};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Network intent for the selected pods. Once a direction has rules, what no rule
/// matches in that direction gets `defaultAction` (default Block: the usual
/// network-policy allow-list semantics).
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "polc.dev",
    version = "v1alpha1",
    kind = "NetworkAccessPolicy",
    namespaced,
    status = "PolicyStatus",
    shortname = "nap",
    category = "polc",
    doc = "NetworkAccessPolicy: L3/L4/L7 network intent for the selected pods",
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.mode"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct NetworkAccessPolicySpec {
    /// Pods the policy applies to, in the policy's namespace.
    pub selector: LabelSelector,
    /// `Enforce` (default) or `DryRun`.
    #[serde(default)]
    pub mode: Mode,
    /// Action for traffic no rule matches, in each direction that has rules; default Block.
    #[serde(default = "default_block")]
    pub default_action: Action,
    /// Severity of violations; default medium.
    #[serde(default)]
    pub severity: Severity,
    /// Message of violations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Tags carried into events and reports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Rules over outgoing traffic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<TrafficRule>,
    /// Rules over incoming traffic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<TrafficRule>,
}

fn default_block() -> Action {
    Action::Block
}

/// A rule over traffic to (egress) or from (ingress) a set of peers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficRule {
    /// Name, severity, message and tags of the rule.
    #[serde(flatten)]
    pub meta: RuleMeta,
    /// What happens on a match.
    pub action: Action,
    /// Peers; any peer when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<Peer>,
    /// Ports; any port when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortMatch>,
    /// L7 HTTP rules; requires `ports` and action Allow.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<HttpMatch>,
}

/// One peer: pods (optionally in other namespaces), a CIDR, an FQDN or an entity.
/// Exactly one of `pods`/`namespaces`, `cidr`, `fqdn` and `entity` is set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Peer {
    /// Pods by label, in the policy's namespace unless `namespaces` is also given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<LabelSelector>,
    /// Namespaces by label; with `pods`, the pods in those namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<LabelSelector>,
    /// Address range in CIDR notation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    /// Ranges inside `cidr` that are not part of the peer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
    /// DNS name (`api.example.com`) or pattern (`*.example.com`); egress only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fqdn: Option<String>,
    /// A Cilium entity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<Entity>,
}

/// Well-known peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Entity {
    /// Everything outside the cluster.
    World,
    /// Everything inside the cluster.
    Cluster,
    /// The local node.
    Host,
    /// Other nodes of the cluster.
    RemoteNode,
    /// The Kubernetes API server.
    KubeApiserver,
    /// Every peer.
    All,
}

/// An L7 HTTP match.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpMatch {
    /// HTTP method (`GET`, `POST`, ...); any when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Path as an extended POSIX regular expression matched against the whole path
    /// (`/api/v1/.*`); any when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Host header as a regular expression; any when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Required headers, `Name: value` or just `Name`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
}
