//! Loading of policy repositories: files, directories and stdin, multi-document YAML,
//! with the line and column of every node kept beside its JSON value.
//!
//! Kubernetes treats YAML as a spelling of JSON, so this crate produces
//! `serde_json::Value`s (what schema validation and typed decoding want) together with
//! a [`SpanTree`] of the same shape that says where each value and key was written.
//! Hostile input is bounded: file size, nesting depth and alias expansion have
//! limits, duplicate keys are errors, and nothing here panics on bad bytes.

mod error;
mod fast;
mod object;
mod scalar;
mod source;
mod span;
mod yaml;

pub use error::{LoadError, LoadErrorKind};
pub use object::{Object, ObjectClass, WorkloadKind, classify};
pub use source::{Input, RawInput, SourceFile, load_input, load_many, read_inputs, read_raw, read_raw_except};
pub use span::{FieldPath, PathSeg, Span, SpanTree, pointer};
pub use yaml::{Document, Limits, parse_documents, parse_documents_fast, parse_documents_yaml_rust2};
