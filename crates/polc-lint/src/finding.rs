//! Findings: what lint reports, where, and how sure.

use crate::codes::Code;
use polc_load::Span;

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Worth knowing; never fails a build unless asked.
    Note,
    /// Probably a mistake.
    Warning,
    /// Certainly wrong: the policy will not do what it says.
    Error,
}

impl Level {
    /// The level's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Note => "note",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// A secondary location that explains a finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Related {
    /// File.
    pub file: String,
    /// Position.
    pub span: Option<Span>,
    /// What is there.
    pub message: String,
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Stable code.
    pub code: Code,
    /// Level (the code's default unless configured).
    pub level: Level,
    /// What is wrong, in one sentence.
    pub message: String,
    /// File, as named on the command line or reached from it.
    pub file: String,
    /// Position of the offending field, when known.
    pub span: Option<Span>,
    /// Field path (`spec.process[0].paths[1]`), empty at file or document level.
    pub field: String,
    /// The object, as `Kind namespace/name`, when the finding is about one.
    pub object: Option<String>,
    /// How to fix it.
    pub help: Option<String>,
    /// Other places involved.
    pub related: Vec<Related>,
}

impl Finding {
    /// A finding at the code's default level.
    pub fn new(code: Code, file: &str, span: Option<Span>, message: impl Into<String>) -> Finding {
        Finding {
            code,
            level: code.info().level,
            message: message.into(),
            file: file.to_string(),
            span,
            field: String::new(),
            object: None,
            help: None,
            related: Vec::new(),
        }
    }

    /// With a help line.
    pub fn help(mut self, help: impl Into<String>) -> Finding {
        self.help = Some(help.into());
        self
    }

    /// With a level.
    pub fn level(mut self, level: Level) -> Finding {
        self.level = level;
        self
    }

    /// Sort key: file, position, code.
    pub fn sort_key(&self) -> (&str, Option<Span>, Code, &str) {
        (&self.file, self.span, self.code, &self.message)
    }
}

/// The closest candidate to `word`, when one is close enough to be a likely typo.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = if c.to_ascii_lowercase() == lower { 0 } else { strsim::damerau_levenshtein(word, c) };
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    let limit = (word.chars().count() / 3).max(1);
    best.filter(|(d, _)| *d <= limit).map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let fields = ["defaultAction", "mode", "selector", "process"];
        assert_eq!(did_you_mean("defaultActon", fields), Some("defaultAction"));
        assert_eq!(did_you_mean("DefaultAction", fields), Some("defaultAction"));
        assert_eq!(did_you_mean("proces", fields), Some("process"));
        assert_eq!(did_you_mean("zzzzzz", fields), None);
    }
}
