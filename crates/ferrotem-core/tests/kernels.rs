//! The native kernels (every case of `native_kernel_cases`) against a float64 oracle at real
//! sizes: 256x256 and 512x512 frames, 4096 frames, values whose float32 sums round, sizes that
//! leave a remainder on every blocked loop, every stored dtype in both byte orders, memory and
//! file sources, ROIs, partitions cut into pieces, and every instruction set this CPU has.
//! Tolerances and their reasoning: `common/kernel_oracle/mod.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

mod common;

use common::kernel_oracle::{
    check_kernel_against_f64, native_kernel_cases, oracle_expected, random_roi, CheckReport,
    RunConfig, SourceKind, TestData,
};
use ferrotem_core::buffer::InputKind;
use ferrotem_core::dtype::{ByteOrder, DType, ScalarKind, ALL_KINDS};
use ferrotem_core::source::IoMode;

const MEMORY: SourceKind = SourceKind::Memory;
const MMAP: SourceKind = SourceKind::Raw {
    io: IoMode::Mmap,
    header: 0,
};
const PREAD: SourceKind = SourceKind::Raw {
    io: IoMode::Pread,
    header: 0,
};
/// A mapped file whose data start 3 bytes in: not aligned for any multi-byte dtype.
const MMAP_MISALIGNED: SourceKind = SourceKind::Raw {
    io: IoMode::Mmap,
    header: 3,
};

fn check(
    data: &TestData,
    input: InputKind,
    roi: Option<&[bool]>,
    configs: &[RunConfig],
) -> CheckReport {
    check_kernel_against_f64(data, input, roi, configs, &native_kernel_cases())
}

/// The data must make float32 sums round, or the check proves less than it seems to.
fn assert_rounded(report: &CheckReport) {
    assert!(
        report.rounded.iter().all(|&r| r),
        "some kernel matched the oracle exactly everywhere: the data do not exercise rounding \
         ({report:?})"
    );
}

fn native(kind: ScalarKind) -> DType {
    DType::native(kind)
}

/// Stored bytes of `frames` frames of `sig_size` pixels of `dt`.
fn stored(dt: DType, frames: usize, sig_size: usize) -> usize {
    frames * sig_size * dt.itemsize()
}

/// Input-dtype bytes of `frames` frames (a tile of exactly that depth).
fn tile_of(frames: usize, sig_size: usize, input: InputKind) -> usize {
    frames * sig_size * input.scalar().itemsize()
}

#[test]
fn uint16_256x256_4096_frames() {
    let data = TestData::generate(native(ScalarKind::U16), &[64, 64], &[256, 256], 1);
    // 1 MiB tiles hold 4 float32 frames; 32 MiB pieces hold 256 stored frames, so every
    // partition is cut into pieces, and 3 partitions do not fall on piece boundaries.
    let report = check(
        &data,
        InputKind::F32,
        None,
        &[RunConfig::new(MEMORY), RunConfig::new(MMAP).partitions(3)],
    );
    assert_rounded(&report);
    let roi = random_roi(data.n_frames(), 70, 2);
    check(
        &data,
        InputKind::F32,
        Some(&roi),
        &[RunConfig::new(PREAD).partitions(5)],
    );
    // No frame selected: exact zeros and an empty per-frame result.
    let none = vec![false; data.n_frames()];
    check(
        &data,
        InputKind::F32,
        Some(&none),
        &[RunConfig::new(MEMORY)],
    );
}

#[test]
fn float32_256x256_4096_frames() {
    let data = TestData::generate(native(ScalarKind::F32), &[4096], &[256, 256], 3);
    let roi = random_roi(data.n_frames(), 85, 4);
    let report = check(
        &data,
        InputKind::F32,
        Some(&roi),
        &[RunConfig::new(MEMORY).partitions(3)],
    );
    assert_rounded(&report);
}

