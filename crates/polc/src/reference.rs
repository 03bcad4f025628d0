//! `docs/policy-reference.md`, generated from the CRD schemas (and so from the
//! types' doc comments); a test fails when the file drifts.

use serde_json::Value;

fn type_of(s: &Value) -> String {
    let t = s.get("type").and_then(Value::as_str).unwrap_or("object");
    let base = match t {
        "array" => format!("[]{}", s.get("items").map(type_of).unwrap_or_default()),
        _ => t.to_string(),
    };
    match s.get("enum").and_then(Value::as_array) {
        Some(e) => {
            let vals: Vec<String> = e.iter().filter_map(Value::as_str).map(|v| format!("`{v}`")).collect();
            format!("{base}: {}", vals.join(" \\| "))
        }
        None => base,
    }
}

fn one_line(s: &str) -> String {
    s.split("\n\n").next().unwrap_or("").replace('\n', " ").replace('|', "\\|")
}

fn walk(s: &Value, path: &str, required: bool, rows: &mut Vec<String>) {
    if !path.is_empty() {
        let desc = s.get("description").and_then(Value::as_str).map(one_line).unwrap_or_default();
        let default = s.get("default").map(|d| format!(" Default: `{d}`.")).unwrap_or_default();
        let req = if required { "yes" } else { "" };
        rows.push(format!("| `{path}` | {} | {req} | {desc}{default} |", type_of(s)));
    }
    let (props, req) = match s.get("type").and_then(Value::as_str) {
        Some("array") => match s.get("items") {
            Some(items) => (items.get("properties"), items.get("required")),
            None => (None, None),
        },
        _ => (s.get("properties"), s.get("required")),
    };
    let required: Vec<&str> =
        req.and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let suffix = if s.get("type").and_then(Value::as_str) == Some("array") { "[]" } else { "" };
    if let Some(p) = props.and_then(Value::as_object) {
        for (k, v) in p {
            let child = if path.is_empty() { k.clone() } else { format!("{path}{suffix}.{k}") };
            walk(v, &child, required.contains(&k.as_str()), rows);
        }
    }
}

/// The reference page.
pub(crate) fn markdown() -> String {
    let mut out = String::from(
        "# Policy reference\n\n<!-- generated from the CRD schemas (crates/polc-api); a test fails when this file drifts -->\n\n\
         API group `polc.dev`, version `v1alpha1`. Field descriptions come from the API types; the CRDs in `crds/` carry the same text \
         for `kubectl explain`. `[]` marks list items. Semantics of matching and precedence: [concepts](concepts.md).\n",
    );
    for (kind, crd) in polc_api::crds() {
        let schema = polc_api::openapi_schema(&crd);
        let Some(spec) = schema.pointer("/properties/spec") else { continue };
        out.push_str(&format!("\n## {}\n\n", kind.as_str()));
        out.push_str(&format!(
            "Scope: {}. Short name: `{}`.\n\n",
            crd.spec.scope,
            crd.spec.names.short_names.clone().unwrap_or_default().join("`, `")
        ));
        if let Some(d) = spec.get("description").and_then(Value::as_str) {
            out.push_str(d);
            out.push_str("\n\n");
        }
        out.push_str("| field | type | required | description |\n|---|---|---|---|\n");
        let mut rows = Vec::new();
        walk(spec, "", false, &mut rows);
        let rows: Vec<String> = rows.into_iter().map(|r| r.replacen("| `", "| `spec.", 1)).collect();
        out.push_str(&rows.join("\n"));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn docs_policy_reference_md_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/policy-reference.md");
        let want = super::markdown();
        if std::env::var_os("POLC_BLESS").is_some() {
            std::fs::write(path, &want).unwrap_or_else(|e| panic!("{path}: {e}"));
            return;
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(have == want, "docs/policy-reference.md is stale: run `POLC_BLESS=1 cargo test -p polc docs_`");
    }
}
