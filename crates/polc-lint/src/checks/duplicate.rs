//! Objects defined twice: two manifests with the same kind, namespace and name (a
//! policy or a workload). Applied to a cluster the later replaces the earlier, and
//! polc cannot tell which one is meant.

use crate::checks::policy::PolicyEntry;
use crate::checks::workload::Workload;
use crate::codes::Code;
use crate::{Ctx, Files, Finding, Related};
use polc_load::FieldPath;
use std::collections::HashMap;

/// Kind, namespace and name: what makes an object one object.
type Key<'a> = (&'a str, &'a str, &'a str);

/// A finding at every definition of an object after its first, pointing back at
/// the first. Definitions are taken in input order (file, then document).
pub(crate) fn check(files: &Files<'_>, policies: &[PolicyEntry], workloads: &[Workload], out: &mut Vec<Finding>) {
    let mut defs: Vec<(Key<'_>, (usize, usize))> = policies
        .iter()
        .map(|p| ((p.kind.as_str(), p.policy.namespace.as_str(), p.policy.name.as_str()), p.loc))
        .chain(workloads.iter().map(|w| ((w.kind.as_str(), w.namespace.as_str(), w.name.as_str()), w.loc)))
        .collect();
    defs.sort_by_key(|&(_, loc)| loc);
    let mut first: HashMap<Key<'_>, (usize, usize)> = HashMap::with_capacity(defs.len());
    let name = FieldPath::from_pointer("/metadata/name");
    for (key, loc) in defs {
        // No name (generateName, or not a string: P013 reports that) is no identity.
        if key.2.is_empty() {
            continue;
        }
        let Some(&at) = first.get(&key) else {
            first.insert(key, loc);
            continue;
        };
        // Both documents, parsed again when the per-file checks dropped them.
        let (edocs, docs) = (files.docs(at.0), files.docs(loc.0));
        let (Some(file), Some(earlier)) = (files.list.get(loc.0), files.list.get(at.0)) else { continue };
        let (Some(doc), Some(edoc)) = (docs.get(loc.1), edocs.get(at.1)) else { continue };
        let (kind, namespace, n) = key;
        let label = format!("{kind} {namespace}/{n}");
        let mut ctx = Ctx { file, doc, value: &doc.value, object: Some(label.clone()), out: &mut *out };
        let implicit = |d: &polc_load::Document| polc_load::pointer(&d.value, "/metadata/namespace").is_none();
        let message = if implicit(doc) && implicit(edoc) {
            format!("{label} is defined twice (neither sets metadata.namespace: both are read as `{namespace}`)")
        } else {
            format!("{label} is defined twice")
        };
        let mut f = ctx.finding_at(Code::DuplicateObject, "/metadata/name", message);
        f.related.push(Related {
            file: earlier.name.clone(),
            span: Some(edoc.spans.field_span(&edoc.value, name.segs())),
            message: format!("{label} is first defined here"),
        });
        f.help = Some("keep one definition (for overlays, lint what `kustomize build` renders)".into());
        ctx.push(f);
    }
}
