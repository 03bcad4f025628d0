//! `PreventionPolicy`: explicit Allow / Audit / Block rules over process exec, file
//! access, network and capabilities.

use crate::{Action, DirMatch, LabelSelector, Mode, PolicyStatus, PortMatch, RuleMeta, Severity};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Explicit rules that must hold for the selected pods.
///
/// What no rule matches gets `defaultAction`, per section that has rules: a policy
/// with only `process` rules and `defaultAction: Block` is an exec allow-list and
/// leaves file and network access alone.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "polc.dev",
    version = "v1alpha1",
    kind = "PreventionPolicy",
    namespaced,
    status = "PolicyStatus",
    shortname = "pp",
    category = "polc",
    doc = "PreventionPolicy: explicit Allow/Audit/Block rules over process exec, file access, network and capabilities for the selected pods",
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.mode"}"#,
    printcolumn = r#"{"name":"Default","type":"string","jsonPath":".spec.defaultAction"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct PreventionPolicySpec {
    /// Pods the policy applies to, in the policy's namespace. An empty selector
    /// (`{}`) selects every pod in the namespace.
    pub selector: LabelSelector,
    /// Container names the policy applies to; empty means every container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<String>,
    /// `Enforce` (default) or `DryRun`, which turns every Block into Audit.
    #[serde(default)]
    pub mode: Mode,
    /// Action for what no rule matches, in each section that has rules; default Allow.
    /// `Block` makes the section an allow-list.
    #[serde(default = "default_allow")]
    pub default_action: Action,
    /// Severity of violations; default medium.
    #[serde(default)]
    pub severity: Severity,
    /// Message of violations, shown in events and reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Tags carried into events and reports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Rules over process execution.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub process: Vec<ProcessRule>,
    /// Rules over file access.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file: Vec<FileRule>,
    /// Rules over network connections and raw sockets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network: Vec<NetworkRule>,
    /// Rules over Linux capabilities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<CapabilityRule>,
}

fn default_allow() -> Action {
    Action::Allow
}

/// A rule over process execution. It matches an exec when the resolved executable
/// matches any of `paths`, `dirs` or `comms`, and (when given) the parent's
/// executable matches one of `fromParents`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProcessRule {
    /// Name, severity, message and tags of the rule.
    #[serde(flatten)]
    pub meta: RuleMeta,
    /// What happens on a match.
    pub action: Action,
    /// Absolute executable paths or globs (`*` within a path segment, `**` across
    /// segments, `?` one character), matched against the resolved executable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// Directories whose executables match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dirs: Vec<DirMatch>,
    /// Process names (`comm`, at most 15 bytes as the kernel keeps them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comms: Vec<String>,
    /// Only match when the parent process's executable matches one of these paths or globs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_parents: Vec<String>,
}

/// Kind of file access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub enum FileAccess {
    /// Opening for reading.
    Read,
    /// Opening for writing, truncating, creating.
    Write,
}

/// A rule over file access.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileRule {
    /// Name, severity, message and tags of the rule.
    #[serde(flatten)]
    pub meta: RuleMeta,
    /// What happens on a match.
    pub action: Action,
    /// Absolute file paths or globs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// Directories whose files match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dirs: Vec<DirMatch>,
    /// Access kinds the rule covers; default both Read and Write.
    #[serde(default = "all_access")]
    pub access: Vec<FileAccess>,
}

fn all_access() -> Vec<FileAccess> {
    vec![FileAccess::Read, FileAccess::Write]
}

/// Direction of a network rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Direction {
    /// Outgoing connections (the default).
    #[default]
    Egress,
    /// Incoming connections.
    Ingress,
}

/// A rule over network connections. It matches a connection whose peer address is
/// in one of `cidrs` (any address when empty) and whose port matches one of `ports`
/// (any port when empty); with `rawSockets: true` it matches raw socket creation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkRule {
    /// Name, severity, message and tags of the rule.
    #[serde(flatten)]
    pub meta: RuleMeta,
    /// What happens on a match.
    pub action: Action,
    /// Egress (default) or Ingress.
    #[serde(default)]
    pub direction: Direction,
    /// Peer address ranges in CIDR notation (IPv4 or IPv6).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cidrs: Vec<String>,
    /// Peer ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortMatch>,
    /// Match the creation of raw (packet) sockets instead of connections.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub raw_sockets: bool,
}

/// A rule over Linux capabilities.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityRule {
    /// Name, severity, message and tags of the rule.
    #[serde(flatten)]
    pub meta: RuleMeta,
    /// What happens when a process uses one of the capabilities.
    pub action: Action,
    /// Capability names without the `CAP_` prefix, e.g. `SYS_ADMIN`, `NET_RAW`.
    #[schemars(length(min = 1))]
    pub capabilities: Vec<String>,
}
