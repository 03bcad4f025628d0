//! polc's compiler core: policies in, intermediate form out. Pure: no I/O, no
//! Kubernetes client, no eBPF loader.
//!
//! [`ir`] lowers each policy kind to rules with one matcher each; [`precedence`] holds
//! the single precedence rule and the shadowing analysis built on it; [`pattern`] and
//! [`cidr`] are the matchers; [`selector`] evaluates label selectors; [`tables`] has
//! the kernel's syscall and capability tables.

pub mod backend;
pub mod cidr;
pub mod ir;
pub mod model;
pub mod pattern;
pub mod plan;
pub mod precedence;
pub mod report;
pub mod selector;
pub mod tables;
pub mod text;
