//! A `SIGBUS` guard for memory-mapped files, so that a file that shrinks while it is mapped
//! gives an error instead of killing the process.
//!
//! Reading a page of a file mapping that lies beyond the file's end raises `SIGBUS`. This module
//! installs (once per process, the first time a mapping is registered) a `SIGBUS` handler that
//! knows the address ranges of ferrotem's own maps, kept in a fixed-size lock-free registry:
//!
//! - A fault inside a registered range replaces the pages from the faulting one to the end of the
//!   range by anonymous zero pages (`mmap(MAP_FIXED | MAP_ANONYMOUS)`; every page after the
//!   faulting one lies beyond the new end of the file too), counts the fault for that range and
//!   returns: the faulting load is restarted and reads zeros. The reader then checks
//!   [`Guard::faults`] and the file's length after every tile it took from the map and reports
//!   [`crate::Error::Truncated`], so zeros read this way never end up in a result.
//! - Any other `SIGBUS` goes to the handler that was installed before ferrotem's, exactly as if
//!   ferrotem's were not there: a `SA_SIGINFO` handler is called with the same arguments, a plain
//!   handler with the signal number; with the default disposition (or "ignore", which the kernel
//!   does not honour for faults) the default is restored and the signal takes effect, killing
//!   the process with `SIGBUS`.
//!
//! The handler only touches atomics and makes raw system calls (`mmap`, `sigaction`, `raise`),
//! all async-signal-safe. A handler installed *after* ferrotem's (for instance by
//! `faulthandler.enable()`) would see the faults first; [`handler_active`] tells whether ferrotem's
//! handler is still the one installed, and readers fall back to positioned reads when it is not.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Number of maps that can be guarded at once; a map that finds no free slot is not used.
const SLOTS: usize = 256;

/// `start` of a free slot.
const FREE: usize = 0;
/// `start` of a slot being filled in or emptied (no mapping starts at address 1).
const CLAIMED: usize = 1;

struct Slot {
    start: AtomicUsize,
    end: AtomicUsize,
    faults: AtomicU64,
}

static REGISTRY: [Slot; SLOTS] = [const {
    Slot {
        start: AtomicUsize::new(FREE),
        end: AtomicUsize::new(0),
        faults: AtomicU64::new(0),
    }
}; SLOTS];

/// Faults handled in registered ranges since the process started (all maps together).
static TOTAL_FAULTS: AtomicU64 = AtomicU64::new(0);

/// A registered address range; unregistered when dropped. Drop it before unmapping the range.
#[derive(Debug)]
pub struct Guard {
    slot: usize,
}

impl Guard {
    /// Registers `range` (the addresses of a read-only file map) with the `SIGBUS` handler,
    /// installing the handler first if needed. `None` if the handler cannot be installed or all
    /// slots are taken; the caller must then not read the map.
    pub fn register(range: Range<usize>) -> Option<Guard> {
        if range.start <= CLAIMED || range.end <= range.start || !imp::install() {
            return None;
        }
        for (i, slot) in REGISTRY.iter().enumerate() {
            if slot
                .start
                .compare_exchange(FREE, CLAIMED, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                slot.faults.store(0, Ordering::Relaxed);
                slot.end.store(range.end, Ordering::Relaxed);
                slot.start.store(range.start, Ordering::Release);
                return Some(Guard { slot: i });
            }
        }
        None
    }

    /// How many faults the handler has answered with zero pages in this range. Anything but 0
    /// means the file shrank while mapped and data read from the map may be zeros.
    pub fn faults(&self) -> u64 {
        REGISTRY[self.slot].faults.load(Ordering::Acquire)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let slot = &REGISTRY[self.slot];
        slot.start.store(CLAIMED, Ordering::Release);
        slot.end.store(0, Ordering::Relaxed);
        slot.start.store(FREE, Ordering::Release);
    }
}

/// Faults answered with zero pages since the process started, over all maps.
pub fn total_faults() -> u64 {
    TOTAL_FAULTS.load(Ordering::Relaxed)
}

/// True if ferrotem's handler is installed and is still the process's `SIGBUS` handler.
pub fn handler_active() -> bool {
    imp::active()
}

/// The registered range holding `addr`, as `(slot, end of range)`. Async-signal-safe.
fn lookup(addr: usize) -> Option<(usize, usize)> {
    for (i, slot) in REGISTRY.iter().enumerate() {
        let start = slot.start.load(Ordering::Acquire);
        if start <= CLAIMED || addr < start {
            continue;
        }
        let end = slot.end.load(Ordering::Relaxed);
        if addr < end {
            return Some((i, end));
        }
    }
    None
}

