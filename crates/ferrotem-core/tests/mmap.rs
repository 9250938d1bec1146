//! Memory-mapped files (`IoMode::Mmap`): results equal the `pread` path byte for byte; a file
//! truncated while mapped gives `Error::Truncated`, never SIGBUS, for every mapped source (raw,
//! C- and Fortran-ordered `.npy`), checked in child processes so that a SIGBUS that escapes
//! shows as a failed test instead of killing the test binary; and SIGBUS that has nothing to do
//! with ferrotem's maps still reaches the handler installed before ferrotem's.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: helpers outside #[test] fns panic on setup failure too

mod common;

use common::{encode, value, write_file, write_npy};
use ferrotem_core::aligned::AlignedBuf;
use ferrotem_core::buffer::{InputKind, TypedVec};
use ferrotem_core::dtype::{DType, ScalarKind};
use ferrotem_core::partition::split_frames;
use ferrotem_core::read::read_converted;
use ferrotem_core::roi::Roi;
use ferrotem_core::runner::{RunOptions, Runner};
use ferrotem_core::shape::DatasetShape;
use ferrotem_core::sigbus;
use ferrotem_core::source::{
    open_npy, DataSource, FortranFileSource, IoMode, NpyHeader, RawFileSource,
};
use ferrotem_core::udf::{DynUdf, SumSigUdf, SumUdf};
use ferrotem_core::Error;
use std::any::Any;
use std::path::{Path, PathBuf};

const MODES: [IoMode; 2] = [IoMode::Pread, IoMode::Mmap];

fn bytes_of(dt: DType, header: usize, frames: usize, sig: usize) -> Vec<u8> {
    let mut out = vec![0xAB; header];
    for j in 0..frames * sig {
        out.extend_from_slice(&encode(value(dt.kind, j * 7 + 3), dt));
    }
    out
}

fn truncate(path: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

fn run(
    src: &dyn DataSource,
    roi: Option<&Roi>,
    tile_bytes: usize,
    threads: usize,
) -> Result<Vec<Box<dyn Any + Send>>, Error> {
    let nav = src.shape().nav_size();
    let parts = split_frames(nav, 3, 1).unwrap();
    let udfs: [&dyn DynUdf; 2] = [&SumUdf, &SumSigUdf];
    let mut opts = RunOptions::new(InputKind::F32);
    opts.tile_bytes = tile_bytes;
    opts.task_bytes = 4 * tile_bytes;
    Runner::new(threads)
        .unwrap()
        .run(src, &parts, roi, &udfs, &opts, &|_| {})
}

fn outputs(out: &[Box<dyn Any + Send>]) -> Vec<TypedVec> {
    out.iter()
        .map(|o| o.downcast_ref::<TypedVec>().unwrap().clone())
        .collect()
}

#[test]
fn mmap_results_equal_pread() {
    let dir = tempfile::tempdir().unwrap();
    let (n, sig) = (40usize, 24 * 24);
    let little_u16 = DType::parse("<u2", "dtype").unwrap();
    let big_u16 = DType::parse(">u2", "dtype").unwrap();
    let f32n = DType::native(ScalarKind::F32);
    let u8n = DType::native(ScalarKind::U8);
    let mask: Vec<bool> = (0..n).map(|i| i % 3 != 1).collect();
    let roi = Roi::new(mask, n as u64).unwrap();
    for dt in [little_u16, big_u16, f32n, u8n] {
        for header in [0usize, 64, 3] {
            for sync in [0i64, 5, -7] {
                let stored = bytes_of(dt, header, n, sig);
                let path = write_file(dir.path(), "eq.raw", &stored);
                let shape = || DatasetShape::new(&[n / 8, 8], &[24, 24]).unwrap();
                let open = |io| {
                    RawFileSource::open_with(&path, dt, shape(), header as u64, sync, io).unwrap()
                };
                let (pread, mapped) = (open(IoMode::Pread), open(IoMode::Mmap));
                assert_eq!(pread.io_mode(), IoMode::Pread);
                assert_eq!(mapped.io_mode(), IoMode::Mmap);
                let what = format!("{dt} header {header} sync {sync}");
                if sync == 0 {
                    assert!(mapped.stored_slice(2, 3, 0..sig).is_some(), "{what}");
                    assert!(mapped.stored_slice(2, 1, 5..9).is_some(), "{what}");
                    assert!(mapped.stored_slice(2, 2, 5..9).is_none(), "{what}");
                }
                // Whole-frame tiles, part-frame tiles (frame larger than a tile), with a ROI.
                for (tile, roi) in [(4096, None), (700, None), (4096, Some(&roi))] {
                    let via_pread = outputs(&run(&pread, roi, tile, 1).unwrap());
                    let via_map = outputs(&run(&mapped, roi, tile, 1).unwrap());
                    assert_eq!(via_pread, via_map, "{what} tile {tile}");
                }
                // read_converted, to float32 (converting) and to the stored kind (direct).
                let runs = [0..7u64, 9..n as u64];
                for (kind, item) in [(ScalarKind::F32, 4), (dt.kind, dt.itemsize())] {
                    for px in [0..sig, 10..300] {
                        let len = (n - 2) * px.len() * item;
                        let mut via_pread = vec![0u8; len];
                        let mut via_map = vec![1u8; len];
                        let mut scratch = AlignedBuf::zeroed(0);
                        read_converted(
                            &pread,
                            &runs,
                            px.clone(),
                            &mut via_pread,
                            kind,
                            &mut scratch,
                        )
                        .unwrap();
                        read_converted(
                            &mapped,
                            &runs,
                            px.clone(),
                            &mut via_map,
                            kind,
                            &mut scratch,
                        )
                        .unwrap();
                        assert!(
                            via_pread == via_map,
                            "{what} read_converted {kind:?} {px:?}"
                        );
                    }
                }
            }
        }
    }
}

/// The file sources that map their file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mapped {
    Raw,
    NpyC,
    NpyF,
}

