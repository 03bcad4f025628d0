//! Types shared by every polc kind: actions, modes, severities, ports, status.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What happens when a rule matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Action {
    /// Let the operation happen and record nothing.
    Allow,
    /// Let the operation happen and emit a violation event.
    Audit,
    /// Deny the operation (EPERM) and emit a violation event.
    Block,
}

impl Action {
    /// The action's name as written in policies.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "Allow",
            Action::Audit => "Audit",
            Action::Block => "Block",
        }
    }
}

/// What happens to behaviour outside a RuntimePolicy's baseline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum AnomalyAction {
    /// Let the anomaly happen and emit a violation event (the default).
    #[default]
    Audit,
    /// Deny the anomaly and emit a violation event.
    Block,
}

impl From<AnomalyAction> for Action {
    fn from(a: AnomalyAction) -> Action {
        match a {
            AnomalyAction::Audit => Action::Audit,
            AnomalyAction::Block => Action::Block,
        }
    }
}

/// Enforcement mode of a whole policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Mode {
    /// Actions apply as written (the default).
    #[default]
    Enforce,
    /// Every Block is turned into Audit: nothing is denied, everything is reported.
    DryRun,
}

/// Severity carried into violation events and PolicyReports (the PolicyReport vocabulary).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational.
    Info,
    /// Low.
    Low,
    /// Medium (the default).
    #[default]
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

/// Transport protocol of a port match.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Protocol {
    /// TCP (the default).
    #[default]
    TCP,
    /// UDP.
    UDP,
    /// SCTP.
    SCTP,
    /// Any transport protocol.
    ANY,
}

/// A destination port or port range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortMatch {
    /// Port number (1-65535).
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// Last port of a range starting at `port` (inclusive); omitted for a single port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub end_port: Option<u16>,
    /// Transport protocol; default TCP.
    #[serde(default)]
    pub protocol: Protocol,
}

/// A directory match: every file directly in `path`, or below it when `recursive`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DirMatch {
    /// Absolute directory path, e.g. `/usr/local/bin/`.
    pub path: String,
    /// Also match files in every subdirectory; default false.
    #[serde(default)]
    pub recursive: bool,
}

/// Reporting details a rule may override from its policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuleMeta {
    /// Stable rule name, unique within the policy; it becomes part of the rule id in
    /// events and reports. Defaults to `<section>-<index>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Severity of violations of this rule; defaults to the policy's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// Message of violations of this rule; defaults to the policy's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Tags added to the policy's tags (e.g. MITRE technique ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// Observed state of a polc policy, written by the controller.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions; `Ready` is true when the policy is compiled and enforced on every
    /// node that runs a selected workload.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Number of workloads the policy selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_workloads: Option<i32>,
}
