//! The finding codes: stable identifiers, default levels and explanations. This table
//! is the single source for `polc explain`, `docs/lint-codes.md` and SARIF rule
//! metadata.

use crate::Level;

/// A finding code and what it means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeInfo {
    /// The code, `P` and three digits.
    pub code: &'static str,
    /// A short kebab-case name.
    pub name: &'static str,
    /// Default level.
    pub level: Level,
    /// One line: what the finding says.
    pub summary: &'static str,
    /// Why it matters and how to fix it.
    pub explanation: &'static str,
}

macro_rules! codes {
    ($($id:ident = ($code:literal, $name:literal, $level:ident, $summary:literal, $expl:literal);)*) => {
        /// Every finding code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $(#[doc = $summary] $id,)*
        }
        impl Code {
            /// Every code, in order.
            pub const ALL: &'static [Code] = &[$(Code::$id,)*];
            /// The code's table entry.
            pub fn info(self) -> &'static CodeInfo {
                match self {
                    $(Code::$id => &CodeInfo { code: $code, name: $name, level: Level::$level, summary: $summary, explanation: $expl },)*
                }
            }
        }
    };
}

codes! {
    YamlSyntax = ("P001", "yaml-syntax", Error, "the file is not valid YAML",
        "The YAML parser stopped at the given position. Documents before the error are still linted; \
         documents after it are not, because YAML cannot be resynchronised after a syntax error. \
         Fix the syntax (often indentation, an unclosed quote or bracket, or a tab used for indentation).");
    DuplicateKey = ("P002", "duplicate-key", Error, "a mapping has the same key twice",
        "The Kubernetes API server rejects objects with duplicate keys, and tools disagree on which \
         value wins. Remove one of them; the message names the line of the first.");
    LimitExceeded = ("P003", "limit-exceeded", Error, "the input exceeds a loader limit",
        "polc bounds what one file may make it do: file size (16 MiB), nesting depth (128) and the \
         number of nodes after alias expansion (1,000,000, which stops 'billion laughs' alias bombs). \
         Kubernetes objects are far below these limits; split or simplify the file.");
    Unreadable = ("P004", "unreadable", Error, "the file cannot be read or is not UTF-8",
        "The path does not exist, cannot be read, or its bytes are not UTF-8 (YAML for Kubernetes must be \
         UTF-8). The position of the first invalid byte is given. polc exits with status 2 when a path \
         cannot be read at all.");
    EmptyFile = ("P005", "empty-file", Warning, "the file has no YAML documents",
        "The file is empty or holds only comments and document markers. Delete it, or add the object \
         it was meant to hold.");
    NotAnObject = ("P006", "not-an-object", Error, "a document is not a Kubernetes object",
        "Every document in a manifest repository should be a mapping with string `apiVersion` and `kind`. \
         `kubectl apply` rejects anything else.");
    UnsupportedYaml = ("P007", "unsupported-yaml", Error, "YAML that has no JSON meaning",
        "Kubernetes reads YAML as JSON: mapping keys must be scalars, `.inf`/`.nan` have no JSON form, \
         custom tags are not understood, and the merge key `<<` needs a mapping.");
    UnknownKind = ("P010", "unknown-kind", Error, "an object of group polc.dev with an unknown kind or version",
        "polc.dev/v1alpha1 has the kinds PreventionPolicy, RuntimePolicy and NetworkAccessPolicy. \
         A misspelt kind would be rejected by the API server (no such resource).");
    SchemaViolation = ("P011", "schema", Error, "the object does not match its CRD schema",
        "The value has the wrong type, is not one of the allowed values, is out of range or a required \
         field is missing. The check uses exactly the OpenAPI schema of the CRDs in `crds/`, so lint and \
         the API server agree.");
    UnknownField = ("P012", "unknown-field", Error, "a field that the schema does not have",
        "The API server silently drops unknown fields (or rejects them with strict field validation), so a \
         misspelt field such as `defaultActon` would leave the policy with its default. The help names the \
         closest known field.");
    Metadata = ("P013", "metadata", Error, "metadata.name is missing or not a valid Kubernetes name",
        "Policy names must be DNS subdomain names: at most 253 characters, dot-separated labels of lowercase \
         letters, digits and `-`, each starting and ending with a letter or digit.");
    DuplicateObject = ("P014", "duplicate-object", Warning, "the same object is defined twice",
        "Two manifests define a policy or a workload with the same kind, namespace and name (a manifest \
         without metadata.namespace is read as namespace `default`). Applied to one cluster, the later \
         replaces the earlier, so what is enforced depends on the order of apply. `polc compile` stops \
         when the two definitions would make different files for one target (for a workload, when other \
         policies select each definition). Keep one definition. For kustomize overlays, or directories \
         that each get their namespace at apply time, lint what `kustomize build` renders, or disable \
         P014 in `.polc.yaml`. A file named twice on the command line is read once.");
    InvalidPath = ("P020", "invalid-path", Error, "a path or glob that can never match",
        "The kernel checks resolved absolute paths: they start with `/` and never contain `.`, `..` or `//` segments. \
         Globs use `*` and `?` within a segment, `[a-z]` classes and `**` as a whole segment only.");
    OverBroad = ("P021", "over-broad", Warning, "a glob or directory that matches every path",
        "`/**`, `/*` or a recursive `/` matches everything. As a Block it stops the container from working; as an \
         Allow it hides every other rule of lower specificity. Narrow it, or use `defaultAction` to express a posture.");
    EmptySelector = ("P022", "empty-selector", Warning, "an empty selector selects every pod in the namespace",
        "`selector: {}` applies the policy to every pod in its namespace, including ones added later. If that is \
         intended, say so with a `matchExpressions` entry that documents it; otherwise select by label.");
    InvalidSelector = ("P023", "invalid-selector", Error, "a selector expression the API server rejects",
        "`In` and `NotIn` need values, `Exists` and `DoesNotExist` take none, and only those four operators exist.");
    DuplicateRule = ("P024", "duplicate-rule", Warning, "the same rule twice",
        "Two entries match the same thing with the same conditions and action. Remove one; events name only the first.");
    ShadowedRule = ("P025", "shadowed-rule", Warning, "a rule that never decides because another covers it",
        "Another rule matches everything this one does and wins by the precedence rule (most specific match; on equal \
         specificity Block > Audit > Allow), so this rule never applies. Remove it or make it more specific.");
    Contradiction = ("P026", "contradiction", Error, "the same match with different actions",
        "Two entries match the same thing under the same conditions but with different actions. By the precedence rule \
         the stronger action wins and the other entry is dead; decide which one is meant.");
    BlockUnreachable = ("P027", "block-unreachable", Error, "an Allow rule makes a Block rule unreachable",
        "A more specific Allow rule covers everything a Block rule matches, so the Block can never apply. This usually \
         means an allow-list entry is broader than intended.");
    RedundantRule = ("P028", "redundant-rule", Note, "a rule with the same action as the default",
        "The rule's action equals the section's `defaultAction` and it overrides no other rule, so removing it changes \
         nothing. Keeping it can still document intent.");
    EmptyRule = ("P029", "empty-rule", Error, "a rule with nothing to match",
        "A process rule needs `paths`, `dirs` or `comms`; a file rule `paths` or `dirs`; a network rule `cidrs`, \
         `ports` or `rawSockets`.");
    InvalidCidr = ("P030", "invalid-cidr", Error, "a CIDR that is malformed or has host bits set",
        "Write ranges as `address/prefix` with the host bits cleared (`10.0.0.0/8`, not `10.0.0.1/8`). A bare \
         address means a single host.");
    NeverMatches = ("P031", "never-matches", Error, "a network peer, port range or name that can never match",
        "Examples: an `except` outside its CIDR, `endPort` below `port`, a peer with no or several kinds, an FQDN on \
         ingress, or a `comm` longer than the 15 bytes the kernel keeps.");
    UnknownName = ("P032", "unknown-name", Error, "an unknown capability or system call",
        "Capabilities are written without `CAP_` (`NET_RAW`); system calls by their x86_64 name (`openat`). The help \
         names the closest known one.");
    DuplicateRuleName = ("P033", "duplicate-rule-name", Error, "two rules share a name",
        "Rule names are part of the stable rule id that events and reports carry; they must be unique within a policy.");
    HttpRule = ("P034", "http-rule", Error, "L7 HTTP rules without ports or on a non-Allow rule",
        "L7 rules narrow an Allow: they need the ports the HTTP traffic uses, and cannot be used to deny (Cilium \
         does not allow L7 rules in deny policies).");
    SelectsNothing = ("P035", "selects-nothing", Warning, "a policy selects no workload in its namespace",
        "Workload manifests for the policy's namespace were linted too, and none has pod labels the selector matches. \
         Check the labels (selectors match pod template labels, not the workload's own labels).");
    CrossPolicyConflict = ("P036", "cross-policy-conflict", Warning, "a rule never decides because of a rule in another policy",
        "For at least one workload two policies apply, and a rule of one covers and beats a rule of the other by the \
         precedence rule.");
    UnknownContainer = ("P037", "unknown-container", Warning, "a container name that no selected workload has",
        "The policy lists containers by name, and none of the workloads it selects has a container of that name.");
    InvalidFqdn = ("P038", "invalid-fqdn", Error, "an FQDN that is not a valid DNS name or pattern",
        "FQDNs are lowercase DNS names (`api.example.com`); patterns use `*` (`*.example.com`).");
    Unselected = ("P040", "unselected-workload", Warning, "a workload that no polc policy selects",
        "No PreventionPolicy or RuntimePolicy in the linted paths selects this workload's pods, so nothing contains it \
         at runtime.");
    Privileged = ("P041", "privileged", Warning, "a privileged container",
        "A privileged container has every capability and the host's devices; an escape is one step away. Drop \
         `privileged: true`. Reported as a note when a polc policy selects the workload.");
    HostNamespaces = ("P042", "host-namespaces", Warning, "hostPID, hostNetwork or hostIPC",
        "Sharing the host's namespaces exposes host processes and network. Reported as a note when a polc policy \
         selects the workload.");
    SensitiveHostPath = ("P043", "sensitive-host-path", Warning, "a hostPath mount of a sensitive path",
        "Mounting `/`, `/proc`, `/etc`, `/var/run/docker.sock` (or the containerd/CRI-O sockets) gives the container \
         control of the node. Reported as a note when a polc policy selects the workload.");
    PrivilegeEscalation = ("P044", "privilege-escalation", Warning, "allowPrivilegeEscalation is not false",
        "Without `allowPrivilegeEscalation: false`, setuid binaries can gain privileges. Reported as a note when a \
         polc policy selects the workload.");
    NoSeccomp = ("P045", "no-seccomp", Warning, "no seccomp profile",
        "Neither the pod nor the container sets `securityContext.seccompProfile`; the container runs unconfined unless \
         the kubelet default is on. A RuntimePolicy with a syscall baseline compiles to a profile. Reported as a note \
         when a polc policy selects the workload.");
    OrgRule = ("P050", "org-rule", Warning, "an organisation rule (CEL) failed",
        "A rule from the repository's `.polc.yaml` evaluated to false, or could not be evaluated, for this policy. The \
         rule's name and message are shown; its level comes from the config.");
    Config = ("P051", "config", Error, "the lint configuration is invalid",
        "`.polc.yaml` could not be read, has an unknown field, or a CEL expression does not compile. polc exits with \
         status 2.");
}