#[test]
fn frames_of_512x512() {
    let data = TestData::generate(native(ScalarKind::U16), &[32, 32], &[512, 512], 5);
    // float32: one frame is one 1 MiB tile. float64: a frame is two tiles of 131072 pixels.
    let report = check(
        &data,
        InputKind::F32,
        None,
        &[
            RunConfig::new(SourceKind::Npy).partitions(3),
            RunConfig::new(MEMORY).threads(1),
        ],
    );
    assert_rounded(&report);
    check(&data, InputKind::F64, None, &[RunConfig::new(MEMORY)]);
    let data = TestData::generate(native(ScalarKind::F32), &[257], &[512, 512], 6);
    let roi = random_roi(data.n_frames(), 60, 7);
    check(
        &data,
        InputKind::F32,
        Some(&roi),
        &[RunConfig::new(MMAP).partitions(2)],
    );
}

/// Frames of 250x263 = 65750 pixels (65750 % 64 = 22, % 16 = 6, % 8 = 6), an odd number of
/// frames, a ROI in runs, tiles of 3, 8, 13 and 1 frames (groups of 8 rows full and partial),
/// frames split into 3 or 6 pixel ranges that are not multiples of the vector width, pieces
/// of 777 frames, and a misaligned map that forces element-wise conversion.
fn odd_sizes(u16_frames: usize, f32_frames: usize) -> u64 {
    let mut digest = 0u64;
    let sig = [250usize, 263];
    let px = sig[0] * sig[1];
    for (kind, frames, seed) in [
        (ScalarKind::U16, u16_frames, 11),
        (ScalarKind::F32, f32_frames, 12),
    ] {
        let dt = native(kind);
        let data = TestData::generate(dt, &[frames], &sig, seed);
        let roi = random_roi(frames, 80, seed + 100);
        let f32_tile = |n| tile_of(n, px, InputKind::F32);
        let report = check(
            &data,
            InputKind::F32,
            Some(&roi),
            &[
                RunConfig::new(MEMORY).partitions(5),
                RunConfig::new(MEMORY)
                    .partitions(3)
                    .tile_bytes(f32_tile(13))
                    .task_bytes(stored(dt, 777, px)),
                RunConfig::new(PREAD)
                    .partitions(4)
                    .threads(1)
                    .tile_bytes(f32_tile(9) - 1),
                // 25000-pixel ranges: 25000, 25000, 15750.
                RunConfig::new(MMAP_MISALIGNED).tile_bytes(100_000),
            ],
        );
        // uint16 sums pass 2^24 (and round) beyond about 512 frames of mean 32768.
        if kind == ScalarKind::F32 || frames > 1024 {
            assert_rounded(&report);
        }
        digest ^= report.digest;
        // float64 input, 12500-pixel ranges: five of them and 3250.
        let report = check(
            &data,
            InputKind::F64,
            Some(&roi),
            &[
                RunConfig::new(MMAP).partitions(3).tile_bytes(100_000),
                RunConfig::new(MEMORY)
                    .threads(1)
                    .tile_bytes(tile_of(10, px, InputKind::F64)),
            ],
        );
        digest = digest.rotate_left(17) ^ report.digest;
    }
    digest
}

#[test]
fn odd_sizes_hit_every_remainder() {
    odd_sizes(4099, 1031);
}

/// Every stored dtype in both byte orders at 256x256, into every input dtype it may be cast
/// to: native-order data is summed straight from its stored values (fused conversion),
/// swapped or misaligned data is converted first.
fn every_dtype(frames: usize) -> u64 {
    let mut digest = 0u64;
    let sig = [256usize, 256];
    let px = sig[0] * sig[1];
    for (k, kind) in ALL_KINDS.into_iter().enumerate() {
        for order in [ByteOrder::Little, ByteOrder::Big] {
            let dt = DType { kind, order };
            let data = TestData::generate(dt, &[frames], &sig, 40 + k as u64);
            // Complex input for real data (a UDF may prefer it) and real input for complex
            // data (the real part) go through the conversion before the kernel.
            let inputs: &[InputKind] = if kind.kind_char() == 'c' {
                &[InputKind::C64, InputKind::C128, InputKind::F32]
            } else {
                &[InputKind::F32, InputKind::F64, InputKind::C64]
            };
            for &input in inputs {
                let report = check(
                    &data,
                    input,
                    None,
                    &[
                        // Tiles of 9 frames: a full group of 8 rows and one more.
                        RunConfig::new(MEMORY).tile_bytes(tile_of(9, px, input)),
                        RunConfig::new(MMAP).partitions(3),
                        RunConfig::new(SourceKind::MemoryMisaligned)
                            .partitions(1)
                            .threads(1),
                    ],
                );
                digest = digest.rotate_left(17) ^ report.digest;
            }
        }
    }
    digest
}