impl Mapped {
    const ALL: [Mapped; 3] = [Mapped::Raw, Mapped::NpyC, Mapped::NpyF];

    /// Frame side for the truncation tests: Fortran order is gathered element by element, slow
    /// in unoptimised test builds, so its frames are smaller (its files still span many pages).
    fn side(self) -> usize {
        match self {
            Mapped::NpyF => 32,
            Mapped::Raw | Mapped::NpyC => 64,
        }
    }

    fn from_env() -> Mapped {
        let name = std::env::var("SOURCE").unwrap();
        *Mapped::ALL
            .iter()
            .find(|m| format!("{m:?}") == name)
            .unwrap()
    }

    /// Writes (or rewrites, in place) `n` frames of `side` x `side` uint16 in this format.
    fn write(self, dir: &Path, n: usize, side: usize) -> PathBuf {
        let dt = DType::native(ScalarKind::U16);
        match self {
            Mapped::Raw => write_file(dir, "d.raw", &bytes_of(dt, 0, n, side * side)),
            Mapped::NpyC => write_npy(dir, "c.npy", dt, false, &[n, side, side]),
            Mapped::NpyF => write_npy(dir, "f.npy", dt, true, &[n, side, side]),
        }
    }

    /// Opens what [`Mapped::write`] wrote, reading in `io` mode.
    fn open(self, path: &Path, n: usize, side: usize, io: IoMode) -> Box<dyn DataSource> {
        let dt = DType::native(ScalarKind::U16);
        let shape = DatasetShape::new(&[n], &[side, side]).unwrap();
        let source: Box<dyn DataSource> = match self {
            Mapped::Raw => Box::new(RawFileSource::open_with(path, dt, shape, 0, 0, io).unwrap()),
            Mapped::NpyC => {
                let h = NpyHeader::read(path).unwrap();
                let src = RawFileSource::open_with(path, dt, shape, h.data_offset, 0, io).unwrap();
                assert_eq!(src.io_mode(), io);
                Box::new(src)
            }
            Mapped::NpyF => {
                let h = NpyHeader::read(path).unwrap();
                let src =
                    FortranFileSource::open_with(path, dt, shape, h.shape, h.data_offset, 0, io)
                        .unwrap();
                assert_eq!(src.io_mode(), io);
                Box::new(src)
            }
        };
        source
    }
}