impl Code {
    /// Look a code up by its `P0xx` string (case-insensitive) or name.
    pub fn parse(s: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.info().code.eq_ignore_ascii_case(s) || c.info().name == s)
    }

    /// The `P0xx` string.
    pub fn as_str(self) -> &'static str {
        self.info().code
    }
}

/// `docs/lint-codes.md`, generated from the table.
pub fn markdown() -> String {
    let mut s = String::from(
        "# polc lint finding codes\n\n<!-- generated by `polc explain --all --markdown`; a test fails when this file drifts -->\n\n\
         Every finding has a stable code. `polc explain CODE` prints the same text. Levels are defaults; \
         `.polc.yaml` can change them (`levels:`) or turn codes off (`disable:`).\n\n| code | name | level | summary |\n|---|---|---|---|\n",
    );
    for c in Code::ALL {
        let i = c.info();
        s.push_str(&format!(
            "| [{}](#{}) | {} | {} | {} |\n",
            i.code,
            i.code.to_lowercase(),
            i.name,
            i.level.as_str(),
            i.summary
        ));
    }
    for c in Code::ALL {
        let i = c.info();
        s.push_str(&format!(
            "\n## {}\n\n**{}** ({}): {}.\n\n{}\n",
            i.code,
            i.name,
            i.level.as_str(),
            i.summary,
            i.explanation
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = HashSet::new();
        for c in Code::ALL {
            let i = c.info();
            assert!(seen.insert(i.code), "{}", i.code);
            assert!(seen.insert(i.name), "{}", i.name);
            assert!(i.code.len() == 4 && i.code.starts_with('P') && i.code[1..].bytes().all(|b| b.is_ascii_digit()));
            assert_eq!(Code::parse(i.code), Some(*c));
            assert_eq!(Code::parse(i.name), Some(*c));
        }
    }
}
