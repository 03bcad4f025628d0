//! Validation against exactly the OpenAPI schemas in the generated CRDs, plus the
//! unknown-field check that structural schemas cannot express.

use crate::codes::Code;
use crate::finding::did_you_mean;
use crate::{Ctx, Finding};
use polc_api::PolcKind;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write as _;

/// A compiled schema per polc kind.
pub struct Schemas {
    kinds: HashMap<PolcKind, (Fields, jsonschema::Validator)>,
}

type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// A schema's `properties`: an index by name into the list in the schema's order.
type Props = (FastMap<String, usize>, Vec<(String, Fields)>);

/// What the unknown-field check needs of a schema node, read out of the CRD schema
/// once instead of looked up by name at every node of every document.
#[derive(Default)]
struct Fields {
    /// `x-kubernetes-preserve-unknown-fields: true`.
    preserve_unknown: bool,
    /// `properties`, in the schema's order.
    props: Option<Props>,
    /// `additionalProperties`, when it is a schema.
    additional: Option<Box<Fields>>,
    /// `items`.
    items: Option<Box<Fields>>,
}

impl Fields {
    fn new(schema: &Value) -> Fields {
        let sub = |key: &str| schema.get(key).filter(|v| v.is_object()).map(|v| Box::new(Fields::new(v)));
        Fields {
            preserve_unknown: schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)),
            props: schema.get("properties").and_then(Value::as_object).map(|p| {
                let list: Vec<(String, Fields)> = p.iter().map(|(k, v)| (k.clone(), Fields::new(v))).collect();
                let index = list.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect();
                (index, list)
            }),
            additional: sub("additionalProperties"),
            items: schema.get("items").map(|v| Box::new(Fields::new(v))),
        }
    }

    fn prop(&self, key: &str) -> Option<&Fields> {
        let (index, list) = self.props.as_ref()?;
        index.get(key).map(|&i| &list[i].1)
    }
}

/// The CRD schema of `kind` could not be compiled (a bug in polc's types).
#[derive(Debug, thiserror::Error)]
#[error("the CRD schema of {kind} does not compile: {message}")]
pub struct SchemaError {
    kind: &'static str,
    message: String,
}

/// OpenAPI's `nullable: true` is not JSON Schema: turn it into a `null` type.
fn to_json_schema(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.remove("nullable") == Some(Value::Bool(true))
                && let Some(Value::String(t)) = m.get("type").cloned()
            {
                m.insert("type".into(), serde_json::json!([t, "null"]));
                if let Some(Value::Array(e)) = m.get_mut("enum") {
                    e.push(Value::Null);
                }
            }
            m.values_mut().for_each(to_json_schema);
        }
        Value::Array(a) => a.iter_mut().for_each(to_json_schema),
        _ => {}
    }
}

impl Schemas {
    /// Compile the schemas of every kind from the CRDs the types generate.
    ///
    /// # Errors
    /// Only when a generated schema is not valid JSON Schema.
    pub fn new() -> Result<Schemas, SchemaError> {
        let mut kinds = HashMap::new();
        for (kind, crd) in polc_api::crds() {
            let schema = crd
                .spec
                .versions
                .first()
                .and_then(|v| v.schema.as_ref())
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .and_then(|s| serde_json::to_value(s).ok())
                .unwrap_or(Value::Null);
            let mut js = schema.clone();
            to_json_schema(&mut js);
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft4)
                .build(&js)
                .map_err(|e| SchemaError { kind: kind.as_str(), message: e.to_string() })?;
            kinds.insert(kind, (Fields::new(&schema), validator));
        }
        Ok(Schemas { kinds })
    }

    /// Validate `ctx`'s document as `kind`; returns whether it is valid.
    pub(crate) fn check(&self, kind: PolcKind, ctx: &mut Ctx<'_>) -> bool {
        let Some((fields, validator)) = self.kinds.get(&kind) else {
            return true;
        };
        let value = ctx.value;
        let before = ctx.out.len();
        // `is_valid` stops at the first error and builds none: most documents are valid.
        let errors = if validator.is_valid(value) { None } else { Some(validator.iter_errors(value)) };
        for e in errors.into_iter().flatten() {
            let pointer = e.instance_path().to_string();
            let mut msg = e.to_string();
            let mut help = None;
            if let jsonschema::error::ValidationErrorKind::Enum { options } = e.kind() {
                let opts: Vec<&str> =
                    options.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
                if let Some(s) = e.instance().as_str()
                    && let Some(best) = did_you_mean(s, opts.iter().copied())
                {
                    help = Some(format!("did you mean `{best}`?"));
                }
                msg = format!(
                    "{} is not one of {}",
                    e.instance(),
                    opts.iter().map(|o| format!("`{o}`")).collect::<Vec<_>>().join(", ")
                );
            }
            let msg = integral_floats(&msg);
            let field = polc_load::FieldPath::from_pointer(&pointer);
            let mut f = ctx.finding_at(Code::SchemaViolation, &pointer, format!("{}: {msg}", display_field(&field)));
            f.help = help;
            ctx.out.push(f);
        }
        unknown_fields(fields, value, &mut String::new(), true, ctx);
        ctx.out.len() == before
    }
}

