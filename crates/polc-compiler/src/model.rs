//! The compiler's input: policies with where they came from, and workloads.

use crate::ir::{PolicyIr, lower_network, lower_prevention, lower_runtime};
use polc_api::{LabelSelector, NetworkAccessPolicySpec, PolcKind, PreventionPolicySpec, RuntimePolicySpec};
use std::collections::BTreeMap;

/// A decoded policy spec.
#[derive(Clone, Debug, PartialEq)]
pub enum Spec {
    /// PreventionPolicy.
    Prevention(PreventionPolicySpec),
    /// RuntimePolicy.
    Runtime(RuntimePolicySpec),
    /// NetworkAccessPolicy.
    Network(NetworkAccessPolicySpec),
}

impl Spec {
    /// The kind.
    pub fn kind(&self) -> PolcKind {
        match self {
            Spec::Prevention(_) => PolcKind::PreventionPolicy,
            Spec::Runtime(_) => PolcKind::RuntimePolicy,
            Spec::Network(_) => PolcKind::NetworkAccessPolicy,
        }
    }

    /// The pod selector.
    pub fn selector(&self) -> &LabelSelector {
        match self {
            Spec::Prevention(s) => &s.selector,
            Spec::Runtime(s) => &s.selector,
            Spec::Network(s) => &s.selector,
        }
    }

    /// Container names the policy is limited to (empty: all).
    pub fn containers(&self) -> &[String] {
        match self {
            Spec::Prevention(s) => &s.containers,
            Spec::Runtime(s) => &s.containers,
            Spec::Network(_) => &[],
        }
    }

    /// Lower to the IR.
    pub fn lower(&self) -> PolicyIr {
        match self {
            Spec::Prevention(s) => lower_prevention(s),
            Spec::Runtime(s) => lower_runtime(s),
            Spec::Network(s) => lower_network(s),
        }
    }
}

/// Where a policy was written: the file and the line and column of every JSON
/// pointer the compiler may name (rules and their entries).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Source {
    /// File, relative to the repository when known.
    pub file: String,
    /// Pointer -> (line, column).
    pub positions: BTreeMap<String, (u32, u32)>,
}

impl Source {
    /// `file:line` of a pointer (or of the file alone).
    pub fn locate(&self, pointer: &str) -> String {
        match self.positions.get(pointer) {
            Some((l, c)) => format!("{}:{l}:{c}", self.file),
            None => self.file.clone(),
        }
    }
}

/// A policy to compile.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// Namespace (`default` when the manifest omits it).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// The spec.
    pub spec: Spec,
    /// The IR.
    pub ir: PolicyIr,
    /// Where it was written.
    pub source: Source,
    /// SHA-256 of the policy's canonical JSON (`metadata.name`, `namespace`, `spec`), hex.
    pub content_hash: String,
}

impl Policy {
    /// `Kind namespace/name`.
    pub fn label(&self) -> String {
        format!("{} {}/{}", self.spec.kind().as_str(), self.namespace, self.name)
    }
}

/// A workload whose pods policies select.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Workload {
    /// Kind (`Deployment`, ...).
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Pod template labels.
    pub labels: BTreeMap<String, String>,
    /// Container names (init containers included).
    pub containers: Vec<String>,
    /// `file:line:col` of the manifest's `metadata.name` (empty when not from a file).
    pub source: String,
}
