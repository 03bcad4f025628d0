//! The compiler's input: policies with where they came from, and workloads.

use crate::ir::{PolicyIr, lower_network, lower_prevention, lower_runtime};
use polc_api::{LabelSelector, NetworkAccessPolicySpec, PolcKind, PreventionPolicySpec, RuntimePolicySpec};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

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
    /// Pointer -> (line, column). The keys of rules and entries are the IR's own
    /// pointers (shared, not copied: half a million of them at 10,000 policies).
    pub positions: BTreeMap<Arc<str>, (u32, u32)>,
}

impl Source {
    /// [`Source::locate`] of the first of `pointers` that has a position, else of
    /// the first.
    pub fn locate_first(&self, pointers: &[&str]) -> String {
        let at = pointers.iter().find(|p| self.positions.contains_key(**p)).or(pointers.first());
        self.locate(at.copied().unwrap_or(""))
    }

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
    /// The [`Origin`] of each IR rule, made on first use ([`Policy::origins`]).
    pub origins: Origins,
}

impl Policy {
    /// `Kind namespace/name`.
    pub fn label(&self) -> String {
        format!("{} {}/{}", self.spec.kind().as_str(), self.namespace, self.name)
    }

    /// The [`Origin`] of each IR rule (in the order of `ir.rules`), made once, the
    /// first time they are asked for, and shared by every plan the policy is in
    /// and every capability line of its rule entries.
    pub fn origins(&self) -> &[Arc<Origin>] {
        self.origins.0.get_or_init(|| {
            let label: Arc<str> = self.label().into();
            self.ir
                .rules
                .iter()
                .map(|r| {
                    Arc::new(Origin {
                        policy: Arc::clone(&label),
                        rule: Arc::clone(&r.name),
                        source: self.source.locate(&r.pointer).into(),
                    })
                })
                .collect()
        })
    }

    /// The origin of IR rule `ri` (shared, see [`Policy::origins`]).
    pub fn entry_origin(&self, ri: usize) -> Arc<Origin> {
        match self.origins().get(ri) {
            Some(o) => Arc::clone(o),
            // No such rule: the origins are made from `ir.rules`, one each.
            None => self.origin_at("-".into(), &[]),
        }
    }

    /// An origin of its own, for a line about a whole rule or a section default,
    /// named `rule`: at the first of `pointers` that has a position ([`Source::locate_first`]).
    pub fn origin_at(&self, rule: Arc<str>, pointers: &[&str]) -> Arc<Origin> {
        let policy = self.origins().first().map_or_else(|| self.label().into(), |o| Arc::clone(&o.policy));
        Arc::new(Origin { policy, rule, source: self.source.locate_first(pointers).into() })
    }

    /// The origin of a line about a whole rule named `rule`, at `rule_pointer`, whose
    /// first entry is IR rule `ri`: that entry's (shared), when it has this name and
    /// the rule is at the entry's line and column (a baseline entry is a rule of its
    /// own); else one of its own.
    pub fn rule_origin(&self, ri: usize, rule: &Arc<str>, rule_pointer: &str) -> Arc<Origin> {
        let same_place = |entry: &str| self.source.positions.get(rule_pointer) == self.source.positions.get(entry);
        match (self.origins().get(ri), self.ir.rules.get(ri)) {
            (Some(o), Some(r)) if o.rule == *rule && same_place(&r.pointer) => Arc::clone(o),
            _ => self.origin_at(Arc::clone(rule), &[rule_pointer]),
        }
    }
}

/// The origins of a policy's rules, made on first use. They follow from the
/// policy, so they take no part in its equality (a policy whose origins were made
/// equals one whose were not).
///
/// They are made from the policy as it is then (its kind, namespace, name, IR
/// rules and source positions) and not made again: change none of these after
/// [`Policy::origins`] was called, on the policy or on a clone of it (a clone
/// keeps what was made). The compiler changes nothing of a policy after lint
/// built it.
#[derive(Clone, Default)]
pub struct Origins(OnceLock<Vec<Arc<Origin>>>);

impl PartialEq for Origins {
    fn eq(&self, _: &Origins) -> bool {
        true
    }
}

impl std::fmt::Debug for Origins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() { "Origins(made)" } else { "Origins(not made)" })
    }
}

/// Where a rule entry comes from, as reports name it: made once per entry
/// ([`Policy::origins`]) and shared. Plans of large policy sets repeat a policy's
/// rules thousands of times, and every backend gives each entry a capability line
/// (1.4 million at 10,000 policies): one pointer to the three texts instead of the
/// three (48 bytes) in each.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    /// `Kind namespace/name` of the policy.
    pub policy: Arc<str>,
    /// The rule's name.
    pub rule: Arc<str>,
    /// `file:line:col` of the entry (or of the rule, for a line about a whole rule).
    pub source: Arc<str>,
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
