//! Objects defined twice: two manifests with the same kind, namespace and name (a
//! policy or a workload). Applied to a cluster the later replaces the earlier, and
//! polc cannot tell which one is meant.

use crate::checks::policy::PolicyEntry;
use crate::checks::workload::Workload;
use crate::codes::Code;
use crate::{Files, Finding, NameAt, Related};
use std::collections::HashMap;

/// Kind, namespace and name: what makes an object one object.
type Key<'a> = (&'a str, &'a str, &'a str);

/// A finding at every definition of an object after its first, pointing back at
/// the first. Definitions are taken in input order (file, then document).
pub(crate) fn check(files: &Files<'_>, policies: &[PolicyEntry], workloads: &[Workload], out: &mut Vec<Finding>) {
    // Each definition: its identity, where it is, and where its name is written.
    let mut defs: Vec<(Key<'_>, (usize, usize), NameAt)> = policies
        .iter()
        .map(|p| ((p.kind.as_str(), p.policy.namespace.as_str(), p.policy.name.as_str()), p.loc, p.name_at))
        .chain(workloads.iter().map(|w| ((w.kind.as_str(), w.namespace.as_str(), w.name.as_str()), w.loc, w.name_at)))
        .collect();
    defs.sort_by_key(|&(_, loc, _)| loc);
    let mut first: HashMap<Key<'_>, (usize, NameAt)> = HashMap::with_capacity(defs.len());
    for (key, loc, at) in defs {
        // No name (generateName, or not a string: P013 reports that) is no identity.
        if key.2.is_empty() {
            continue;
        }
        let Some(&(efile, eat)) = first.get(&key) else {
            first.insert(key, (loc.0, at));
            continue;
        };
        let (Some(file), Some(earlier)) = (files.list.get(loc.0), files.list.get(efile)) else { continue };
        let (kind, namespace, n) = key;
        let label = format!("{kind} {namespace}/{n}");
        let message = if at.implicit_namespace && eat.implicit_namespace {
            format!("{label} is defined twice (neither sets metadata.namespace: both are read as `{namespace}`)")
        } else {
            format!("{label} is defined twice")
        };
        let mut f = at.finding(Code::DuplicateObject, &file.name, label.clone(), message);
        f.related.push(Related {
            file: earlier.name.clone(),
            span: Some(eat.span),
            message: format!("{label} is first defined here"),
        });
        f.help = Some("keep one definition (for overlays, lint what `kustomize build` renders)".into());
        out.push(f);
    }
}