#[test]
fn every_dtype_and_byte_order_at_256x256() {
    every_dtype(37);
}

// --- every instruction set, in child processes --------------------------------------------

/// Set in a child process: the instruction set it must run with.
const CHILD_LEVEL: &str = "FERROTEM_KERNELS_CHILD_LEVEL";

#[test]
fn every_instruction_set_this_cpu_has() {
    // `FERROTEM_SIMD` caps the instruction set once per process, so each level gets a child
    // process running the remainder and dtype checks at a smaller scale. All levels must also
    // give the same bits (module docs of `simd`).
    let best = ferrotem_core::simd::instruction_set();
    let levels = ["baseline", "avx", "avx2", "avx512"];
    let top = levels.iter().position(|&l| l == best).unwrap();
    let mut digests = Vec::new();
    for level in &levels[..=top] {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "child_at_one_level", "--nocapture"])
            .env("FERROTEM_SIMD", level)
            .env(CHILD_LEVEL, level)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "FERROTEM_SIMD={level}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let digest = stdout
            .lines()
            .find_map(|l| l.strip_prefix("output digest "))
            .unwrap_or_else(|| panic!("FERROTEM_SIMD={level}: no digest in {stdout}"))
            .to_string();
        digests.push((*level, digest));
    }
    assert!(
        digests.iter().all(|(_, d)| *d == digests[0].1),
        "instruction sets disagree: {digests:?}"
    );
}

#[test]
#[ignore = "child process of every_instruction_set_this_cpu_has"]
fn child_at_one_level() {
    let Ok(level) = std::env::var(CHILD_LEVEL) else {
        return;
    };
    assert_eq!(ferrotem_core::simd::instruction_set(), level);
    let digest = odd_sizes(203, 77) ^ every_dtype(11).rotate_left(1);
    println!("output digest {digest:016x}");
}

// --- larger variants: `cargo test -p ferrotem-core --test kernels -- --ignored` -----------

#[test]
#[ignore = "slow: 2 GiB of uint16 and 1 GiB of float32"]
fn slow_512x512_4096_frames() {
    let data = TestData::generate(native(ScalarKind::U16), &[64, 64], &[512, 512], 21);
    let roi = random_roi(data.n_frames(), 90, 22);
    let report = check(
        &data,
        InputKind::F32,
        Some(&roi),
        &[RunConfig::new(MMAP).partitions(4)],
    );
    assert_rounded(&report);
    drop(data);
    let data = TestData::generate(native(ScalarKind::F32), &[4096], &[512, 256], 23);
    check(&data, InputKind::F32, None, &[RunConfig::new(MEMORY)]);
}

// --- the tolerances are tight enough ---------------------------------------------------------

#[test]
fn tolerance_sees_one_frame_missing_of_4096() {
    // The oracle of data with one frame zeroed, judged by the tolerance of the full data: the
    // missing frame must show at most pixels (the others' values are near 0), or a kernel that
    // skips a frame would pass.
    let full = TestData::generate(native(ScalarKind::U16), &[4096], &[32, 32], 9);
    let mut missing = TestData::generate(native(ScalarKind::U16), &[4096], &[32, 32], 9);
    let frame = 1024 * 2;
    missing.bytes[1234 * frame..1235 * frame].fill(0);
    let cases = native_kernel_cases();
    let want = oracle_expected(&full, InputKind::F32, None, 1, &cases);
    let got = oracle_expected(&missing, InputKind::F32, None, 1, &cases);
    for ((case, w), g) in cases.iter().zip(&want).zip(&got) {
        let seen = w
            .want
            .iter()
            .zip(&w.tol)
            .zip(&g.want)
            .filter(|((w, t), g)| (*g - *w).abs() > **t)
            .count();
        let expected_min = if case.name == "SumUdf" { 900 } else { 1 };
        assert!(
            seen >= expected_min,
            "{}: a missing frame shows at only {seen} of {} elements",
            case.name,
            w.want.len()
        );
    }
}
