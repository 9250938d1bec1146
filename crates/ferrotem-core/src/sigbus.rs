//! A `SIGBUS` guard for memory-mapped files, so that a file that shrinks while it is mapped
//! gives an error instead of killing the process.
//!
//! Reading a page of a file mapping that lies beyond the file's end raises `SIGBUS`. This module
//! installs (once per process, the first time a mapping is registered) a `SIGBUS` handler that
//! knows the address ranges of ferrotem's own maps, kept in a fixed-size lock-free registry
//! whose slots the handler reads as seqlocks (so it never pairs the start of one map with the
//! end of another registered in the same slot meanwhile):
//!
//! - A fault inside a registered range replaces the pages from the faulting one to the end of the
//!   range by anonymous zero pages (`mmap(MAP_FIXED | MAP_ANONYMOUS)`; every page after the
//!   faulting one lies beyond the new end of the file too), counts the fault for that range and
//!   returns: the faulting load is restarted and reads zeros. The reader then checks
//!   [`Guard::faults`] and the file's length after every tile it took from the map and reports
//!   [`crate::Error::Truncated`], so zeros read this way never end up in a result. Sources do
//!   all this through [`crate::source::GuardedFile`].
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
use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};

/// Number of maps that can be guarded at once; a map that finds no free slot is not used.
const SLOTS: usize = 256;

/// `start` of a free slot (no mapping starts at address 0).
const FREE: usize = 0;

/// One registered range, read by the signal handler as a seqlock: `seq` is odd while the slot
/// is being written and bumped by two for every change, so a reader that sees the same even
/// `seq` before and after reading `start` and `end` knows the two belong together. (Read without
/// it, a slot freed and registered again between the two loads paired the old start with the new
/// end, and the handler replaced pages of an unrelated range by zeros.)
struct Slot {
    seq: AtomicU64,
    start: AtomicUsize,
    end: AtomicUsize,
    faults: AtomicU64,
}