/// Truncates a file of kind `kind` under open sources (one per mode) to `new_len(full length)`
/// and checks that runs and reads fail with `Truncated`, and read correctly once the data is
/// back.
fn check_truncated(kind: Mapped, new_len: impl Fn(u64) -> u64) {
    let dir = tempfile::tempdir().unwrap();
    // 96 frames of 64x64 uint16: 8 KiB frames, 768 KiB in all (Fortran: 2 KiB, 192 KiB).
    let (n, side) = (96usize, kind.side());
    let sig = side * side;
    let path = kind.write(dir.path(), n, side);
    let full = std::fs::metadata(&path).unwrap().len();
    let sources: Vec<Box<dyn DataSource>> = MODES
        .iter()
        .map(|&io| kind.open(&path, n, side, io))
        .collect();
    // Map every page once, so the truncation has mapped pages to take away.
    for s in &sources {
        run(s.as_ref(), None, 64 * 1024, 2).unwrap();
    }
    let faults_before = sigbus::total_faults();
    truncate(&path, new_len(full));
    for (s, mode) in sources.iter().zip(MODES) {
        let s = s.as_ref();
        for (tile, threads) in [(64 * 1024, 2), (3000, 1)] {
            let r = run(s, None, tile, threads);
            assert!(
                matches!(&r, Err(Error::Truncated { path: p, .. }) if *p == path),
                "{kind:?} {mode:?} tile {tile}: {:?}",
                r.err()
            );
        }
        for out in [ScalarKind::F32, ScalarKind::U16] {
            let mut dst = vec![0u8; n * sig * out.itemsize()];
            let mut scratch = AlignedBuf::zeroed(0);
            let all = [0..n as u64, n as u64..n as u64]; // (an empty second run)
            let r = read_converted(s, &all, 0..sig, &mut dst, out, &mut scratch);
            assert!(
                matches!(r, Err(Error::Truncated { .. })),
                "{kind:?} {mode:?} read_converted {out:?}: {:?}",
                r.err()
            );
        }
        let mut dst = vec![0u8; n * sig * 2];
        assert!(matches!(
            s.read_raw(0, n, 0..sig, &mut dst),
            Err(Error::Truncated { .. })
        ));
    }
    // Truncation by whole pages makes the map fault; the guard answered (and counted) it.
    if new_len(full) < full - 8192 {
        assert!(sigbus::total_faults() > faults_before, "{kind:?}");
    }
    // Once the file has its data back, the same sources read it correctly again (a map that
    // faulted is retired in favour of pread).
    kind.write(dir.path(), n, side);
    let want = outputs(&run(sources[0].as_ref(), None, 64 * 1024, 1).unwrap());
    for s in &sources {
        let s = s.as_ref();
        assert_eq!(
            outputs(&run(s, None, 64 * 1024, 1).unwrap()),
            want,
            "{kind:?}"
        );
        let mut a = vec![0u8; n * sig * 4];
        let mut scratch = AlignedBuf::zeroed(0);
        let all = [0..n as u64, n as u64..n as u64];
        read_converted(s, &all, 0..sig, &mut a, ScalarKind::F32, &mut scratch).unwrap();
    }
}

/// How far [`truncated_while_mapped_never_kills`] cuts a file, by name.
fn cut(name: &str) -> fn(u64) -> u64 {
    match name {
        "zero" => |_| 0,
        "mid" => |full| full / 2 + 123,
        // Stays within the last page: no fault at all, only the length check can tell.
        "one" => |full| full - 1,
        other => panic!("unknown cut {other}"),
    }
}