/// `65535.0` -> `65535`: the CRD schema stores integer bounds as floats.
fn integral_floats(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'.'
            && i > 0
            && b[i - 1].is_ascii_digit()
            && b.get(i + 1) == Some(&b'0')
            && !b.get(i + 2).is_some_and(u8::is_ascii_digit)
        {
            i += 2;
            continue;
        }
        out.push(b[i] as char);
        i += 1;
    }
    if out.is_char_boundary(0) && s.is_ascii() { out } else { s.to_string() }
}

fn display_field(f: &polc_load::FieldPath) -> String {
    if f.0.is_empty() { "object".into() } else { format!("`{f}`") }
}

/// Append `key` to a JSON pointer, escaping `~` and `/` (RFC 6901) only when present.
fn push_escaped(pointer: &mut String, key: &str) {
    if key.contains(['~', '/']) {
        pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
    } else {
        pointer.push_str(key);
    }
}

fn unknown_fields(schema: &Fields, value: &Value, pointer: &mut String, root: bool, ctx: &mut Ctx<'_>) {
    match value {
        Value::Object(map) => {
            if schema.preserve_unknown {
                return;
            }
            for (k, v) in map {
                let len = pointer.len();
                pointer.push('/');
                push_escaped(pointer, k);
                if let Some(sub) = schema.prop(k) {
                    unknown_fields(sub, v, pointer, false, ctx);
                } else if let Some(sub) = &schema.additional {
                    unknown_fields(sub, v, pointer, false, ctx);
                } else if let Some((_, props)) = &schema.props
                    && !(root && matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
                {
                    let mut names: Vec<&str> = props.iter().map(|(n, _)| n.as_str()).collect();
                    if root {
                        names.extend(["apiVersion", "kind", "metadata"]);
                    }
                    let f = ctx.finding_at(Code::UnknownField, pointer, format!("unknown field `{k}`"));
                    let help = match did_you_mean(k, names.iter().copied()) {
                        Some(best) => format!("did you mean `{best}`?"),
                        None => {
                            names.sort_unstable();
                            format!("known fields here: {}", names.join(", "))
                        }
                    };
                    ctx.out.push(f.help(help));
                }
                pointer.truncate(len);
            }
        }
        Value::Array(items) => {
            if let Some(sub) = &schema.items {
                for (i, v) in items.iter().enumerate() {
                    let len = pointer.len();
                    pointer.push('/');
                    let _ = write!(pointer, "{i}");
                    unknown_fields(sub, v, pointer, false, ctx);
                    pointer.truncate(len);
                }
            }
        }
        _ => {}
    }
}

/// Make a finding for an object whose kind is not a polc kind.
pub(crate) fn unknown_kind(ctx: &Ctx<'_>, version: &str, kind: &str) -> Finding {
    let kinds = PolcKind::ALL.map(PolcKind::as_str);
    if version != polc_api::VERSION {
        return ctx
            .finding_at(Code::UnknownKind, "/apiVersion", format!("polc.dev has no version `{version}`"))
            .help(format!("use `apiVersion: {}`", polc_api::API_VERSION));
    }
    let f = ctx.finding_at(Code::UnknownKind, "/kind", format!("polc.dev/{version} has no kind `{kind}`"));
    match did_you_mean(kind, kinds) {
        Some(best) => f.help(format!("did you mean `{best}`?")),
        None => f.help(format!("known kinds: {}", kinds.join(", "))),
    }
}
