//! Kernel events into violation records.
//!
//! A `polc_event` (336 bytes, `polc_abi::Event`) is decoded in place: the record
//! borrows the comm and path from the ring buffer bytes and the policy, rule, source
//! line and container from the [`Catalog`] of loaded bundles, so decoding allocates
//! nothing (benches/events.rs measures it).

use polc_abi::{COMM_LEN, EVENT_PATH_MAX, Event, Op, action, event_flags};
use polc_api::Severity;
use polc_compiler::backend::bpf::bundle::{Bundle, RuleInfo};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `AF_INET`.
pub const AF_INET: u8 = 2;
/// `AF_INET6`.
pub const AF_INET6: u8 = 10;

/// What a bundle says about one slot, for naming events.
#[derive(Clone, Debug, Default)]
pub struct SlotInfo {
    /// `namespace/kind/name/container` of the plan.
    pub target: String,
    /// Rules by id.
    pub rules: HashMap<u32, RuleInfo>,
    /// Policies behind the default of each op (`, `-joined), by op number.
    pub defaults: Vec<String>,
    /// The JSON text of each rule's fixed fields, rendered once (by id).
    pub rule_json: HashMap<u32, RuleJson>,
}

/// A rule's fixed fields as JSON text, rendered when the bundle is catalogued so that
/// a record only copies them (the escaping is most of a record's formatting cost).
#[derive(Clone, Debug, Default)]
pub struct RuleJson {
    /// The `policy` value: a JSON string.
    pub policy: Box<str>,
    /// `,"rule":..,"section":..,"matches":..,"source":..,"message":..,"tags":[..]`.
    pub fields: Box<str>,
}

/// The loaded bundles by slot.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    slots: HashMap<u16, SlotInfo>,
    /// The Kubernetes containers of bound cgroups, by cgroup id.
    pods: HashMap<u64, PodRef>,
}

/// The Kubernetes container a cgroup belongs to, as the last `polc agent apply
/// --pods` (or `polc agent watch`) bound it (`State::write_pods`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodRef {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
    /// The pod's UID.
    pub uid: String,
    /// The container's name.
    pub container: String,
    /// The runtime's container id (64 hexadecimal digits; empty when not known).
    pub container_id: String,
}

impl Catalog {
    /// Remember `bundle` as the policy of `slot`.
    pub fn insert(&mut self, slot: u16, bundle: &Bundle) {
        let mut defaults = vec![String::new(); Op::ALL.len()];
        for d in &bundle.defaults {
            if let Some(s) = defaults.get_mut(d.op as usize) {
                *s = d.policies.join(", ");
            }
        }
        let rules = bundle.rules.iter().map(|r| (r.id, r.clone())).collect();
        let rule_json = bundle.rules.iter().map(|r| (r.id, crate::format::rule_json(r))).collect();
        self.slots.insert(slot, SlotInfo { target: bundle.target.clone(), rules, defaults, rule_json });
    }

    /// The Kubernetes containers of the bound cgroups (replacing those known).
    pub fn set_pods(&mut self, pods: impl IntoIterator<Item = (u64, PodRef)>) {
        self.pods = pods.into_iter().collect();
    }

    /// The Kubernetes container of a cgroup, when known.
    pub fn pod(&self, cgroup_id: u64) -> Option<&PodRef> {
        self.pods.get(&cgroup_id)
    }

    /// Forget a slot.
    pub fn remove(&mut self, slot: u16) {
        self.slots.remove(&slot);
    }

    /// The slot's information.
    pub fn slot(&self, slot: u16) -> Option<&SlotInfo> {
        self.slots.get(&slot)
    }

