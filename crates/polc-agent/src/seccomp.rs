//! Installing a seccomp filter on a command, and handing the filter from `polc exec` to
//! the process that becomes the command.
//!
//! - [`seal`]: the filter's bytes in a sealed memfd (no one can change them after
//!   the parent checked them), [`pass_to`] keeps it open across one `exec`, and
//!   [`take`] reads and closes it in the child.
//! - [`install_before_exec`]: `prctl(PR_SET_NO_NEW_PRIVS)` then
//!   `seccomp(SECCOMP_SET_MODE_FILTER)` as the last step before the command's
//!   `execve`, after the standard library has set up the child (the filter does not
//!   have to allow what Rust's process setup calls).
//!
//! With one `ring`, this is a module of polc with `unsafe` code: the system calls
//! themselves and the closures that run between `fork`/`exec` and the program.
#![allow(unsafe_code)]

use polc_compiler::backend::seccomp::filter::Insn;
use std::io::{self, Write as _};
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};
use std::os::unix::fs::FileExt as _;
use std::os::unix::process::CommandExt as _;
use std::process::Command;

/// The classic-BPF instruction, `struct sock_filter`.
#[repr(C)]
#[derive(Clone, Copy)]
struct SockFilter {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

/// `struct sock_fprog`.
#[repr(C)]
struct SockFprog {
    len: libc::c_ushort,
    filter: *const SockFilter,
}

/// The seals of the memfd: nothing can change, and no seal can be removed.
const SEALS: libc::c_int = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// The largest filter handed over (`BPF_MAXINSNS` instructions of 8 bytes).
const MAX_BYTES: u64 = 4096 * 8;

/// `bytes` in a new sealed memfd, close-on-exec (see [`pass_to`]).
///
/// # Errors
/// The OS error of `memfd_create`, `write` or `fcntl`.
pub fn seal(bytes: &[u8]) -> io::Result<OwnedFd> {
    // SAFETY: the name is a NUL-terminated literal; the result is checked.
    let fd = unsafe { libc::memfd_create(c"polc-seccomp".as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: memfd_create returned a new descriptor that nothing else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut file = std::fs::File::from(owned);
    file.write_all(bytes)?;
    // SAFETY: fcntl on a descriptor this function owns; the result is checked.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, SEALS) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(OwnedFd::from(file))
}

/// Keep `fd` open in the program `cmd` runs (the child clears its close-on-exec
/// flag); returns the number to tell the child. `fd` must stay open until the child
/// has started.
pub fn pass_to(cmd: &mut Command, fd: &OwnedFd) -> RawFd {
    let raw = fd.as_raw_fd();
    let clear = move || {
        // SAFETY: fcntl is async-signal-safe; `raw` is open in the child (inherited,
        // the parent keeps it open until the spawn returns).
        if unsafe { libc::fcntl(raw, libc::F_SETFD, 0) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    };
    // SAFETY: the closure only calls fcntl, which is async-signal-safe, and allocates nothing.
    unsafe { cmd.pre_exec(clear) };
    raw
}

/// Read and close the sealed memfd `fd` that the parent passed (see [`seal`]).
/// Refuses a descriptor that is not one: stdio, closed, not sealed as [`seal`] seals.
///
/// # Errors
/// `InvalidInput` for a descriptor that is not a sealed memfd, or the OS error of a read.
pub fn take(fd: RawFd) -> io::Result<Vec<u8>> {
    let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("descriptor {fd}: {why}"));
    if fd <= 2 {
        return Err(invalid("is standard input, output or error"));
    }
    // SAFETY: F_GET_SEALS only inspects the descriptor; the result is checked.
    let seals = unsafe { libc::fcntl(fd, libc::F_GET_SEALS) };
    if seals < 0 {
        return Err(invalid(&format!("not a sealed memfd ({})", io::Error::last_os_error())));
    }
    if seals & SEALS != SEALS {
        return Err(invalid("not sealed against writes"));
    }
    // SAFETY: `fd` is open (fcntl succeeded) and is a memfd the parent handed to this
    // process alone for this call; nothing else in the process uses it, so taking
    // ownership (and closing it on return) is sound.
    let file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let len = file.metadata()?.len();
    if len > MAX_BYTES {
        return Err(invalid(&format!("{len} bytes, more than a filter can have")));
    }
    let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(0)];
    file.read_exact_at(&mut bytes, 0)?;
    Ok(bytes)
}

/// Make the program `cmd` runs start under `filter`: right before its `execve`, the
/// child sets no_new_privs (required for an unprivileged filter; it also stops
/// setuid/setgid bits and file capabilities from raising privileges in the command
/// and everything it starts) and installs the filter. When either fails, the command
/// does not run and the spawn (or `exec`) returns the error.
pub fn install_before_exec(cmd: &mut Command, program: &[Insn]) {
    let filter: Vec<SockFilter> =
        program.iter().map(|i| SockFilter { code: i.code, jt: i.jt, jf: i.jf, k: i.k }).collect();
    let install = move || -> io::Result<()> {
        let len = libc::c_ushort::try_from(filter.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let prog = SockFprog { len, filter: filter.as_ptr() };
        // SAFETY: prctl and the seccomp system call are async-signal-safe; `prog`
        // points into `filter`, which the closure owns and which outlives the call.
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            let flags: libc::c_ulong = 0;
            if libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, flags, &raw const prog) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    };
    // SAFETY: the closure allocates nothing and only makes async-signal-safe system calls.
    unsafe { cmd.pre_exec(install) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_memfd_round_trip() {
        let fd = seal(b"12345678abcdefgh").unwrap();
        // The seals hold: no write, no growth.
        let f = std::fs::File::from(fd.try_clone().unwrap());
        assert!(f.write_at(b"x", 0).is_err());
        assert!(f.set_len(100).is_err());
        let raw = fd.as_raw_fd();
        std::mem::forget(fd); // `take` owns and closes it now
        assert_eq!(take(raw).unwrap(), b"12345678abcdefgh");
        assert!(take(raw).is_err(), "closed by take");
        assert!(take(1).is_err());
        // An ordinary file is refused.
        let other = std::fs::File::open("/proc/self/stat").unwrap();
        let e = take(other.as_raw_fd()).unwrap_err();
        assert!(e.to_string().contains("not a sealed memfd"), "{e}");
    }
}
