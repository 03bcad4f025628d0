//! Event decoding throughput: `polc_event` records (as the ring buffer hands them
//! over) decoded into named violation records, against a baseline of copying the
//! same raw bytes, measured in the same process.
//!
//! Run: `cargo bench -p polc-agent --bench events` (optional argument: events per
//! pass, default 1,000,000). Prints events/s for: the baseline copy, decode only,
//! decode + JSON line, decode + CEF line.

use polc_abi::{Event, Op, action, policy_id};
use polc_agent::events::{Catalog, decode, encode};
use polc_agent::format::{self, Clock, Format};
use polc_api::{Action, Severity};
use polc_compiler::backend::bpf::bundle::{Bundle, OpDefault, RuleInfo};
use std::hint::black_box;
use std::time::Instant;

fn catalog() -> Catalog {
    let rules = (1..=200u32)
        .map(|id| RuleInfo {
            id,
            policy: "PreventionPolicy shop/baseline".into(),
            rule: format!("rule-{id}"),
            section: "file".into(),
            action: Action::Block,
            effective: Action::Block,
            severity: Severity::High,
            matches: format!("/srv/data/{id}/**"),
            source: format!("policies/baseline.yaml:{}:7", 10 + id),
            message: "access outside the baseline".into(),
            tags: vec!["T1005".into()],
        })
        .collect();
    let b = Bundle {
        target: "shop/Deployment/carts/carts".into(),
        slot: 7,
        policies: vec!["PreventionPolicy shop/baseline".into()],
        maps: vec![],
        rules,
        defaults: vec![OpDefault {
            op: Op::Connect,
            action: Action::Block,
            policies: vec!["RuntimePolicy shop/carts".into()],
        }],
    };
    let mut c = Catalog::default();
    c.insert(7, &b);
    c
}

/// A mix of events: file opens with paths of varied length, execs, connects.
fn records(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut e = Event::zeroed();
            e.ts_ns = 1_000_000 + i as u64;
            e.cgroup_id = 4242;
            e.pid = 1000 + (i % 50) as u32;
            e.tid = e.pid;
            e.ppid = 1;
            e.policy = policy_id(3, 7);
            e.comm[..4].copy_from_slice(b"java");
            match i % 4 {
                0 | 1 => {
                    e.op = Op::Read as u8;
                    e.action = action::AUDIT;
                    e.rule_id = (i % 200) as u32 + 1;
                    let p = format!("/srv/data/{}/{}/file-{i}.bin", i % 200, "x".repeat(i % 60));
                    e.path[..p.len()].copy_from_slice(p.as_bytes());
                    e.path_len = p.len() as u16;
                }
                2 => {
                    e.op = Op::Exec as u8;
                    e.action = action::BLOCK;
                    e.rule_id = 5;
                    e.path[..13].copy_from_slice(b"/usr/bin/bash");
                    e.path_len = 13;
                }
                _ => {
                    e.op = Op::Connect as u8;
                    e.action = action::BLOCK;
                    e.family = polc_agent::events::AF_INET;
                    e.addr[..4].copy_from_slice(&[169, 254, 169, 254]);
                    e.aux = 80 | (6 << 16);
                }
            }
            encode(&e)
        })
        .collect()
}

fn rate(n: usize, f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    n as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1_000_000);
    let cat = catalog();
    let recs = records(n);
    let clock = Clock { boot_epoch_ns: 1_700_000_000_000_000_000 };
    let mut best = [0f64; 4];
    for _ in 0..5 {
        // Baseline: copy each record's bytes out of the buffer, as the cheapest consumer would.
        let mut scratch = [0u8; Event::SIZE];
        let copy = rate(n, || {
            for r in &recs {
                scratch.copy_from_slice(black_box(r));
                black_box(&scratch);
            }
        });
        let decoded = rate(n, || {
            for r in &recs {
                let _ = black_box(decode(black_box(r), &cat));
            }
        });
        let mut buf = String::with_capacity(1024);
        let json = rate(n, || {
            for r in &recs {
                if let Ok(v) = decode(r, &cat) {
                    buf.clear();
                    format::write(&mut buf, Format::Json, &v, &clock);
                    black_box(&buf);
                }
            }
        });
        let cef = rate(n, || {
            for r in &recs {
                if let Ok(v) = decode(r, &cat) {
                    buf.clear();
                    format::write(&mut buf, Format::Cef, &v, &clock);
                    black_box(&buf);
                }
            }
        });
        for (b, x) in best.iter_mut().zip([copy, decoded, json, cef]) {
            *b = b.max(x);
        }
    }
    let [copy, decoded, json, cef] = best;
    println!("events per pass: {n} ({} bytes each); best of 5 passes", Event::SIZE);
    println!("baseline copy:        {:>12.0} events/s", copy);
    println!("decode:               {:>12.0} events/s  ({:.2}x the copy time)", decoded, copy / decoded);
    println!("decode + JSON line:   {:>12.0} events/s  ({:.2}x the copy time)", json, copy / json);
    println!("decode + CEF line:    {:>12.0} events/s  ({:.2}x the copy time)", cef, copy / cef);
}