    /// Number of slots known.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// No slot known?
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// What the event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Object<'a> {
    /// A file (exec, read, write): the path bytes as the kernel resolved them.
    Path(&'a [u8]),
    /// A network peer.
    Peer {
        /// Address.
        addr: IpAddr,
        /// Port (host order).
        port: u16,
        /// IP protocol number.
        proto: u8,
    },
    /// A capability number.
    Capability(u32),
    /// Nothing more (raw sockets, or a network event without an address).
    None,
}

/// One decoded event, named.
#[derive(Clone, Copy, Debug)]
pub struct Violation<'a> {
    /// `bpf_ktime_get_ns` (CLOCK_MONOTONIC).
    pub ktime_ns: u64,
    /// cgroup id.
    pub cgroup_id: u64,
    /// Process id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Parent process id.
    pub ppid: u32,
    /// The op number (see `op` for the decoded one).
    pub op_raw: u8,
    /// The op.
    pub op: Option<Op>,
    /// `polc_abi::action`.
    pub action: u8,
    /// `polc_abi::event_flags`.
    pub flags: u8,
    /// Policy id (`POLC_POLICY_ID(generation, slot)`).
    pub policy_id: u32,
    /// Deciding rule id (0: the op's default).
    pub rule_id: u32,
    /// The rule's fixed fields as JSON, when the catalog knows the rule.
    pub rule_json: Option<&'a RuleJson>,
    /// The rule, when the catalog knows it.
    pub rule: Option<&'a RuleInfo>,
    /// The slot's target, when the catalog knows the slot.
    pub target: Option<&'a str>,
    /// The Kubernetes container of the cgroup, when the catalog knows it.
    pub pod: Option<&'a PodRef>,
    /// For a default decision: the policies behind the default.
    pub default_policies: Option<&'a str>,
    /// comm bytes (no NUL).
    pub comm: &'a [u8],
    /// What was accessed.
    pub object: Object<'a>,
    /// Full path length the kernel saw (for cut paths).
    pub path_len: u16,
}

/// Why bytes are not an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// A record of another size.
    #[error("a ring buffer record of {0} bytes is not a polc_event ({size} bytes)", size = Event::SIZE)]
    Size(usize),
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}
fn until_nul(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |n| &b[..n])
}

// Field offsets, checked against the ABI struct.
const OFF_TS: usize = core::mem::offset_of!(Event, ts_ns);
const OFF_CGROUP: usize = core::mem::offset_of!(Event, cgroup_id);
const OFF_PID: usize = core::mem::offset_of!(Event, pid);
const OFF_TID: usize = core::mem::offset_of!(Event, tid);
const OFF_PPID: usize = core::mem::offset_of!(Event, ppid);
const OFF_RULE: usize = core::mem::offset_of!(Event, rule_id);
const OFF_POLICY: usize = core::mem::offset_of!(Event, policy);
const OFF_AUX: usize = core::mem::offset_of!(Event, aux);
const OFF_PATH_LEN: usize = core::mem::offset_of!(Event, path_len);
const OFF_OP: usize = core::mem::offset_of!(Event, op);
const OFF_ACTION: usize = core::mem::offset_of!(Event, action);
const OFF_FLAGS: usize = core::mem::offset_of!(Event, flags);
const OFF_FAMILY: usize = core::mem::offset_of!(Event, family);
const OFF_ADDR: usize = core::mem::offset_of!(Event, addr);
const OFF_COMM: usize = core::mem::offset_of!(Event, comm);
const OFF_PATH: usize = core::mem::offset_of!(Event, path);