impl Slot {
    /// Makes `seq` odd if it is still `seen`: the caller then has the slot to itself until
    /// [`Slot::publish`]. Readers skip the slot meanwhile.
    fn claim(&self, seen: u64) -> bool {
        if seen % 2 == 1 {
            return false;
        }
        // Acquire: the previous writer's `start`/`end` stores happen before ours.
        let ok = self
            .seq
            .compare_exchange(seen, seen + 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok();
        // Orders the odd `seq` before the stores that follow: a reader that sees any of them
        // sees `seq` changed when it checks again.
        fence(Ordering::Release);
        ok
    }

    /// Writes the slot's range and ends the claim made at `seq == claimed_at + 1`.
    fn publish(&self, claimed_at: u64, range: Range<usize>) {
        self.start.store(range.start, Ordering::Relaxed);
        self.end.store(range.end, Ordering::Relaxed);
        self.seq.store(claimed_at + 2, Ordering::Release);
    }

    /// The slot's range if it is registered and was not changing while read. Wait-free and
    /// async-signal-safe (atomic loads only).
    fn read(&self) -> Option<Range<usize>> {
        let before = self.seq.load(Ordering::Acquire);
        if before % 2 == 1 {
            return None;
        }
        let start = self.start.load(Ordering::Relaxed);
        #[cfg(test)]
        tests::pause(start);
        let end = self.end.load(Ordering::Relaxed);
        // Orders the two loads before the second `seq` load (the reader side of the seqlock).
        fence(Ordering::Acquire);
        if self.seq.load(Ordering::Relaxed) != before || start == FREE {
            return None;
        }
        Some(start..end)
    }
}

static REGISTRY: [Slot; SLOTS] = [const {
    Slot {
        seq: AtomicU64::new(0),
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
    #[must_use]
    pub fn register(range: Range<usize>) -> Option<Guard> {
        if range.start == FREE || range.end <= range.start || !imp::install() {
            return None;
        }
        Self::register_range(range)
    }

    /// [`Guard::register`] without installing the handler.
    fn register_range(range: Range<usize>) -> Option<Guard> {
        for (i, slot) in REGISTRY.iter().enumerate() {
            let seen = slot.seq.load(Ordering::Acquire);
            // A slot seen free under an even `seq` is still free if the claim succeeds: any
            // change in between would have moved `seq` on.
            if seen % 2 == 1 || slot.start.load(Ordering::Relaxed) != FREE || !slot.claim(seen) {
                continue;
            }
            slot.faults.store(0, Ordering::Relaxed);
            slot.publish(seen, range);
            return Some(Guard { slot: i });
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
        // Only the owner changes a registered slot (registrars only claim free ones), so the
        // claim cannot fail; if it somehow did, leaking the slot is the safe outcome.
        let seen = slot.seq.load(Ordering::Relaxed);
        if slot.claim(seen) {
            slot.publish(seen, FREE..0);
        }
    }
}

/// Faults answered with zero pages since the process started, over all maps.
pub fn total_faults() -> u64 {
    TOTAL_FAULTS.load(Ordering::Relaxed)
}

/// True if ferrotem's handler is installed and is still the process's `SIGBUS` handler.
#[must_use]
pub fn handler_active() -> bool {
    imp::active()
}

/// The registered range holding `addr`, with its slot. Async-signal-safe and wait-free: a slot
/// that is changing while read is skipped, which is right because the range of a map being
/// read (the only kind whose faults are ours) stays registered until its readers are done.
fn lookup(addr: usize) -> Option<(usize, Range<usize>)> {
    REGISTRY
        .iter()
        .enumerate()
        .find_map(|(i, slot)| slot.read().filter(|r| r.contains(&addr)).map(|r| (i, r)))
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
            let page = match usize::try_from(page) {
                Ok(page) if page > 0 => page,
                _ => return,
            };
            PAGE.store(page, Ordering::Relaxed);
            // SAFETY: an all-zero `sigaction` is a valid value (SIG_DFL, empty mask, no flags).
            let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: querying the current disposition into a valid out-pointer.
            if unsafe { libc::sigaction(libc::SIGBUS, std::ptr::null(), &raw mut old) } != 0 {
                return;
            }
            // Saved before the handler goes in, so the handler always finds it.
            let _ = PREVIOUS.set(old);
            // SAFETY: as above.
            let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
            new.sa_sigaction = handler as *const () as libc::sighandler_t;
            new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            // SAFETY: `sa_mask` is a valid sigset to initialise.
            unsafe { libc::sigemptyset(&raw mut new.sa_mask) };
            // SAFETY: installs a handler that only does async-signal-safe work (see `handler`).
            unsafe { libc::sigaction(libc::SIGBUS, &raw const new, std::ptr::null_mut()) };
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
        if unsafe { libc::sigaction(libc::SIGBUS, std::ptr::null(), &raw mut cur) } != 0 {
            return false;
        }
        cur.sa_sigaction == handler as *const () as libc::sighandler_t
    }

    extern "C" fn handler(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
        // SAFETY: the kernel passes a valid `siginfo_t` to `SA_SIGINFO` handlers, alive while
        // the handler runs; it is only read.
        let info_ref = unsafe { &*info };
        let code = info_ref.si_code;
        if code > 0 {
            // SAFETY: `si_addr` is meaningful for kernel-generated (`si_code > 0`) SIGBUS, the
            // only case where it is read.
            let addr = unsafe { info_ref.si_addr() } as usize;
            if let Some((slot, range)) = lookup(addr) {
                let page = PAGE.load(Ordering::Relaxed);
                let from = addr & !(page - 1);
                let to = range.end.div_ceil(page) * page;
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
            unsafe { libc::sigaction(sig, &raw const dfl, std::ptr::null_mut()) };
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

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::atomic::AtomicU32;
    use std::time::{Duration, Instant};

    /// Spin iterations between reading a slot's start and its end, to widen the window in which
    /// a slot that changes hands used to be misread (nanoseconds otherwise: a storm would
    /// rarely hit it).
    static READ_PAUSE: AtomicU32 = AtomicU32::new(0);

    pub(super) fn pause(start: usize) {
        if start != FREE {
            for _ in 0..READ_PAUSE.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        }
    }

    /// Fake ranges, far above any user-space address (never dereferenced: `lookup` only
    /// compares numbers), so that real maps registered by other tests cannot match them.
    const BASE: usize = 1 << 62;
    const PAGE: usize = 4096;
    const N: usize = 64;

    /// Range `j`: unique starts and unique ends, all covering the middle of the probe span, so
    /// that a start of one paired with the end of another is never itself a registered range.
    fn range(j: usize) -> Range<usize> {
        BASE + j * PAGE..BASE + (N + 1 + (j * 37) % N) * PAGE
    }

    #[test]
    fn lookups_never_pair_the_start_and_end_of_different_registrations() {
        let known: HashSet<(usize, usize)> =
            (0..N).map(|j| (range(j).start, range(j).end)).collect();
        READ_PAUSE.store(2000, Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_millis(700);
        let (hits, misses) = std::thread::scope(|s| {
            // Register/free storms: the same few slots change hands over and over. (They stop
            // at the deadline by themselves, so a failing lookup thread cannot hang the test.)
            for t in 0..2 {
                s.spawn(move || {
                    let mut j = t;
                    while Instant::now() < deadline {
                        for _ in 0..256 {
                            let a = Guard::register_range(range(j % N)).unwrap();
                            let b = Guard::register_range(range((j * 5 + 3) % N)).unwrap();
                            drop(a);
                            drop(b);
                            j += 2;
                        }
                    }
                });
            }
            let lookups = s.spawn(|| {
                let (mut hits, mut misses) = (0u64, 0u64);
                let mut probe = 0usize;
                while Instant::now() < deadline {
                    for _ in 0..1000 {
                        probe = (probe + 7 * PAGE + 123) % (2 * N * PAGE);
                        let addr = BASE + probe;
                        match lookup(addr) {
                            Some((_, r)) => {
                                assert!(
                                    known.contains(&(r.start, r.end)),
                                    "{r:x?} was never registered (a mixed start and end)"
                                );
                                assert!(r.contains(&addr), "{r:x?} does not hold {addr:x}");
                                hits += 1;
                            }
                            None => misses += 1,
                        }
                    }
                }
                (hits, misses)
            });
            lookups.join().unwrap()
        });
        READ_PAUSE.store(0, Ordering::Relaxed);
        // The storm really overlapped the lookups: some found a range, some found none.
        assert!(hits > 0 && misses > 0, "hits {hits}, misses {misses}");
        // And every slot is free again.
        assert!((0..N).all(|j| lookup(range(j).start).is_none()));
    }

    #[test]
    fn registered_ranges_are_found_until_dropped() {
        let a = Guard::register_range(BASE - 10 * PAGE..BASE - 8 * PAGE).unwrap();
        let b = Guard::register_range(BASE - 8 * PAGE..BASE - 5 * PAGE).unwrap();
        assert_eq!(
            lookup(BASE - 9 * PAGE),
            Some((a.slot, BASE - 10 * PAGE..BASE - 8 * PAGE))
        );
        assert_eq!(lookup(BASE - 8 * PAGE).map(|(i, _)| i), Some(b.slot));
        assert_eq!(lookup(BASE - 5 * PAGE), None);
        assert_eq!(a.faults(), 0);
        drop(a);
        assert_eq!(lookup(BASE - 9 * PAGE), None);
        assert!(lookup(BASE - 6 * PAGE).is_some());
        drop(b);
        assert_eq!(lookup(BASE - 6 * PAGE), None);
    }
}
