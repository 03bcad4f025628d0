//! The event reader: a plain thread that drains `polc_events` and hands each record
//! to a callback. No async runtime: when the ring buffer is empty the thread sleeps
//! (1 ms, doubling up to 50 ms while it stays empty), which keeps the latency of a
//! violation report low and the idle cost negligible.

use crate::ring::Ring;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Drain `ring` until `stop` is set, calling `f` with each record's bytes. After
/// `stop` is set the buffer is drained once more, so events of the last moments are
/// not lost.
pub fn run(ring: Ring, stop: Arc<AtomicBool>, f: impl FnMut(&[u8])) {
    run_batched(ring, stop, f, || {});
}

/// [`run`], calling `batch_end` after every drain that handed over records: the place
/// to flush buffered output (one write per batch instead of one per record) and to do
/// periodic work off the per-record path.
pub fn run_batched(mut ring: Ring, stop: Arc<AtomicBool>, mut f: impl FnMut(&[u8]), mut batch_end: impl FnMut()) {
    let mut idle = Duration::from_millis(1);
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        let got = ring.drain(&mut f) > 0;
        if got {
            batch_end();
        }
        if stopping {
            return;
        }
        if got {
            idle = Duration::from_millis(1);
        } else {
            std::thread::sleep(idle);
            idle = (idle * 2).min(Duration::from_millis(50));
        }
    }
}