/// Decode one ring buffer record and name it from `catalog`.
///
/// # Errors
/// [`EventError::Size`] when `b` is not exactly one `polc_event`.
pub fn decode<'a>(b: &'a [u8], catalog: &'a Catalog) -> Result<Violation<'a>, EventError> {
    if b.len() != Event::SIZE {
        return Err(EventError::Size(b.len()));
    }
    let op_raw = b[OFF_OP];
    let op = Op::from_u8(op_raw);
    let policy_id = u32_at(b, OFF_POLICY);
    let rule_id = u32_at(b, OFF_RULE);
    let slot = catalog.slot(crate::policy::slot_of(policy_id));
    let aux = u32_at(b, OFF_AUX);
    let object = match op {
        Some(Op::Exec | Op::Read | Op::Write) => Object::Path(until_nul(&b[OFF_PATH..OFF_PATH + EVENT_PATH_MAX])),
        Some(Op::Capability) => Object::Capability(aux),
        Some(Op::Connect | Op::Accept | Op::NapConnect | Op::NapAccept) => {
            let a = &b[OFF_ADDR..OFF_ADDR + 16];
            let addr = match b[OFF_FAMILY] {
                AF_INET => Some(IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))),
                AF_INET6 => {
                    let mut x = [0u8; 16];
                    x.copy_from_slice(a);
                    Some(IpAddr::V6(Ipv6Addr::from(x)))
                }
                _ => None,
            };
            match addr {
                Some(addr) => Object::Peer { addr, port: (aux & 0xffff) as u16, proto: ((aux >> 16) & 0xff) as u8 },
                None => Object::None,
            }
        }
        Some(Op::RawSocket) | None => Object::None,
    };
    let rule = if rule_id == 0 { None } else { slot.and_then(|s| s.rules.get(&rule_id)) };
    let rule_json = if rule.is_some() { slot.and_then(|s| s.rule_json.get(&rule_id)) } else { None };
    let default_policies =
        if rule_id == 0 { slot.and_then(|s| s.defaults.get(usize::from(op_raw))).map(String::as_str) } else { None };
    let cgroup_id = u64_at(b, OFF_CGROUP);
    Ok(Violation {
        ktime_ns: u64_at(b, OFF_TS),
        cgroup_id,
        pod: catalog.pod(cgroup_id),
        pid: u32_at(b, OFF_PID),
        tid: u32_at(b, OFF_TID),
        ppid: u32_at(b, OFF_PPID),
        op_raw,
        op,
        action: b[OFF_ACTION],
        flags: b[OFF_FLAGS],
        policy_id,
        rule_id,
        rule,
        rule_json,
        target: slot.map(|s| s.target.as_str()),
        default_policies,
        comm: until_nul(&b[OFF_COMM..OFF_COMM + COMM_LEN]),
        object,
        path_len: u16_at(b, OFF_PATH_LEN),
    })
}

impl Violation<'_> {
    /// The action's name.
    pub fn action_name(&self) -> &'static str {
        match self.action {
            action::ALLOW => "allow",
            action::AUDIT => "audit",
            action::BLOCK => "block",
            _ => "unknown",
        }
    }

    /// The op's name.
    pub fn op_name(&self) -> &'static str {
        self.op.map_or("unknown", Op::name)
    }

    /// Did the op's default decide (no rule matched)?
    pub fn is_default(&self) -> bool {
        self.rule_id == 0 || self.flags & event_flags::DEFAULT != 0
    }

    /// The severity: the rule's; for a default decision, high for a block and medium
    /// otherwise.
    pub fn severity(&self) -> Severity {
        match self.rule {
            Some(r) => r.severity,
            None if self.action == action::BLOCK => Severity::High,
            None => Severity::Medium,
        }
    }

    /// The slot of the policy id.
    pub fn slot(&self) -> u16 {
        crate::policy::slot_of(self.policy_id)
    }
}

/// The name of an IP protocol number.
pub fn proto_name(p: u8) -> &'static str {
    match p {
        polc_abi::proto::TCP => "tcp",
        polc_abi::proto::UDP => "udp",
        polc_abi::proto::SCTP => "sctp",
        0 => "any",
        _ => "other",
    }
}

