//! Memory-mapped raw files (`IoMode::Mmap`): results equal the `pread` path byte for byte, a file
//! truncated while mapped gives `Error::Truncated` (never SIGBUS), and SIGBUS that has nothing to
//! do with ferrotem's maps still reaches the handler installed before ferrotem's.
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
use ferrotem_core::source::{open_npy, DataSource, IoMode, RawFileSource};
use ferrotem_core::udf::{DynUdf, SumSigUdf, SumUdf};
use ferrotem_core::Error;
use std::any::Any;
use std::path::Path;

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
    let u16le = DType::parse("<u2", "dtype").unwrap();
    let u16be = DType::parse(">u2", "dtype").unwrap();
    let f32n = DType::native(ScalarKind::F32);
    let u8n = DType::native(ScalarKind::U8);
    let mask: Vec<bool> = (0..n).map(|i| i % 3 != 1).collect();
    let roi = Roi::new(mask, n as u64).unwrap();
    for dt in [u16le, u16be, f32n, u8n] {
        for header in [0usize, 64, 3] {
            for sync in [0i64, 5, -7] {
                let stored = bytes_of(dt, header, n, sig);
                let path = write_file(dir.path(), "eq.raw", &stored);
                let shape = || DatasetShape::new(&[n / 8, 8], &[24, 24]).unwrap();
                let open = |io| {
                    RawFileSource::open_with(&path, dt, shape(), header as u64, sync, io).unwrap()
                };
                let (p, m) = (open(IoMode::Pread), open(IoMode::Mmap));
                assert_eq!(p.io_mode(), IoMode::Pread);
                assert_eq!(m.io_mode(), IoMode::Mmap);
                let what = format!("{dt} header {header} sync {sync}");
                if sync == 0 {
                    assert!(m.stored_slice(2, 3, 0..sig).is_some(), "{what}");
                    assert!(m.stored_slice(2, 1, 5..9).is_some(), "{what}");
                    assert!(m.stored_slice(2, 2, 5..9).is_none(), "{what}");
                }
                // Whole-frame tiles, part-frame tiles (frame larger than a tile), with a ROI.
                for (tile, roi) in [(4096, None), (700, None), (4096, Some(&roi))] {
                    let a = outputs(&run(&p, roi, tile, 1).unwrap());
                    let b = outputs(&run(&m, roi, tile, 1).unwrap());
                    assert_eq!(a, b, "{what} tile {tile}");
                }
                // read_converted, to float32 (converting) and to the stored kind (direct).
                let runs = [0..7u64, 9..n as u64];
                for (kind, item) in [(ScalarKind::F32, 4), (dt.kind, dt.itemsize())] {
                    for px in [0..sig, 10..300] {
                        let len = (n - 2) * px.len() * item;
                        let mut a = vec![0u8; len];
                        let mut b = vec![1u8; len];
                        let mut s = AlignedBuf::zeroed(0);
                        read_converted(&p, &runs, px.clone(), &mut a, kind, &mut s).unwrap();
                        read_converted(&m, &runs, px.clone(), &mut b, kind, &mut s).unwrap();
                        assert!(a == b, "{what} read_converted {kind:?} {px:?}");
                    }
                }
            }
        }
    }
}

