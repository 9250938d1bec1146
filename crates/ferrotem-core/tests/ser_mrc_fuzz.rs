//! Fuzzing the TIA `.ser` and MRC header parsers and readers: random bytes, and the real files
//! of `shared/data/real` (or files written here when they are missing) with random bytes changed
//! or cut off. Whatever comes in, the result is a value or an error — never a panic — and files
//! that open read without one.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::mrc::{open_mrc, parse_mrc_header, read_mrc_header};
use ferrotem_core::source::ser::{
    parse_element_header, parse_ser_header, read_ser, DATA_1D, DATA_2D,
};
use ferrotem_core::source::DataSource;
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/real")
}

/// A small `.ser` file of `n` 2-D elements of 4 × 3 `u16`, version `version`.
fn written_ser(version: u16, n: u32) -> Vec<u8> {
    let wide = version >= 0x0220;
    let mut b = Vec::new();
    b.extend(0x4949u16.to_le_bytes());
    b.extend(0x0197u16.to_le_bytes());
    b.extend(version.to_le_bytes());
    b.extend(DATA_2D.to_le_bytes());
    b.extend(0x4152u32.to_le_bytes());
    b.extend(n.to_le_bytes());
    b.extend(n.to_le_bytes());
    let arrays_at = 22 + if wide { 8 } else { 4 } + 4 + 4 + 8 + 8 + 4 + 4 + 4;
    if wide {
        b.extend((arrays_at as u64).to_le_bytes());
    } else {
        b.extend((arrays_at as u32).to_le_bytes());
    }
    b.extend(1u32.to_le_bytes());
    b.extend(n.to_le_bytes());
    b.extend([0u8; 16]);
    b.extend([0u8; 12]);
    assert_eq!(b.len(), arrays_at);
    let width = if wide { 8 } else { 4 };
    let first = arrays_at + 2 * n as usize * width;
    let element = 50 + 4 * 3 * 2 + 8;
    for k in 0..2 * n as usize {
        let at = if k < n as usize {
            first + k * element
        } else {
            first + (k - n as usize) * element + 50 + 24
        };
        b.extend(&(at as u64).to_le_bytes()[..width]);
    }
    for k in 0..n {
        b.extend([0u8; 40]);
        b.extend(2u16.to_le_bytes());
        b.extend(4u32.to_le_bytes());
        b.extend(3u32.to_le_bytes());
        b.extend((0..12u16).flat_map(|p| (p + 100 * k as u16).to_le_bytes()));
        b.extend([0x52, 0x41, 0, 0, 1, 0, 0, 0]);
    }
    b
}

/// A small MRC file of `nz` frames of 5 × 4 `uint16` after an extended header of 64 bytes.
fn written_mrc(nz: i32) -> Vec<u8> {
    let mut b = vec![0u8; 1024 + 64];
    for (word, v) in [(0, 5i32), (1, 4), (2, nz), (3, 6), (23, 64)] {
        b[4 * word..4 * word + 4].copy_from_slice(&v.to_le_bytes());
    }
    b[208..212].copy_from_slice(b"MAP ");
    b[212..214].copy_from_slice(&[0x44, 0x44]);
    for k in 0..(usize::try_from(nz).unwrap() * 20) {
        b.extend((k as u16).to_le_bytes());
    }
    b
}

fn ser_seeds() -> &'static Vec<Vec<u8>> {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut out: Vec<Vec<u8>> = [
            "tia/64x64x5_TEM_preview_1.ser",
            "tia/128x128x5-diffraction_preview_1.ser",
        ]
        .iter()
        .filter_map(|n| std::fs::read(shared().join(n)).ok())
        .collect();
        if out.is_empty() {
            eprintln!("TIA test files not found: fuzzing written files only");
        }
        out.extend([written_ser(0x0210, 3), written_ser(0x0220, 4)]);
        out
    })
}

fn mrc_seeds() -> &'static Vec<Vec<u8>> {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut out: Vec<Vec<u8>> = ["mrc/Custom_movie.mrc"]
            .iter()
            .filter_map(|n| std::fs::read(shared().join(n)).ok())
            .collect();
        if out.is_empty() {
            eprintln!("MRC test files not found: fuzzing written files only");
        }
        out.push(written_mrc(6));
        out
    })
}

/// Changes `bytes` at random places (most often in the first kilobyte, where the headers are)
/// and maybe cuts it off.
fn mutate(mut bytes: Vec<u8>, edits: &[(u16, u8, bool)], cut: Option<u32>) -> Vec<u8> {
    for &(at, value, far) in edits {
        if bytes.is_empty() {
            break;
        }
        let at = if far {
            at as usize * 131
        } else {
            at as usize % 1024
        };
        let at = at % bytes.len();
        bytes[at] = value;
    }
    if let Some(cut) = cut {
        bytes.truncate(cut as usize % (bytes.len() + 1));
    }
    bytes
}

fn edits() -> impl Strategy<Value = Vec<(u16, u8, bool)>> {
    prop::collection::vec(
        (
            any::<u16>(),
            prop_oneof![any::<u8>(), Just(0u8), Just(0xFF), Just(0x44), Just(0x11)],
            any::<bool>(),
        ),
        0..6,
    )
}

