//! `report.json`, the capability report `polc compile` writes beside the artifacts:
//! the backends asked for, the plan targets, every capability verdict and the rules
//! that never decide.
//!
//! [`Report`] serialises straight from the plans and the backends' output, so
//! [`write()`] streams it without a `serde_json::Value` tree of the whole report in
//! memory: at 10,000 policies the report has over a million capability lines.
//!
//! [`write()`] puts every capability line, plan and never-deciding rule on a line of
//! its own (the top-level object and its arrays indented, what is deeper compact):
//! a policy change shows as a small line diff, and the file is a sixth smaller than
//! indented JSON.

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
    /// Verdicts, in runs (see [`crate::backend::Compiled`]).
    capabilities: Runs<'a>,
    /// Rules that never decide, per plan.
    never_decide: NeverDecide<'a>,
}

impl<'a> Report<'a> {
    /// The report of the capability entries `capabilities` (in order, in one or
    /// more runs: [`Output::capabilities`], or [`crate::backend::Compiled::runs`]),
    /// compiled from `plans` for `targets`.
    pub fn new(targets: &'a [Target], plans: &'a [Plan], capabilities: Vec<&'a [Capability]>) -> Report<'a> {
        Report {
            version: 1,
            targets,
            plans: Targets(plans),
            capabilities: Runs(capabilities),
            never_decide: NeverDecide(plans),
        }
    }

    /// The report of one backend's output or of [`crate::backend::compile`]'s.
    pub fn of_output(targets: &'a [Target], plans: &'a [Plan], out: &'a Output) -> Report<'a> {
        Report::new(targets, plans, vec![&out.capabilities])
    }
}

/// Capability entries in runs, serialised as one array.
struct Runs<'a>(Vec<&'a [Capability]>);

impl Serialize for Runs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().copied().flatten())
    }
}

/// Write `report` as JSON: the top-level object and its arrays indented, every
/// element of those arrays on one line, and a final newline.
pub fn write<W: std::io::Write>(w: W, report: &Report<'_>) -> std::io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(w, Lines::default());
    report.serialize(&mut ser).map_err(std::io::Error::from)?;
    ser.into_inner().write_all(b"\n")
}

/// A JSON formatter that indents the two outer levels and writes what is deeper
/// compactly, so each element of an outer array takes one line.
#[derive(Default)]
struct Lines {
    /// Containers open.
    depth: usize,
    /// The innermost indented container has a value.
    has_value: bool,
}

/// Containers nested up to this depth are indented.
const INDENTED: usize = 2;

impl Lines {
    fn newline<W: ?Sized + std::io::Write>(&self, w: &mut W, first: bool) -> std::io::Result<()> {
        w.write_all(if first { b"\n" } else { b",\n" })?;
        for _ in 0..self.depth {
            w.write_all(b"  ")?;
        }
        Ok(())
    }

    fn begin<W: ?Sized + std::io::Write>(&mut self, w: &mut W, open: &[u8]) -> std::io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(open)
    }

    fn end<W: ?Sized + std::io::Write>(&mut self, w: &mut W, close: &[u8]) -> std::io::Result<()> {
        let indented = self.depth <= INDENTED;
        self.depth = self.depth.saturating_sub(1);
        if indented && self.has_value {
            self.newline(w, true)?;
        }
        w.write_all(close)
    }

    fn item<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        if self.depth <= INDENTED {
            self.newline(w, first)
        } else if first {
            Ok(())
        } else {
            w.write_all(b",")
        }
    }
}

impl serde_json::ser::Formatter for Lines {
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.begin(w, b"[")
    }

    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.end(w, b"]")
    }

    fn begin_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        self.item(w, first)
    }

    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.begin(w, b"{")
    }

    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.end(w, b"}")
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        self.item(w, first)
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(if self.depth <= INDENTED { b": " } else { b":" })
    }

    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
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
        st.serialize_field("policy", d.rule.policy_label())?;
        st.serialize_field("rule", &d.rule.rule.name)?;
        st.serialize_field("source", d.rule.source())?;
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
            origins: Default::default(),
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
                    json!({"target": p.target.id(), "ruleId": d.rule.id, "policy": d.rule.policy_label(), "rule": d.rule.rule.name, "source": d.rule.source(), "relation": d.relation, "winner": d.winner})
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
        let streamed = serde_json::to_vec_pretty(&Report::of_output(&Target::ALL, &plans, &out)).unwrap();
        assert_eq!(String::from_utf8(streamed).unwrap(), serde_json::to_string_pretty(&value).unwrap());

        // `write`: the same value, one element of each top-level array per line.
        let mut lines = Vec::new();
        super::write(&mut lines, &Report::of_output(&Target::ALL, &plans, &out)).unwrap();
        let text = String::from_utf8(lines).unwrap();
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), value);
        let mut expected = String::from("{\n");
        let fields: Vec<String> = value
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| match v.as_array() {
                Some(a) if !a.is_empty() => {
                    let items: Vec<String> = a.iter().map(|x| format!("    {x}")).collect();
                    format!("  \"{k}\": [\n{}\n  ]", items.join(",\n"))
                }
                _ => format!("  \"{k}\": {v}"),
            })
            .collect();
        expected.push_str(&fields.join(",\n"));
        expected.push_str("\n}\n");
        assert_eq!(text, expected);

        // What `polc compile` writes: `compile_to`'s entries, one run per backend, give
        // the same bytes; the runs are in order as they stand.
        let input = crate::backend::Input { policies: &policies, workloads: &workloads, plans: &plans };
        let compiled = crate::backend::compile_to(&input, &Target::ALL, &crate::backend::Collect::default());
        assert_eq!(compiled.runs.len(), Target::ALL.len(), "one run per backend");
        assert!(compiled.runs.iter().all(|r| !r.is_empty()));
        assert_eq!(compiled.capability_count(), out.capabilities.len());
        assert!(compiled.capabilities().eq(out.capabilities.iter()), "the runs are the sorted entries");
        let mut runs = Vec::new();
        super::write(&mut runs, &Report::new(&Target::ALL, &plans, compiled.runs())).unwrap();
        assert_eq!(String::from_utf8(runs).unwrap(), text);
    }

    /// Empty arrays and nested values keep their place in `write`'s layout.
    #[test]
    fn lines_layout_of_empty_and_nested() {
        #[derive(serde::Serialize)]
        struct T {
            a: Vec<u8>,
            b: Vec<serde_json::Value>,
        }
        let t = T { a: vec![], b: vec![json!({"x": [1, {"y": []}], "z": "s"}), json!([])] };
        let mut ser = serde_json::Serializer::with_formatter(Vec::new(), super::Lines::default());
        serde::Serialize::serialize(&t, &mut ser).unwrap();
        let text = String::from_utf8(ser.into_inner()).unwrap();
        assert_eq!(text, "{\n  \"a\": [],\n  \"b\": [\n    {\"x\":[1,{\"y\":[]}],\"z\":\"s\"},\n    []\n  ]\n}");
    }
}
