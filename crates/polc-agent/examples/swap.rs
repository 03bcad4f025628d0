//! Policy swap under load, for the VM tests: load bundle A into a free slot, bind a
//! cgroup to it, then switch the slot between bundles B and A as fast as possible,
//! N times, each switch one generation flip; then unload and unbind.
//!
//! ```text
//! cargo build -p polc-agent --example swap
//! target/debug/examples/swap A.bundle B.bundle --flips 1000 --cgroup /sys/fs/cgroup/load
//! ```
//!
//! `polc compile --target bpf-lsm` writes the bundles (`bpf-lsm/*.bundle`). Prints
//! the flips per second and the entries each flip wrote, and the open cache's
//! counters before the first flip and after the last (the cache is turned on where
//! the kernel allows it, so that the loop's opens are remembered between flips).
//! Exit status 0 when every flip succeeded, 2 on an error (printed).

use polc_agent::loader::Loaded;
use polc_agent::policy;
use polc_agent::store::MapStore as _;
use polc_compiler::backend::bpf::bundle::Bundle;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn read(path: &Path) -> Result<Bundle, polc_agent::Error> {
    let bytes = std::fs::read(path).map_err(|source| polc_agent::Error::Io { path: path.into(), source })?;
    Bundle::decode(&bytes).map_err(|source| polc_agent::Error::Bundle { path: path.into(), source })
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut files = Vec::new();
    let mut flips = 1000usize;
    let mut cgroup: Option<PathBuf> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--flips" => flips = args.next().and_then(|n| n.parse().ok()).ok_or("--flips needs a number")?,
            "--cgroup" => cgroup = Some(args.next().ok_or("--cgroup needs a directory")?.into()),
            _ => files.push(PathBuf::from(a)),
        }
    }
    let [a, b] = files.as_slice() else {
        return Err("usage: swap A.bundle B.bundle [--flips N] [--cgroup DIR]".into());
    };
    let (a, b) = (read(a)?, read(b)?);
    let (mut loaded, cache) = Loaded::open_with(Path::new(polc_agent::PIN_DIR), true)?;
    println!("open cache: {cache}");
    let cg_id = cgroup.as_deref().map(polc_agent::cgroup::id).transpose()?;
    let slot = {
        let _lock = loaded.lock()?;
        let used = policy::used_slots(&loaded.maps)?;
        let slot = policy::pick_slot(&used, a.slot).ok_or("no free slot")?;
        policy::apply(&mut loaded.maps, &[(slot, Some(&a))])?;
        if let Some(id) = cg_id {
            policy::bind(&mut loaded.maps, id, slot)?;
        }
        slot
    };
    let before = loaded.maps.cache_stats()?;
    let start = std::time::Instant::now();
    let mut written = 0usize;
    let mut result = Ok(());
    for i in 0..flips {
        let next = if i % 2 == 0 { &b } else { &a };
        let _lock = loaded.lock()?;
        match policy::apply(&mut loaded.maps, &[(slot, Some(next))]) {
            Ok(done) => written += done.written,
            Err(e) => {
                result = Err(format!("flip {i}: {}", polc_agent::error_chain(&e)));
                break;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let after = loaded.maps.cache_stats()?;
    println!(
        "open cache during the flips: hits {} stale {}",
        after.hits.wrapping_sub(before.hits),
        after.stale.wrapping_sub(before.stale)
    );
    {
        let _lock = loaded.lock()?;
        if let Some(id) = cg_id {
            loaded.maps.unbind(id)?;
        }
        policy::apply(&mut loaded.maps, &[(slot, None)])?;
    }
    println!(
        "slot {slot}: {flips} flips in {secs:.3} s ({:.0} flips/s, {} entries written per flip on average)",
        flips as f64 / secs,
        written / flips.max(1)
    );
    result.map_err(Into::into)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("swap: {}", polc_agent::error_chain(&*e));
            ExitCode::from(2)
        }
    }
}