/// Truncates a file under open sources (one per mode) and checks that runs and reads fail.
fn check_truncated(name: &str, new_len: impl Fn(u64) -> u64) {
    let dir = tempfile::tempdir().unwrap();
    let dt = DType::native(ScalarKind::U16);
    // 96 frames of 64x64 uint16: 8 KiB frames, 768 KiB in all.
    let (n, side) = (96usize, 64usize);
    let sig = side * side;
    let path = write_file(dir.path(), name, &bytes_of(dt, 0, n, sig));
    let full = std::fs::metadata(&path).unwrap().len();
    let shape = || DatasetShape::new(&[n], &[side, side]).unwrap();
    let sources: Vec<RawFileSource> = MODES
        .iter()
        .map(|&io| RawFileSource::open_with(&path, dt, shape(), 0, 0, io).unwrap())
        .collect();
    // Map every page once, so the truncation has mapped pages to take away.
    for s in &sources {
        run(s, None, 64 * 1024, 2).unwrap();
    }
    let faults_before = sigbus::total_faults();
    truncate(&path, new_len(full));
    for s in &sources {
        let mode = s.io_mode();
        for (tile, threads) in [(64 * 1024, 2), (3000, 1)] {
            let r = run(s, None, tile, threads);
            assert!(
                matches!(r, Err(Error::Truncated { .. })),
                "{name} {mode:?} tile {tile}: {:?}",
                r.err()
            );
        }
        for kind in [ScalarKind::F32, ScalarKind::U16] {
            let mut dst = vec![0u8; n * sig * kind.itemsize()];
            let mut scratch = AlignedBuf::zeroed(0);
            let all = [0..n as u64, n as u64..n as u64]; // (an empty second run)
            let r = read_converted(s, &all, 0..sig, &mut dst, kind, &mut scratch);
            assert!(
                matches!(r, Err(Error::Truncated { .. })),
                "{name} {mode:?} read_converted {kind:?}: {:?}",
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
        assert!(sigbus::total_faults() > faults_before, "{name}");
    }
    // Once the file has its data back, the same sources read it correctly again (a map that
    // faulted is retired in favour of pread).
    std::fs::write(&path, bytes_of(dt, 0, n, sig)).unwrap();
    let want = outputs(&run(&sources[0], None, 64 * 1024, 1).unwrap());
    for s in &sources {
        assert_eq!(
            outputs(&run(s, None, 64 * 1024, 1).unwrap()),
            want,
            "{name}"
        );
        let mut a = vec![0u8; n * sig * 4];
        let mut scratch = AlignedBuf::zeroed(0);
        let all = [0..n as u64, n as u64..n as u64];
        read_converted(s, &all, 0..sig, &mut a, ScalarKind::F32, &mut scratch).unwrap();
    }
}

#[test]
fn truncated_to_zero_while_mapped() {
    check_truncated("zero.raw", |_| 0);
}

#[test]
fn truncated_mid_page_while_mapped() {
    check_truncated("mid.raw", |full| full / 2 + 123);
}

#[test]
fn truncated_by_one_byte_while_mapped() {
    // Stays within the last page: no fault at all, only the length check can tell.
    check_truncated("one.raw", |full| full - 1);
}

#[test]
fn truncated_during_a_run() {
    // A thread truncates the file while runs over the map are going; every run either completes
    // before the truncation (and is then correct) or fails with Truncated, and none crashes.
    let dir = tempfile::tempdir().unwrap();
    let dt = DType::native(ScalarKind::U16);
    let (n, side) = (512usize, 64usize);
    for round in 0..4u64 {
        let path = write_file(dir.path(), "during.raw", &bytes_of(dt, 0, n, side * side));
        let shape = DatasetShape::new(&[n], &[side, side]).unwrap();
        let src = RawFileSource::open_with(&path, dt, shape, 0, 0, IoMode::Mmap).unwrap();
        let want = outputs(&run(&src, None, 64 * 1024, 1).unwrap());
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(std::time::Duration::from_micros(200 * round));
                truncate(&path, 4096 * (round + 1) + 17);
            });
            for _ in 0..20 {
                match run(&src, None, 64 * 1024, 2) {
                    Ok(out) => assert_eq!(outputs(&out), want),
                    Err(Error::Truncated { .. }) => {}
                    Err(e) => panic!("{e}"),
                }
            }
        });
        assert!(matches!(
            run(&src, None, 64 * 1024, 2),
            Err(Error::Truncated { .. })
        ));
    }
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
        let status = run_child(
            "child_npy_env",
            &[("FERROTEM_IO", env), ("EXPECT_MAPPED", mapped)],
        );
        assert_eq!(status.code(), Some(0), "FERROTEM_IO={env}: {status:?}");
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
    let path = write_npy(dir.path(), "c.npy", dt, false, &[6, 4, 4]);
    let (_, src) = open_npy(&path, 2, None, None, 0).unwrap();
    assert_eq!(src.stored_slice(0, 6, 0..16).is_some(), mapped);
    let want = outputs(&run(src.as_ref(), None, 4096, 1).unwrap());
    let len = std::fs::metadata(&path).unwrap().len();
    truncate(&path, len - 40);
    let r = run(src.as_ref(), None, 4096, 1);
    assert!(matches!(r, Err(Error::Truncated { .. })), "{:?}", r.err());
    assert_eq!(want.len(), 2);
    std::process::exit(0);
}

// --- SIGBUS chaining, checked in child processes (each re-runs this test binary) -------------

const CHILD_ENV: &str = "FERROTEM_SIGBUS_CHILD";

/// Runs the ignored test `name` of this binary in a child process and returns its exit status.
fn run_child(name: &str, env: &[(&str, &str)]) -> std::process::ExitStatus {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", name, "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
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
    unsafe {
        let sa: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut());
    }
}

#[test]
#[ignore = "child process of sigbus_on_unrelated_map_reaches_previous_handler"]
fn child_unrelated_previous_handler() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    extern "C" fn exit_42(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
        // SAFETY: `_exit` is async-signal-safe.
        unsafe { libc::_exit(42) };
    }
    // SAFETY: an all-zero sigaction is valid; installs a handler that only calls `_exit`.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = exit_42 as *const () as libc::sighandler_t;
        sa.sa_flags = libc::SA_SIGINFO;
        libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut());
    }
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
        let status = run_child("child_unrelated_default", env);
        assert_eq!(status.signal(), Some(libc::SIGBUS), "{env:?}: {status:?}");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn sigbus_on_unrelated_map_reaches_previous_handler() {
    let status = run_child("child_unrelated_previous_handler", &[]);
    assert_eq!(status.code(), Some(42), "{status:?}");
}

#[cfg(target_os = "linux")]
#[test]
fn sent_sigbus_kills() {
    use std::os::unix::process::ExitStatusExt;
    let status = run_child("child_sent_sigbus", &[]);
    assert_eq!(status.signal(), Some(libc::SIGBUS), "{status:?}");
}
