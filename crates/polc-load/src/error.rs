//! Errors of loading: every one names where it happened.

use crate::{FieldPath, Span};

/// A load error at a position in a file (or at the file as a whole).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    /// Where in the file; `None` when the error concerns the whole file.
    pub span: Option<Span>,
    /// The field being read when the error happened (empty at document level).
    pub field: FieldPath,
    /// What went wrong.
    pub kind: LoadErrorKind,
}

/// What went wrong while loading.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoadErrorKind {
    /// The path could not be read.
    #[error("cannot read: {message}")]
    Io {
        /// The operating system's message.
        message: String,
    },
    /// The file is larger than the limit.
    #[error("file is over the limit of {max} bytes ({size} bytes read)")]
    TooLarge {
        /// Size of the file.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The bytes are not UTF-8.
    #[error("invalid UTF-8 at byte offset {offset}")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// The YAML is malformed.
    #[error("YAML syntax error: {message}")]
    Syntax {
        /// The parser's message.
        message: String,
    },
    /// A mapping has the same key twice.
    #[error("duplicate key `{key}` (first defined at line {first_line})")]
    DuplicateKey {
        /// The key.
        key: String,
        /// Line of the first definition.
        first_line: u32,
    },
    /// Nesting deeper than the limit.
    #[error("nesting deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// Aliases expand to more nodes than the limit (an alias bomb).
    #[error("aliases expand to more than {max} nodes (alias bomb?)")]
    AliasBomb {
        /// The limit.
        max: usize,
    },
    /// An alias names an anchor that was not defined before it.
    #[error("alias refers to an undefined anchor")]
    UnknownAnchor,
    /// A mapping key is a mapping or sequence; JSON keys are strings.
    #[error("mapping keys must be scalars, found a {found}")]
    ComplexKey {
        /// What was found.
        found: &'static str,
    },
    /// A value that JSON cannot represent (`.inf`, `.nan`).
    #[error("`{text}` cannot be represented in JSON")]
    NotJson {
        /// The scalar as written.
        text: String,
    },
    /// A tag polc does not understand.
    #[error("unsupported tag `{tag}`")]
    UnsupportedTag {
        /// The tag as written.
        tag: String,
    },
    /// A scalar tagged with a type it does not have (`!!int abc`).
    #[error("`{text}` is not a valid {tag}")]
    BadTaggedScalar {
        /// The scalar.
        text: String,
        /// The tag.
        tag: &'static str,
    },
    /// The merge key `<<` has a value that is not a mapping or a list of mappings.
    #[error("merge key `<<` needs a mapping or a list of mappings")]
    BadMerge,
}
