//! The CustomResourceDefinitions generated from the types, and the kind table.

use crate::{NetworkAccessPolicy, PreventionPolicy, RuntimePolicy};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// The polc kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PolcKind {
    /// `PreventionPolicy`.
    PreventionPolicy,
    /// `RuntimePolicy`.
    RuntimePolicy,
    /// `NetworkAccessPolicy`.
    NetworkAccessPolicy,
}

impl PolcKind {
    /// Every kind, in a stable order.
    pub const ALL: [PolcKind; 3] = [PolcKind::PreventionPolicy, PolcKind::RuntimePolicy, PolcKind::NetworkAccessPolicy];

    /// The kind's name as in `kind:`.
    pub fn as_str(self) -> &'static str {
        match self {
            PolcKind::PreventionPolicy => "PreventionPolicy",
            PolcKind::RuntimePolicy => "RuntimePolicy",
            PolcKind::NetworkAccessPolicy => "NetworkAccessPolicy",
        }
    }

    /// The kind named `kind`, if it is a polc kind.
    pub fn from_kind(kind: &str) -> Option<PolcKind> {
        PolcKind::ALL.into_iter().find(|k| k.as_str() == kind)
    }

    /// The file name of the kind's CRD under `crds/`.
    pub fn crd_file_name(self) -> String {
        format!("polc.dev_{}.yaml", crd_for(self).spec.names.plural)
    }
}

/// The CRD of one kind.
pub fn crd_for(kind: PolcKind) -> CustomResourceDefinition {
    match kind {
        PolcKind::PreventionPolicy => PreventionPolicy::crd(),
        PolcKind::RuntimePolicy => RuntimePolicy::crd(),
        PolcKind::NetworkAccessPolicy => NetworkAccessPolicy::crd(),
    }
}

/// The `openAPIV3Schema` of a CRD's first version, as JSON (`null` when absent).
pub fn openapi_schema(crd: &CustomResourceDefinition) -> serde_json::Value {
    crd.spec
        .versions
        .first()
        .and_then(|v| v.schema.as_ref())
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// Every CRD, in the order of [`PolcKind::ALL`].
pub fn crds() -> Vec<(PolcKind, CustomResourceDefinition)> {
    PolcKind::ALL.into_iter().map(|k| (k, crd_for(k))).collect()
}
