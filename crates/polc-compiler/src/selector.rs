//! Label selector evaluation and validation.

use polc_api::LabelSelector;
use std::collections::BTreeMap;

/// A problem with a selector that makes it match nothing or be rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// An operator other than In, NotIn, Exists, DoesNotExist.
    #[error("unknown operator `{0}` (expected In, NotIn, Exists or DoesNotExist)")]
    UnknownOperator(String),
    /// In/NotIn without values.
    #[error("operator `{0}` needs at least one value")]
    MissingValues(String),
    /// Exists/DoesNotExist with values.
    #[error("operator `{0}` takes no values")]
    UnexpectedValues(String),
}

/// Validate a selector's expressions; returns `(index, error)` for each bad expression.
pub fn validate(sel: &LabelSelector) -> Vec<(usize, SelectorError)> {
    let mut out = Vec::new();
    for (i, e) in sel.match_expressions.iter().flatten().enumerate() {
        let n = e.values.as_ref().map_or(0, Vec::len);
        match e.operator.as_str() {
            "In" | "NotIn" if n == 0 => out.push((i, SelectorError::MissingValues(e.operator.clone()))),
            "Exists" | "DoesNotExist" if n > 0 => out.push((i, SelectorError::UnexpectedValues(e.operator.clone()))),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => out.push((i, SelectorError::UnknownOperator(other.to_string()))),
        }
    }
    out
}

/// Is the selector empty (`{}`), selecting everything?
pub fn is_empty(sel: &LabelSelector) -> bool {
    sel.match_labels.as_ref().is_none_or(BTreeMap::is_empty) && sel.match_expressions.as_ref().is_none_or(Vec::is_empty)
}

/// Does the selector select an object with `labels`? Invalid expressions select nothing.
pub fn matches(sel: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    if let Some(ml) = &sel.match_labels
        && !ml.iter().all(|(k, v)| labels.get(k) == Some(v))
    {
        return false;
    }
    sel.match_expressions.iter().flatten().all(|e| {
        let vals = e.values.as_deref().unwrap_or_default();
        let got = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => got.is_some_and(|v| vals.contains(v)),
            "NotIn" => !vals.is_empty() && got.is_none_or(|v| !vals.contains(v)),
            "Exists" => vals.is_empty() && got.is_some(),
            "DoesNotExist" => vals.is_empty() && got.is_none(),
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use polc_api::LabelSelector;
    use serde_json::json;

    fn sel(v: serde_json::Value) -> LabelSelector {
        serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn evaluation() {
        let labels: BTreeMap<String, String> = [("name".to_string(), "carts".to_string())].into();
        assert!(matches(&sel(json!({"matchLabels": {"name": "carts"}})), &labels));
        assert!(!matches(&sel(json!({"matchLabels": {"name": "orders"}})), &labels));
        assert!(matches(
            &sel(json!({"matchExpressions": [{"key": "name", "operator": "In", "values": ["carts", "x"]}]})),
            &labels
        ));
        assert!(!matches(
            &sel(json!({"matchExpressions": [{"key": "name", "operator": "NotIn", "values": ["carts"]}]})),
            &labels
        ));
        assert!(matches(&sel(json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]})), &labels));
        assert!(!matches(&sel(json!({"matchExpressions": [{"key": "name", "operator": "In"}]})), &labels));
        assert!(matches(&sel(json!({})), &labels) && is_empty(&sel(json!({}))));
        let bad = sel(
            json!({"matchExpressions": [{"key": "a", "operator": "In"}, {"key": "b", "operator": "Exists", "values": ["x"]}, {"key": "c", "operator": "Equals"}]}),
        );
        assert_eq!(validate(&bad).len(), 3);
    }
}
