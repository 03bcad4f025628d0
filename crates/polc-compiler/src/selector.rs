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
    /// A label key that is not `[prefix/]name`.
    #[error("`{0}` is not a valid label key (`[dns-prefix/]name`, name at most 63 characters of [A-Za-z0-9-_.])")]
    BadKey(String),
    /// A label value that is not valid.
    #[error("`{0}` is not a valid label value (at most 63 characters of [A-Za-z0-9-_.], alphanumeric at both ends)")]
    BadValue(String),
}

/// Is `s` a DNS subdomain name, as Kubernetes requires of most object names: at
/// most 253 characters, labels separated by `.`, each of lowercase letters, digits
/// and `-`, with a letter or digit at each end (RFC 1123)?
pub fn is_dns_subdomain(s: &str) -> bool {
    let label = |l: &str| {
        l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && l.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && l.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
    };
    s.len() <= 253 && s.split('.').all(label)
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
}

/// Is `k` a valid label key?
pub fn valid_key(k: &str) -> bool {
    match k.split_once('/') {
        Some((prefix, name)) => {
            !prefix.is_empty()
                && prefix.len() <= 253
                && prefix.split('.').all(|l| {
                    !l.is_empty() && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                })
                && valid_name(name)
        }
        None => valid_name(k),
    }
}

/// Is `v` a valid label value (empty is valid)?
pub fn valid_value(v: &str) -> bool {
    v.is_empty() || valid_name(v)
}

/// Invalid label keys and values of a selector, as `(JSON pointer below the selector, error)`.
pub fn validate_labels(sel: &LabelSelector) -> Vec<(String, SelectorError)> {
    let mut out = Vec::new();
    for (k, v) in sel.match_labels.iter().flatten() {
        let ptr = format!("/matchLabels/{}", k.replace('~', "~0").replace('/', "~1"));
        if !valid_key(k) {
            out.push((ptr.clone(), SelectorError::BadKey(k.clone())));
        }
        if !valid_value(v) {
            out.push((ptr, SelectorError::BadValue(v.clone())));
        }
    }
    for (i, e) in sel.match_expressions.iter().flatten().enumerate() {
        if !valid_key(&e.key) {
            out.push((format!("/matchExpressions/{i}/key"), SelectorError::BadKey(e.key.clone())));
        }
        for (j, v) in e.values.iter().flatten().enumerate() {
            if !valid_value(v) {
                out.push((format!("/matchExpressions/{i}/values/{j}"), SelectorError::BadValue(v.clone())));
            }
        }
    }
    out
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
        let labels = sel(
            json!({"matchLabels": {"app": "bad value!", "ok/x": "y", "\u{1F600}": "z"}, "matchExpressions": [{"key": "a", "operator": "In", "values": ["-x"]}]}),
        );
        assert_eq!(validate_labels(&labels).len(), 3);
        assert!(
            valid_key("kubernetes.io/metadata.name") && valid_key("app") && !valid_key("/x") && !valid_key("A.b/c")
        );
    }
}