/// Build the bytes of an event (for tests, benches and simulations).
pub fn encode(e: &Event) -> Vec<u8> {
    e.to_bytes().to_vec()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use polc_abi::policy_id;
    use polc_api::Action;
    use polc_compiler::backend::bpf::bundle::OpDefault;

    pub(crate) fn catalog() -> Catalog {
        let rule = RuleInfo {
            id: 77,
            policy: "PreventionPolicy shop/no-shells".into(),
            rule: "block-shells".into(),
            section: "process".into(),
            action: Action::Block,
            effective: Action::Block,
            severity: Severity::Critical,
            matches: "/bin/sh".into(),
            source: "policies/no-shells.yaml:12:7".into(),
            message: "no shells | here = bad\nreally".into(),
            tags: vec!["mitre:T1059".into()],
        };
        let b = Bundle {
            target: "shop/Deployment/carts/carts".into(),
            slot: 9,
            policies: vec!["PreventionPolicy shop/no-shells".into()],
            maps: vec![],
            rules: vec![rule],
            defaults: vec![OpDefault {
                op: Op::Connect,
                action: Action::Block,
                policies: vec!["RuntimePolicy shop/carts".into()],
            }],
        };
        let mut c = Catalog::default();
        c.insert(3, &b);
        c
    }

    pub(crate) fn exec_event() -> Event {
        let mut e = Event::zeroed();
        e.ts_ns = 5_000_000_123;
        e.cgroup_id = 4242;
        e.pid = 100;
        e.tid = 101;
        e.ppid = 1;
        e.rule_id = 77;
        e.policy = policy_id(4, 3);
        e.op = Op::Exec as u8;
        e.action = action::BLOCK;
        e.comm[..4].copy_from_slice(b"bash");
        e.path[..7].copy_from_slice(b"/bin/sh");
        e.path_len = 7;
        e
    }

    #[test]
    fn exec_event_is_named_from_the_bundle() {
        let c = catalog();
        let bytes = encode(&exec_event());
        let v = decode(&bytes, &c);
        let Ok(v) = v else { panic!("{v:?}") };
        assert_eq!((v.pid, v.tid, v.ppid, v.cgroup_id, v.ktime_ns), (100, 101, 1, 4242, 5_000_000_123));
        assert_eq!(v.op, Some(Op::Exec));
        assert_eq!(v.action_name(), "block");
        assert_eq!(v.comm, b"bash");
        assert_eq!(v.object, Object::Path(b"/bin/sh"));
        assert_eq!(v.rule.map(|r| r.source.as_str()), Some("policies/no-shells.yaml:12:7"));
        assert_eq!(v.target, Some("shop/Deployment/carts/carts"));
        assert_eq!(v.slot(), 3);
        assert!(!v.is_default());
    }

    #[test]
    fn network_default_event() {
        let c = catalog();
        let mut e = exec_event();
        e.op = Op::Connect as u8;
        e.rule_id = 0;
        e.flags = event_flags::DEFAULT;
        e.family = AF_INET6;
        e.addr = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        e.aux = 443 | (6 << 16);
        let bytes = encode(&e);
        let Ok(v) = decode(&bytes, &c) else { panic!("decode") };
        assert_eq!(
            v.object,
            Object::Peer {
                addr: "2001:db8::1".parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                port: 443,
                proto: 6
            }
        );
        assert!(v.is_default() && v.rule.is_none());
        assert_eq!(v.default_policies, Some("RuntimePolicy shop/carts"));
        assert_eq!(v.severity(), Severity::High);
        e.family = AF_INET;
        e.addr[..4].copy_from_slice(&[169, 254, 169, 254]);
        let bytes = encode(&e);
        let Ok(v) = decode(&bytes, &c) else { panic!("decode") };
        assert_eq!(v.object, Object::Peer { addr: IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)), port: 443, proto: 6 });
    }

    #[test]
    fn unknown_slots_ops_and_sizes() {
        let c = catalog();
        let mut e = exec_event();
        e.policy = policy_id(1, 99);
        e.op = 200;
        e.comm = [b'x'; 16];
        let bytes = encode(&e);
        let Ok(v) = decode(&bytes, &c) else { panic!("decode") };
        assert!(v.rule.is_none() && v.target.is_none());
        assert_eq!(v.op_name(), "unknown");
        assert_eq!(v.comm.len(), 16, "a comm without NUL is kept whole");
        assert_eq!(decode(&bytes[..300], &c).err(), Some(EventError::Size(300)));
        assert_eq!(decode(&[], &c).err(), Some(EventError::Size(0)));
    }
}
