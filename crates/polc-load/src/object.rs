//! What a loaded document is: a polc policy, a workload, or something else.

use serde_json::Value;

/// Workload kinds whose pods polc policies select.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WorkloadKind {
    /// `apps/v1` Deployment.
    Deployment,
    /// `apps/v1` StatefulSet.
    StatefulSet,
    /// `apps/v1` DaemonSet.
    DaemonSet,
    /// `apps/v1` ReplicaSet.
    ReplicaSet,
    /// `batch/v1` Job.
    Job,
    /// `batch/v1` CronJob.
    CronJob,
    /// `v1` Pod.
    Pod,
}

impl WorkloadKind {
    /// The kind's name.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::ReplicaSet => "ReplicaSet",
            WorkloadKind::Job => "Job",
            WorkloadKind::CronJob => "CronJob",
            WorkloadKind::Pod => "Pod",
        }
    }

    /// JSON pointer of the pod template's spec within the object.
    pub fn pod_spec_pointer(self) -> &'static str {
        match self {
            WorkloadKind::Pod => "/spec",
            WorkloadKind::CronJob => "/spec/jobTemplate/spec/template/spec",
            _ => "/spec/template/spec",
        }
    }

    /// JSON pointer of the pod template's metadata within the object.
    pub fn pod_metadata_pointer(self) -> &'static str {
        match self {
            WorkloadKind::Pod => "/metadata",
            WorkloadKind::CronJob => "/spec/jobTemplate/spec/template/metadata",
            _ => "/spec/template/metadata",
        }
    }
}

/// What an object is, by `apiVersion` and `kind`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObjectClass {
    /// An object of API group `polc.dev` (any version and kind; lint checks them).
    Polc {
        /// The version part of `apiVersion`.
        version: String,
        /// The kind.
        kind: String,
    },
    /// A workload whose pods policies select.
    Workload(WorkloadKind),
    /// A Kubernetes object polc does not act on (Service, ConfigMap, ...).
    Other,
    /// Not a Kubernetes object: no string `apiVersion` and `kind`.
    NotAnObject,
}

/// An object's identity, read from its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// What it is.
    pub class: ObjectClass,
    /// `kind`, or empty.
    pub kind: String,
    /// `metadata.name`, or empty.
    pub name: String,
    /// `metadata.namespace`, if set.
    pub namespace: Option<String>,
}

/// Classify a document's value.
pub fn classify(v: &Value) -> Object {
    let s = |p: &str| crate::pointer(v, p).and_then(Value::as_str);
    let name = s("/metadata/name").unwrap_or_default().to_string();
    let namespace = s("/metadata/namespace").map(str::to_string);
    let (Some(api), Some(kind)) = (s("/apiVersion"), s("/kind")) else {
        return Object { class: ObjectClass::NotAnObject, kind: String::new(), name, namespace };
    };
    let (group, version) = api.rsplit_once('/').unwrap_or(("", api));
    let class = if group == "polc.dev" {
        ObjectClass::Polc { version: version.to_string(), kind: kind.to_string() }
    } else {
        let w = match (group, kind) {
            ("apps", "Deployment") => Some(WorkloadKind::Deployment),
            ("apps", "StatefulSet") => Some(WorkloadKind::StatefulSet),
            ("apps", "DaemonSet") => Some(WorkloadKind::DaemonSet),
            ("apps", "ReplicaSet") => Some(WorkloadKind::ReplicaSet),
            ("batch", "Job") => Some(WorkloadKind::Job),
            ("batch", "CronJob") => Some(WorkloadKind::CronJob),
            ("", "Pod") => Some(WorkloadKind::Pod),
            _ => None,
        };
        w.map_or(ObjectClass::Other, ObjectClass::Workload)
    };
    Object { class, kind: kind.to_string(), name, namespace }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classifies_kinds() {
        let o = classify(
            &json!({"apiVersion": "polc.dev/v1alpha1", "kind": "PreventionPolicy", "metadata": {"name": "a", "namespace": "n"}}),
        );
        assert_eq!(o.class, ObjectClass::Polc { version: "v1alpha1".into(), kind: "PreventionPolicy".into() });
        assert_eq!((o.name.as_str(), o.namespace.as_deref()), ("a", Some("n")));
        assert_eq!(
            classify(&json!({"apiVersion": "apps/v1", "kind": "Deployment"})).class,
            ObjectClass::Workload(WorkloadKind::Deployment)
        );
        assert_eq!(
            classify(&json!({"apiVersion": "v1", "kind": "Pod"})).class,
            ObjectClass::Workload(WorkloadKind::Pod)
        );
        assert_eq!(classify(&json!({"apiVersion": "v1", "kind": "Service"})).class, ObjectClass::Other);
        assert_eq!(classify(&json!({"kind": "Service"})).class, ObjectClass::NotAnObject);
        assert_eq!(classify(&json!(["x"])).class, ObjectClass::NotAnObject);
    }
}
