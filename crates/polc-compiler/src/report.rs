//! `report.json`, the capability report `polc compile` writes beside the artifacts:
//! the backends asked for, the plan targets, every capability verdict and the rules
//! that never decide.
//!
//! [`Report`] serialises straight from the plans and the backends' output, so a
//! writer can stream it (`serde_json::to_writer_pretty`) without a
//! `serde_json::Value` tree of the whole report in memory: at 10,000 policies the
//! report has over a million capability lines. The bytes are those of the same
//! fields put in a `serde_json::Value` in this order.

use crate::backend::{Capability, Output, Target};
use crate::plan::{Dropped, Plan};
use crate::precedence::Relation;
use serde::ser::{Serialize, SerializeStruct, Serializer};

/// The report, as `polc compile` writes it.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report<'a> {
    /// Format version.
    version: u32,
    /// Backends asked for.
    targets: &'a [Target],
    /// Plan target ids.
    plans: Targets<'a>,
    /// Verdicts.
    capabilities: &'a [Capability],
    /// Rules that never decide, per plan.
    never_decide: NeverDecide<'a>,
}

impl<'a> Report<'a> {
    /// The report of `out`, compiled from `plans` for `targets`.
    pub fn new(targets: &'a [Target], plans: &'a [Plan], out: &'a Output) -> Report<'a> {
        Report {
            version: 1,
            targets,
            plans: Targets(plans),
            capabilities: &out.capabilities,
            never_decide: NeverDecide(plans),
        }
    }
}

/// The target ids of the plans, as a JSON array.
struct Targets<'a>(&'a [Plan]);

impl Serialize for Targets<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|p| p.target.id()))
    }
}

/// Every dropped rule of every plan, with its plan's target.
struct NeverDecide<'a>(&'a [Plan]);

impl Serialize for NeverDecide<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().flat_map(|p| {
            let target = p.target.id();
            p.dropped.iter().map(move |d| Never { target: target.clone(), d })
        }))
    }
}

/// One line of `neverDecide`.
struct Never<'a> {
    target: String,
    d: &'a Dropped,
}

impl Serialize for Never<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.d;
        let mut st = s.serialize_struct("NeverDecide", 7)?;
        st.serialize_field("target", &self.target)?;
        st.serialize_field("ruleId", &d.rule.id)?;
        st.serialize_field("policy", &d.rule.policy_label)?;
        st.serialize_field("rule", &d.rule.rule.name)?;
        st.serialize_field("source", &d.rule.source)?;
        st.serialize_field::<Relation>("relation", &d.relation)?;
        st.serialize_field("winner", &d.winner)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::Report;
    use crate::backend::{Target, compile};
    use crate::model::{Policy, Source, Spec, Workload};
    use crate::plan::plan;
    use serde_json::json;

    fn policy(name: &str, spec: serde_json::Value) -> Policy {
        let spec = Spec::Prevention(serde_json::from_value(spec).unwrap());
        let ir = spec.lower();
        Policy {
            namespace: "default".into(),
            name: name.into(),
            labels: Default::default(),
            spec,
            ir,
            source: Source { file: format!("{name}.yaml"), positions: Default::default() },
            content_hash: String::new(),
        }
    }

    /// The streamed report has the bytes of the `serde_json::Value` it replaces.
    #[test]
    fn same_bytes_as_a_value() {
        let rules = json!({"selector": {}, "defaultAction": "Allow", "process": [
            {"name": "shells", "action": "Block", "paths": ["/bin/sh", "/bin/bash"]},
            {"name": "again", "action": "Block", "paths": ["/bin/sh"]},
        ], "capabilities": [{"name": "c", "action": "Block", "capabilities": ["SYS_ADMIN"]}]});
        let policies = vec![policy("a", rules.clone()), policy("b", rules)];
        let workloads: Vec<Workload> = ["w1", "w2"]
            .into_iter()
            .map(|n| Workload {
                kind: "Deployment".into(),
                namespace: "default".into(),
                name: n.into(),
                containers: vec!["c".into(), "d".into()],
                ..Default::default()
            })
            .collect();
        let plans = plan(&policies, &workloads);
        let out =
            compile(&crate::backend::Input { policies: &policies, workloads: &workloads, plans: &plans }, &Target::ALL);
        let dropped: Vec<serde_json::Value> = plans
            .iter()
            .flat_map(|p| {
                p.dropped.iter().map(move |d| {
                    json!({"target": p.target.id(), "ruleId": d.rule.id, "policy": d.rule.policy_label, "rule": d.rule.rule.name, "source": d.rule.source, "relation": d.relation, "winner": d.winner})
                })
            })
            .collect();
        assert!(!dropped.is_empty() && !out.capabilities.is_empty());
        let value = json!({
            "version": 1,
            "targets": Target::ALL,
            "plans": plans.iter().map(|p| p.target.id()).collect::<Vec<_>>(),
            "capabilities": out.capabilities,
            "neverDecide": dropped,
        });
        let streamed = serde_json::to_vec_pretty(&Report::new(&Target::ALL, &plans, &out)).unwrap();
        assert_eq!(String::from_utf8(streamed).unwrap(), serde_json::to_string_pretty(&value).unwrap());
    }
}
