//! `RuntimePolicy`: the behavioural baseline of a workload; what leaves it is an anomaly.

use crate::{AnomalyAction, FileAccess, LabelSelector, Mode, PolicyStatus, PortMatch, Severity};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a workload normally does. Typically generated from observation and reviewed
/// in a pull request; everything outside the baseline is handled by `onAnomaly`.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "polc.dev",
    version = "v1alpha1",
    kind = "RuntimePolicy",
    namespaced,
    status = "PolicyStatus",
    shortname = "rp",
    category = "polc",
    doc = "RuntimePolicy: the behavioural baseline of the selected pods; what leaves it is an anomaly handled by onAnomaly",
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.mode"}"#,
    printcolumn = r#"{"name":"OnAnomaly","type":"string","jsonPath":".spec.onAnomaly"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct RuntimePolicySpec {
    /// Pods the policy applies to, in the policy's namespace.
    pub selector: LabelSelector,
    /// Container names the policy applies to; empty means every container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<String>,
    /// `Enforce` (default) or `DryRun`, which turns Block into Audit.
    #[serde(default)]
    pub mode: Mode,
    /// What happens to behaviour outside the baseline; default Audit.
    #[serde(default)]
    pub on_anomaly: AnomalyAction,
    /// Severity of anomalies; default medium.
    #[serde(default)]
    pub severity: Severity,
    /// Message of anomaly events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Tags carried into events and reports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The baseline.
    pub baseline: Baseline,
}

/// The behaviour a workload is expected to show. A section left out is not
/// restricted; a section given (even empty) is an allow-list.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Baseline {
    /// Executables (absolute paths or globs) the workload runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executables: Option<Vec<String>>,
    /// Files (absolute paths or globs) the workload reads or writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<FileBaseline>>,
    /// Network peers the workload connects to (egress).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<Vec<EndpointBaseline>>,
    /// System calls the workload makes (names as in the kernel's syscall table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syscalls: Option<Vec<String>>,
    /// Capabilities the workload uses, without the `CAP_` prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<String>>,
}

/// A file or file glob in a baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileBaseline {
    /// Absolute path or glob.
    pub path: String,
    /// Access kinds observed; default Read only.
    #[serde(default = "read_only")]
    pub access: Vec<FileAccess>,
}

fn read_only() -> Vec<FileAccess> {
    vec![FileAccess::Read]
}

/// A network peer in a baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointBaseline {
    /// Peer address range in CIDR notation.
    pub cidr: String,
    /// Ports; any port when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortMatch>,
}
