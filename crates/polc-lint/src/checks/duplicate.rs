//! Objects defined twice: two manifests with the same kind, namespace and name (a
//! policy or a workload). Applied to a cluster the later replaces the earlier, and
//! polc cannot tell which one is meant.

use crate::checks::policy::PolicyEntry;
use crate::checks::workload::Workload;
use crate::codes::Code;
use crate::{Files, Finding, Related};
use polc_load::Span;
use std::collections::HashMap;

/// Kind, namespace and name: what makes an object one object.
type Key<'a> = (&'a str, &'a str, &'a str);

/// A finding at every definition of an object after its first, pointing back at
/// the first. Definitions are taken in input order (file, then document).
pub(crate) fn check(files: &Files<'_>, policies: &[PolicyEntry], workloads: &[Workload], out: &mut Vec<Finding>) {
    // Each definition: its identity, where it is, where its name is written, and
    // whether it leaves metadata.namespace out.
    let mut defs: Vec<(Key<'_>, (usize, usize), Span, bool)> = policies
        .iter()
        .map(|p| {
            let key = (p.kind.as_str(), p.policy.namespace.as_str(), p.policy.name.as_str());
            (key, p.loc, p.name_span, p.implicit_namespace)
        })
        .chain(workloads.iter().map(|w| {
            ((w.kind.as_str(), w.namespace.as_str(), w.name.as_str()), w.loc, w.name_span, w.implicit_namespace)
        }))
        .collect();
    defs.sort_by_key(|&(_, loc, _, _)| loc);
    let mut first: HashMap<Key<'_>, (usize, Span, bool)> = HashMap::with_capacity(defs.len());
    for (key, loc, span, implicit) in defs {
        // No name (generateName, or not a string: P013 reports that) is no identity.
        if key.2.is_empty() {
            continue;
        }
        let Some(&(at, espan, eimplicit)) = first.get(&key) else {
            first.insert(key, (loc.0, span, implicit));
            continue;
        };
        let (Some(file), Some(earlier)) = (files.list.get(loc.0), files.list.get(at)) else { continue };
        let (kind, namespace, n) = key;
        let label = format!("{kind} {namespace}/{n}");
        let message = if implicit && eimplicit {
            format!("{label} is defined twice (neither sets metadata.namespace: both are read as `{namespace}`)")
        } else {
            format!("{label} is defined twice")
        };
        let mut f = Finding::new(Code::DuplicateObject, &file.name, Some(span), message);
        f.field = "metadata.name".into();
        f.object = Some(label.clone());
        f.related.push(Related {
            file: earlier.name.clone(),
            span: Some(espan),
            message: format!("{label} is first defined here"),
        });
        f.help = Some("keep one definition (for overlays, lint what `kustomize build` renders)".into());
        out.push(f);
    }
}
