//! Resolution of plain YAML scalars to JSON values, as Kubernetes resolves them
//! (YAML 1.2 core schema plus the YAML 1.1 booleans `yes`/`no`/`on`/`off` that the
//! API server's YAML decoder still honours).

use serde_json::{Number, Value};

/// Outcome of resolving a plain scalar.
pub(crate) enum Resolved {
    /// A JSON value.
    Value(Value),
    /// `.inf` or `.nan`: valid YAML, not JSON.
    NotJson,
}

pub(crate) fn resolve_plain(s: &str) -> Resolved {
    let Some(first) = s.bytes().next() else {
        return Resolved::Value(Value::Null);
    };
    // Fast path: most scalars start with a letter that cannot begin a special value.
    if first.is_ascii_alphabetic()
        && !matches!(first, b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'y' | b'Y' | b'o' | b'O')
    {
        return Resolved::Value(Value::String(s.to_owned()));
    }
    match s {
        "~" | "null" | "Null" | "NULL" => return Resolved::Value(Value::Null),
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "y" | "Y" | "on" | "On" | "ON" => {
            return Resolved::Value(Value::Bool(true));
        }
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "n" | "N" | "off" | "Off" | "OFF" => {
            return Resolved::Value(Value::Bool(false));
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF" | ".nan" | ".NaN"
        | ".NAN" => return Resolved::NotJson,
        _ => {}
    }
    if let Some(n) = parse_int(s) {
        return Resolved::Value(Value::Number(n));
    }
    if looks_like_float(s)
        && let Ok(f) = s.parse::<f64>()
        && let Some(n) = Number::from_f64(f)
    {
        return Resolved::Value(Value::Number(n));
    }
    Resolved::Value(Value::String(s.to_owned()))
}

pub(crate) fn parse_int(s: &str) -> Option<Number> {
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, body) = if let Some(h) = digits.strip_prefix("0x") {
        (16, h)
    } else if let Some(o) = digits.strip_prefix("0o") {
        (8, o)
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.bytes().all(|b| (b as char).is_digit(radix)) {
        return None;
    }
    let mag = u64::from_str_radix(body, radix).ok()?;
    if neg {
        let v = i64::try_from(mag).ok().map(|v| -v).or((mag == 1 << 63).then_some(i64::MIN))?;
        Some(Number::from(v))
    } else {
        Some(Number::from(mag))
    }
}

fn looks_like_float(s: &str) -> bool {
    let b = s.trim_start_matches(['-', '+']).as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_digit() || (b[0] == b'.' && b.len() > 1 && b[1].is_ascii_digit()))
        && b.iter().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'-' | b'+'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v(s: &str) -> Value {
        match resolve_plain(s) {
            Resolved::Value(v) => v,
            Resolved::NotJson => Value::String("<not json>".into()),
        }
    }

    #[test]
    fn resolves_like_the_api_server() {
        assert_eq!(v(""), json!(null));
        assert_eq!(v("~"), json!(null));
        assert_eq!(v("yes"), json!(true));
        assert_eq!(v("Off"), json!(false));
        assert_eq!(v("42"), json!(42));
        assert_eq!(v("-7"), json!(-7));
        assert_eq!(v("0x1F"), json!(31));
        assert_eq!(v("0o17"), json!(15));
        assert_eq!(v("1.5"), json!(1.5));
        assert_eq!(v("1e3"), json!(1000.0));
        assert_eq!(v("/bin/sh"), json!("/bin/sh"));
        assert_eq!(v("1.2.3"), json!("1.2.3"));
        assert_eq!(v("nginx"), json!("nginx"));
        assert_eq!(v("-"), json!("-"));
        assert_eq!(v("99999999999999999999"), json!(1e20));
        assert_eq!(v("-9223372036854775808"), json!(i64::MIN));
        assert_eq!(v(".nan"), json!("<not json>"));
    }
}