/// Runs the ignored test `child` once per mapped source (and `extra` environment), failing
/// with the child's output if it does not exit cleanly (a SIGBUS shows as a signal here).
fn in_child_per_source(child: &str, extra: &[(&str, &str)]) {
    for kind in Mapped::ALL {
        let name = format!("{kind:?}");
        let env = [&[("SOURCE", name.as_str())][..], extra].concat();
        let out = run_child(child, &env);
        assert!(
            out.status.success(),
            "{child} {env:?}: {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn truncated_while_mapped_never_kills() {
    for how in ["zero", "mid", "one"] {
        in_child_per_source("child_truncated", &[("CUT", how)]);
    }
}

#[test]
#[ignore = "child process of truncated_while_mapped_never_kills"]
fn child_truncated() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    check_truncated(Mapped::from_env(), cut(&std::env::var("CUT").unwrap()));
    std::process::exit(0);
}

#[test]
fn truncated_during_a_run_never_kills() {
    in_child_per_source("child_truncated_during_a_run", &[]);
}

#[test]
#[ignore = "child process of truncated_during_a_run_never_kills"]
fn child_truncated_during_a_run() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    // A thread truncates the file while runs over the map are going; every run either completes
    // before the truncation (and is then correct) or fails with Truncated, and none crashes.
    let kind = Mapped::from_env();
    let dir = tempfile::tempdir().unwrap();
    let (n, side) = (512usize, kind.side());
    for round in 0..4u64 {
        let path = kind.write(dir.path(), n, side);
        let src = kind.open(&path, n, side, IoMode::Mmap);
        let src = src.as_ref();
        let want = outputs(&run(src, None, 64 * 1024, 1).unwrap());
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(std::time::Duration::from_micros(200 * round));
                truncate(&path, 4096 * (round + 1) + 17);
            });
            for _ in 0..20 {
                match run(src, None, 64 * 1024, 2) {
                    Ok(out) => assert_eq!(outputs(&out), want),
                    Err(Error::Truncated { .. }) => {}
                    Err(e) => panic!("{e}"),
                }
            }
        });
        assert!(matches!(
            run(src, None, 64 * 1024, 2),
            Err(Error::Truncated { .. })
        ));
    }
    std::process::exit(0);
}