/// Reads everything `src` holds, in a few ways, unless that needs more than 64 MiB.
fn read_source(src: &dyn DataSource) {
    let frames = usize::try_from(src.shape().nav_size()).unwrap();
    let px = src.shape().sig_size();
    let item = src.dtype().itemsize();
    let Some(bytes) = frames
        .checked_mul(px)
        .and_then(|n| n.checked_mul(item))
        .filter(|&n| n <= 64 << 20)
    else {
        return;
    };
    let mut dst = vec![0u8; bytes];
    let _ = src.read_raw(0, frames, 0..px, &mut dst);
    if let Some(lent) = src.stored_frames(0, frames, 0..px) {
        let _ = lent.frames().map(<[u8]>::len).sum::<usize>();
        let _ = src.check_stored(0, frames, 0..px);
    }
    let mut one = vec![0u8; (px / 2) * item];
    let _ = src.read_raw(frames as u64 - 1, 1, px / 4..px / 4 + px / 2, &mut one);
}

fn open_and_read_ser(path: &Path) {
    let Ok(ser) = read_ser(path) else {
        return;
    };
    let Ok(shape) = DatasetShape::new(&[ser.data_offsets.len()], &ser.sig_shape()) else {
        return;
    };
    if let Ok(src) = ser.open(path, shape, 0) {
        read_source(&src);
    }
}

fn open_and_read_mrc(path: &Path) {
    let Ok(h) = read_mrc_header(path) else {
        return;
    };
    let (ny, nx) = h.sig_shape();
    let Ok(shape) = DatasetShape::new(&[h.nz as usize], &[ny, nx]) else {
        return;
    };
    if let Ok(src) = open_mrc(path, shape, 0) {
        read_source(&src);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1500)) {
        let _ = parse_ser_header(&bytes);
        let mut ser = vec![0x49, 0x49, 0x97, 0x01];
        ser.extend(&bytes);
        if let Ok(h) = parse_ser_header(&ser) {
            let _ = (h.nav_shape(), h.offset_arrays_len(), h.element_header_bytes());
            let _ = h.parse_offsets(&bytes);
        }
        let _ = parse_element_header(DATA_1D, &bytes);
        let _ = parse_element_header(DATA_2D, &bytes);
        if let Ok(h) = parse_mrc_header(&bytes) {
            let _ = (h.dtype(), h.frame_bytes(), h.data_offset(), h.encoding());
        }
    }

    #[test]
    fn mutated_headers_never_panic(pick in any::<prop::sample::Index>(), e in edits(), cut in proptest::option::of(any::<u32>())) {
        let seeds = ser_seeds();
        let bytes = mutate(seeds[pick.index(seeds.len())].clone(), &e, cut);
        if let Ok(h) = parse_ser_header(&bytes[..bytes.len().min(64 * 1024)]) {
            let at = usize::try_from(h.offset_array_offset).unwrap_or(usize::MAX);
            let _ = h.parse_offsets(bytes.get(at..).unwrap_or(&[]));
        }
        let seeds = mrc_seeds();
        let bytes = mutate(seeds[pick.index(seeds.len())].clone(), &e, cut);
        let _ = parse_mrc_header(&bytes[..bytes.len().min(1024)]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn mutated_ser_files_never_panic(pick in any::<prop::sample::Index>(), e in edits(), cut in proptest::option::of(any::<u32>())) {
        let seeds = ser_seeds();
        let bytes = mutate(seeds[pick.index(seeds.len())].clone(), &e, cut);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.ser");
        std::fs::write(&path, bytes).unwrap();
        open_and_read_ser(&path);
    }

    #[test]
    fn mutated_mrc_files_never_panic(pick in any::<prop::sample::Index>(), e in edits(), cut in proptest::option::of(any::<u32>())) {
        let seeds = mrc_seeds();
        let bytes = mutate(seeds[pick.index(seeds.len())].clone(), &e, cut);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.mrc");
        std::fs::write(&path, bytes).unwrap();
        open_and_read_mrc(&path);
    }
}

#[test]
fn the_seeds_themselves_read() {
    let dir = tempfile::tempdir().unwrap();
    for (i, bytes) in ser_seeds().iter().enumerate() {
        let path = dir.path().join(format!("s{i}.ser"));
        std::fs::write(&path, bytes).unwrap();
        let ser = read_ser(&path).unwrap();
        assert!(!ser.data_offsets.is_empty());
        let shape = DatasetShape::new(&[ser.data_offsets.len()], &ser.sig_shape()).unwrap();
        let src = ser.open(&path, shape, 0).unwrap();
        let mut one = vec![0u8; src.shape().sig_size() * src.dtype().itemsize()];
        src.read_raw(0, 1, 0..src.shape().sig_size(), &mut one)
            .unwrap();
    }
    for (i, bytes) in mrc_seeds().iter().enumerate() {
        let path = dir.path().join(format!("s{i}.mrc"));
        std::fs::write(&path, bytes).unwrap();
        let h = read_mrc_header(&path).unwrap();
        let (ny, nx) = h.sig_shape();
        let shape = DatasetShape::new(&[h.nz as usize], &[ny, nx]).unwrap();
        open_mrc(&path, shape, 0).unwrap();
    }
}
