//! The consumer side of the `polc_events` BPF ring buffer, read through its two
//! memory mappings (the kernel's documented ring buffer protocol, see
//! Documentation/bpf/ringbuf.rst).
//!
//! Why not aya's `RingBuf`: the ring buffer is pinned and outlives the agent (an agent
//! restart, or one `polc exec` after another, keeps enforcing), so a new reader finds
//! consumer and producer positions that are not zero. aya 0.13's reader caches the
//! producer position starting at 0 and only reloads it when the consumer position
//! equals the cache; with a non-zero consumer position it reads stale bytes past the
//! producer and moves the consumer position beyond it, which loses every later event.
//! This reader loads both positions on every drain, so it starts correctly from any
//! state the previous reader left.
//!
//! With [`crate::seccomp`], this is a module of polc with `unsafe` code: mapping and
//! unmapping the buffer, and atomics over the kernel-shared pages.
#![allow(unsafe_code)]

use aya::maps::MapData;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// `BPF_RINGBUF_BUSY_BIT`: the producer has reserved the record and not yet
/// committed it.
const BUSY: u32 = 1 << 31;
/// `BPF_RINGBUF_DISCARD_BIT`: the producer discarded the record.
const DISCARD: u32 = 1 << 30;
/// `BPF_RINGBUF_HDR_SZ`.
const HEADER: u64 = 8;

/// A mapped ring buffer; one per process (the kernel keeps one consumer position).
pub struct Ring {
    /// Keeps the map's file descriptor open as long as the mappings live.
    _map: MapData,
    /// The consumer page (read-write): `consumer_pos` at offset 0.
    consumer: *mut libc::c_void,
    /// The producer page followed by the data pages mapped twice (read-only).
    producer: *mut libc::c_void,
    page: usize,
    /// Data size in bytes (a power of two).
    size: usize,
}

// SAFETY: the mappings belong to this value alone and are only read through atomics
// or while `&mut self` is held; moving the value to another thread is sound.
unsafe impl Send for Ring {}

impl Ring {
    /// Map the ring buffer `map`.
    ///
    /// # Errors
    /// The OS error of `mmap`, or `InvalidData` when the map's size cannot be read or
    /// is not a power of two.
    pub fn new(map: MapData) -> std::io::Result<Ring> {
        let size =
            map.info().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?.max_entries()
                as usize;
        if !size.is_power_of_two() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("ring buffer size {size} is not a power of two"),
            ));
        }
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let fd = map.fd().as_fd().as_raw_fd();
        // SAFETY: a fresh shared mapping of the map's fd, as the kernel's ring buffer
        // ABI defines it: one read-write consumer page at offset 0 ...
        let consumer = unsafe {
            libc::mmap(std::ptr::null_mut(), page, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0)
        };
        if consumer == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let offset = libc::off_t::try_from(page).unwrap_or(4096);
        // SAFETY: ... and, at offset one page, the producer page and the data pages,
        // which the kernel maps twice in a row so a record is always contiguous.
        let producer =
            unsafe { libc::mmap(std::ptr::null_mut(), page + 2 * size, libc::PROT_READ, libc::MAP_SHARED, fd, offset) };
        if producer == libc::MAP_FAILED {
            let e = std::io::Error::last_os_error();
            // SAFETY: `consumer` was mapped above with this length.
            unsafe { libc::munmap(consumer, page) };
            return Err(e);
        }
        Ok(Ring { _map: map, consumer, producer, page, size })
    }

    fn consumer_pos(&self) -> &AtomicU64 {
        // SAFETY: the consumer page is mapped, page-aligned and lives as long as self.
        unsafe { &*(self.consumer as *const AtomicU64) }
    }

    fn producer_pos(&self) -> &AtomicU64 {
        // SAFETY: as above, for the producer page.
        unsafe { &*(self.producer as *const AtomicU64) }
    }

    /// Hand every committed record to `f`, in order, and release it to the kernel.
    /// Stops at the first record still being written. Returns the number of records
    /// handed over.
    pub fn drain(&mut self, mut f: impl FnMut(&[u8])) -> usize {
        let mut n = 0;
        let mut cons = self.consumer_pos().load(Ordering::Acquire);
        let prod = self.producer_pos().load(Ordering::Acquire);
        let mask = (self.size - 1) as u64;
        while cons < prod {
            let off = self.page + (cons & mask) as usize;
            // SAFETY: off + 8 <= page + size, inside the producer mapping; 8-aligned.
            let header = unsafe { &*((self.producer as *const u8).add(off) as *const AtomicU32) };
            let h = header.load(Ordering::Acquire);
            if h & BUSY != 0 {
                break;
            }
            let len = (h & !(BUSY | DISCARD)) as usize;
            if len > self.size {
                // Not a record header: never read outside the mapping.
                break;
            }
            if h & DISCARD == 0 {
                // SAFETY: the data pages are mapped twice, so off + 8 + len stays
                // within page + 2 * size; the kernel does not touch a committed record
                // until the consumer position passes it.
                let data =
                    unsafe { std::slice::from_raw_parts((self.producer as *const u8).add(off + HEADER as usize), len) };
                f(data);
                n += 1;
            }
            cons += (len as u64 + HEADER).next_multiple_of(8);
            self.consumer_pos().store(cons, Ordering::Release);
        }
        n
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: both regions were mapped in `new` with these lengths and are not
        // used after this.
        unsafe {
            libc::munmap(self.consumer, self.page);
            libc::munmap(self.producer, self.page + 2 * self.size);
        }
    }
}