#[test]
fn npy_from_env_switch() {
    // In child processes: setting the environment races with threads reading it.
    let default = if IoMode::DEFAULT == IoMode::Mmap {
        "1"
    } else {
        "0"
    };
    for (env, mapped) in [("mmap", "1"), ("pread", "0"), ("MMAP", "1"), ("", default)] {
        let out = run_child(
            "child_npy_env",
            &[("FERROTEM_IO", env), ("EXPECT_MAPPED", mapped)],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "FERROTEM_IO={env}: {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
#[ignore = "child process of npy_from_env_switch"]
fn child_npy_env() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let mapped = std::env::var("EXPECT_MAPPED").unwrap() == "1";
    let dir = tempfile::tempdir().unwrap();
    let dt = DType::native(ScalarKind::U16);
    for fortran in [false, true] {
        let path = write_npy(dir.path(), "e.npy", dt, fortran, &[6, 4, 4]);
        let (header, src) = open_npy(&path, 2, None, None, 0).unwrap();
        assert_eq!(header.fortran_order, fortran);
        if fortran {
            // Gathered into the caller's buffer, never handed out in place.
            assert!(src.stored_slice(0, 6, 0..16).is_none());
            let f = FortranFileSource::open(
                &path,
                dt,
                src.shape().clone(),
                header.shape,
                header.data_offset,
                0,
            )
            .unwrap();
            assert_eq!(f.io_mode() == IoMode::Mmap, mapped);
        } else {
            assert_eq!(src.stored_slice(0, 6, 0..16).is_some(), mapped);
        }
        let want = outputs(&run(src.as_ref(), None, 4096, 1).unwrap());
        assert_eq!(want.len(), 2);
        let len = std::fs::metadata(&path).unwrap().len();
        truncate(&path, len - 40);
        let r = run(src.as_ref(), None, 4096, 1);
        assert!(matches!(r, Err(Error::Truncated { .. })), "{:?}", r.err());
    }
    std::process::exit(0);
}

// --- SIGBUS chaining, checked in child processes (each re-runs this test binary) -------------

const CHILD_ENV: &str = "FERROTEM_SIGBUS_CHILD";

/// Runs the ignored test `name` of this binary in a child process and returns its exit status
/// and output.
fn run_child(name: &str, env: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", name, "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// Opens a mapped source (installing ferrotem's handler), then reads a page of an unrelated
/// map beyond the end of its (truncated) file.
fn fault_on_unrelated_map() {
    let dir = tempfile::tempdir().unwrap();
    let dt = DType::native(ScalarKind::U16);
    let ours = write_file(dir.path(), "ours.raw", &vec![0u8; 4 * 4096]);
    let shape = DatasetShape::new(&[4], &[32, 64]).unwrap();
    let src = RawFileSource::open_with(&ours, dt, shape, 0, 0, IoMode::Mmap).unwrap();
    assert_eq!(src.io_mode(), IoMode::Mmap);
    assert!(sigbus::handler_active());
    let other = write_file(dir.path(), "other.bin", &vec![1u8; 4 * 4096]);
    let file = std::fs::File::open(&other).unwrap();
    // SAFETY: test of what happens when a foreign map faults; the process is expected to die.
    let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
    truncate(&other, 0);
    let v = std::hint::black_box(&map[3 * 4096]);
    println!("read {v} from beyond the end of a file: no SIGBUS");
    drop(src);
}

#[test]
#[ignore = "child process of sigbus_on_unrelated_map_kills"]
fn child_unrelated_default() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    if std::env::var_os("SIG_DFL").is_some() {
        set_default_disposition();
    }
    fault_on_unrelated_map();
    std::process::exit(0);
}

/// Resets SIGBUS to its default disposition, as in a Python process without `faulthandler`
/// (Rust's runtime installs a handler of its own, for stack overflows).
fn set_default_disposition() {
    // SAFETY: an all-zero sigaction is SIG_DFL with an empty mask.
    let sa: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: sets the default disposition from a valid `sigaction`.
    unsafe { libc::sigaction(libc::SIGBUS, &raw const sa, std::ptr::null_mut()) };
}

#[test]
#[ignore = "child process of sigbus_on_unrelated_map_reaches_previous_handler"]
fn child_unrelated_previous_handler() {
    extern "C" fn exit_42(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
        // SAFETY: `_exit` is async-signal-safe.
        unsafe { libc::_exit(42) };
    }
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    // SAFETY: an all-zero sigaction is valid (SIG_DFL, empty mask, no flags).
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction = exit_42 as *const () as libc::sighandler_t;
    sa.sa_flags = libc::SA_SIGINFO;
    // SAFETY: installs a handler that only calls `_exit`, which is async-signal-safe.
    unsafe { libc::sigaction(libc::SIGBUS, &raw const sa, std::ptr::null_mut()) };
    fault_on_unrelated_map();
    std::process::exit(0);
}

#[test]
#[ignore = "child process of sent_sigbus_kills"]
fn child_sent_sigbus() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    set_default_disposition();
    let dir = tempfile::tempdir().unwrap();
    let ours = write_file(dir.path(), "ours.raw", &vec![0u8; 4096]);
    let shape = DatasetShape::new(&[1], &[32, 64]).unwrap();
    let dt = DType::native(ScalarKind::U16);
    let _src = RawFileSource::open_with(&ours, dt, shape, 0, 0, IoMode::Mmap).unwrap();
    assert!(sigbus::handler_active());
    // SAFETY: sends SIGBUS to this thread; the process is expected to die.
    unsafe { libc::raise(libc::SIGBUS) };
    std::process::exit(0);
}

#[cfg(target_os = "linux")]
#[test]
fn sigbus_on_unrelated_map_kills() {
    use std::os::unix::process::ExitStatusExt;
    // After Rust's own handler (which restores the default for faults it does not own) and
    // after the default disposition.
    for env in [&[][..], &[("SIG_DFL", "1")][..]] {
        let status = run_child("child_unrelated_default", env).status;
        assert_eq!(status.signal(), Some(libc::SIGBUS), "{env:?}: {status:?}");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn sigbus_on_unrelated_map_reaches_previous_handler() {
    let status = run_child("child_unrelated_previous_handler", &[]).status;
    assert_eq!(status.code(), Some(42), "{status:?}");
}

#[cfg(target_os = "linux")]
#[test]
fn sent_sigbus_kills() {
    use std::os::unix::process::ExitStatusExt;
    let status = run_child("child_sent_sigbus", &[]).status;
    assert_eq!(status.signal(), Some(libc::SIGBUS), "{status:?}");
}