#[cfg(target_os = "linux")]
mod imp {
    use super::{lookup, REGISTRY, TOTAL_FAULTS};
    use std::ffi::{c_int, c_void};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Once, OnceLock};

    /// The disposition of `SIGBUS` before ferrotem's handler was installed.
    static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();
    static INSTALL: Once = Once::new();
    /// Page size, read once before the handler goes in (`sysconf` is not async-signal-safe).
    static PAGE: AtomicUsize = AtomicUsize::new(0);

    pub(super) fn install() -> bool {
        INSTALL.call_once(|| {
            // SAFETY: `sysconf` has no preconditions.
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            if page <= 0 {
                return;
            }
            PAGE.store(page as usize, Ordering::Relaxed);
            // SAFETY: an all-zero `sigaction` is a valid value (SIG_DFL, empty mask, no flags).
            let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: querying the current disposition into a valid out-pointer.
            if unsafe { libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut old) } != 0 {
                return;
            }
            // Saved before the handler goes in, so the handler always finds it.
            let _ = PREVIOUS.set(old);
            // SAFETY: as above.
            let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
            new.sa_sigaction = handler as *const () as libc::sighandler_t;
            new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            // SAFETY: `sa_mask` is a valid sigset to initialise.
            unsafe { libc::sigemptyset(&mut new.sa_mask) };
            // SAFETY: installs a handler that only does async-signal-safe work (see `handler`).
            unsafe { libc::sigaction(libc::SIGBUS, &new, std::ptr::null_mut()) };
        });
        active()
    }

    pub(super) fn active() -> bool {
        if PREVIOUS.get().is_none() {
            return false;
        }
        // SAFETY: as in `install`.
        let mut cur: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: querying the current disposition into a valid out-pointer.
        if unsafe { libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut cur) } != 0 {
            return false;
        }
        cur.sa_sigaction == handler as *const () as libc::sighandler_t
    }

    extern "C" fn handler(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
        // SAFETY: the kernel passes a valid `siginfo_t` to `SA_SIGINFO` handlers; `si_addr` is
        // meaningful for kernel-generated (`si_code > 0`) SIGBUS, the only case where it is read.
        let code = unsafe { (*info).si_code };
        if code > 0 {
            // SAFETY: as above.
            let addr = unsafe { (*info).si_addr() } as usize;
            if let Some((slot, end)) = lookup(addr) {
                let page = PAGE.load(Ordering::Relaxed);
                let from = addr & !(page - 1);
                let to = end.div_ceil(page) * page;
                // SAFETY: `from..to` lies within a registered read-only file map, which nothing
                // reads as anything but bytes and which stays mapped while registered; replacing
                // its pages by zero pages only changes what later reads of it return.
                let p = unsafe {
                    libc::mmap(
                        from as *mut c_void,
                        to - from,
                        libc::PROT_READ,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                        -1,
                        0,
                    )
                };
                if p != libc::MAP_FAILED {
                    REGISTRY[slot].faults.fetch_add(1, Ordering::Release);
                    TOTAL_FAULTS.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
        chain(sig, info, ctx, code);
    }

    /// Hands the signal to the disposition ferrotem's handler replaced.
    fn chain(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void, code: c_int) {
        let prev = PREVIOUS.get();
        let action = prev.map_or(libc::SIG_DFL, |p| p.sa_sigaction);
        if action == libc::SIG_IGN && code <= 0 {
            return; // a sent SIGBUS that was ignored before stays ignored
        }
        if action == libc::SIG_DFL || action == libc::SIG_IGN {
            // SAFETY: as in `install`.
            let mut dfl: libc::sigaction = unsafe { std::mem::zeroed() };
            dfl.sa_sigaction = libc::SIG_DFL;
            // SAFETY: restoring the default disposition; async-signal-safe.
            unsafe { libc::sigaction(sig, &dfl, std::ptr::null_mut()) };
            if code <= 0 {
                // A sent signal does not repeat by itself: send it again. It is blocked while
                // this handler runs and takes effect (default: terminate) when it returns.
                // SAFETY: `raise` is async-signal-safe.
                unsafe { libc::raise(sig) };
            }
            // A fault repeats when the faulting instruction restarts, now with the default.
            return;
        }
        let flags = prev.map_or(0, |p| p.sa_flags);
        if flags & libc::SA_SIGINFO != 0 {
            // SAFETY: the previous disposition was installed as a `SA_SIGINFO` handler with this
            // signature; it gets the arguments the kernel gave us.
            let f: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) =
                unsafe { std::mem::transmute(action) };
            f(sig, info, ctx);
        } else {
            // SAFETY: a plain handler taking the signal number.
            let f: extern "C" fn(c_int) = unsafe { std::mem::transmute(action) };
            f(sig);
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub(super) fn install() -> bool {
        false
    }
    pub(super) fn active() -> bool {
        false
    }
}
