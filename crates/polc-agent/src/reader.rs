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
pub fn run(mut ring: Ring, stop: Arc<AtomicBool>, mut f: impl FnMut(&[u8])) {
    let mut idle = Duration::from_millis(1);
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        let got = ring.drain(&mut f) > 0;
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
