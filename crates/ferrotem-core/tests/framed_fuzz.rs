//! Fuzzing the header parsers and the readers of the framed formats: random bytes and real
//! headers and files with random bytes changed or cut off. Whatever comes in, the result is a
//! value or an error — never a panic — and files that open read without one.
//!
//! Seeds: the real Merlin files of `shared/data/real` (extracted with `unzip` when it is
//! installed) and the real blockfile; without them, headers and files written here.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::blo::{open_blo, parse_blo_header};
use ferrotem_core::source::mib::{parse_frame_header, parse_hdr, MibAcquisition};
use ferrotem_core::source::DataSource;
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/real")
}

/// A member of the Merlin test archive, if the archive and `unzip` are there.
fn merlin_member(name: &str) -> Option<Vec<u8>> {
    let zip = shared().join("quantumdetector/Merlin_Single_Quad.zip");
    let out = std::process::Command::new("unzip")
        .arg("-p")
        .arg(&zip)
        .arg(name)
        .output()
        .ok()?;
    (out.status.success() && !out.stdout.is_empty()).then_some(out.stdout)
}

/// A frame header as Merlin writes one.
fn written_header(
    width: u32,
    height: u32,
    pixel: &str,
    layout: &str,
    chips: u32,
    depth: u32,
) -> Vec<u8> {
    let size = if chips == 1 { 384 } else { 768 };
    let mut h = format!(
        "MQ1,000001,{size:05},{chips:02},{width:04},{height:04},{pixel},{layout:>6},0F,2021-04-15 14:44:15.862206,0.001000,0,0,0,2.000000E+0,5.110000E+2,0.000000E+0,0.000000E+0,0.000000E+0,0.000000E+0,0.000000E+0,0.000000E+0,3RX,011,511,000,000,000,000,000,000,175,010,200,125,100,100,093,100,099,030,128,004,255,140,128,191,179,511,511,MQ1A,2021-04-15T13:44:15.862206301Z,1000000ns,{depth},"
    )
    .into_bytes();
    h.resize(size, 0);
    h
}

/// Small whole `.mib` files: real ones when available, else written here.
fn seed_files() -> &'static Vec<Vec<u8>> {
    static FILES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    FILES.get_or_init(|| {
        let real: Vec<Vec<u8>> = [
            "Single_1_Frame_CounterDepth_1_Rows_256RAW.mib",
            "Single_9_Frame_CounterDepth_1_Rows_256RAW.mib",
            "Quad_1_Frame_CounterDepth_1_Rows_256RAW.mib",
            "Single_1_Frame_CounterDepth_6_Rows_256.mib",
        ]
        .iter()
        .filter_map(|n| merlin_member(n))
        .collect();
        if !real.is_empty() {
            return real;
        }
        eprintln!("Merlin test files not found (or no unzip): fuzzing written files");
        let mut single = Vec::new();
        for s in 0..3u8 {
            single.extend(written_header(64, 4, "U16", "1x1", 1, 12));
            single.extend(std::iter::repeat_n(s, 64 * 4 * 2));
        }
        let mut quad = written_header(256, 2, "R64", "2x2", 4, 1);
        quad.extend(std::iter::repeat_n(0x5A, 256 * 2 / 8));
        vec![single, quad]
    })
}

fn seed_headers() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = seed_files()
        .iter()
        .map(|f| f[..f.len().min(1024)].to_vec())
        .collect();
    out.extend([
        written_header(256, 256, "U08", "1x1", 1, 6),
        written_header(1024, 256, "R64", "2x2", 4, 12),
        written_header(512, 256, "R64", "1x1", 1, 24),
        written_header(2048, 256, "R64", "2x2", 4, 24),
    ]);
    out
}

fn blo_seed() -> Vec<u8> {
    std::fs::read(shared().join("blockfile/test1.blo")).unwrap_or_else(|_| {
        let mut b = vec![0u8; 4112 + 6 * (6 + 16)];
        b[..6].copy_from_slice(b"IMGBLO");
        b[6..8].copy_from_slice(&258u16.to_le_bytes());
        b[8..12].copy_from_slice(&4096u32.to_le_bytes());
        b[12..16].copy_from_slice(&4112u32.to_le_bytes());
        b[20..22].copy_from_slice(&4u16.to_le_bytes());
        b[24..26].copy_from_slice(&2u16.to_le_bytes());
        b[26..28].copy_from_slice(&3u16.to_le_bytes());
        for i in 0..6u32 {
            let at = 4112 + i as usize * 22;
            b[at..at + 2].copy_from_slice(&0x55AAu16.to_le_bytes());
            b[at + 2..at + 6].copy_from_slice(&i.to_le_bytes());
        }
        b
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
            prop_oneof![any::<u8>(), Just(b','), Just(b'0'), Just(b'9'), Just(0u8)],
            any::<bool>(),
        ),
        0..6,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn mib_frame_headers_never_panic(pick in any::<prop::sample::Index>(), e in edits(), cut in proptest::option::of(any::<u32>())) {
        let seeds = seed_headers();
        let bytes = mutate(seeds[pick.index(seeds.len())].clone(), &e, cut);
        if let Ok(h) = parse_frame_header(&bytes) {
            // whatever parsed, its derived geometry is a value or an error too
            let _ = (h.encoding(), h.sig_shape(), h.record_bytes(), h.summary());
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1200), big in any::<bool>()) {
        let _ = parse_frame_header(&bytes);
        let mut mq1 = b"MQ1,".to_vec();
        mq1.extend(&bytes);
        let _ = parse_frame_header(&mq1);
        let _ = parse_hdr(&bytes);
        let mut hdr = b"HDR,\t\r\n".to_vec();
        hdr.extend(&bytes);
        let _ = parse_hdr(&hdr);
        let _ = parse_blo_header(&bytes, big);
        let mut blo = b"IMGBLO".to_vec();
        blo.extend(&bytes);
        let _ = parse_blo_header(&blo, big);
    }

    #[test]
    fn blo_headers_never_panic(e in edits(), cut in proptest::option::of(any::<u32>()), big in any::<bool>()) {
        let bytes = mutate(blo_seed(), &e, cut);
        let _ = parse_blo_header(&bytes[..bytes.len().min(64 * 1024)], big);
    }
}

/// Opens `path` as a MIB acquisition and reads it all, natively and converted.
fn read_all_mib(path: &Path) {
    let Ok(acq) = MibAcquisition::scan(&[path.to_path_buf()]) else {
        return;
    };
    let Ok((h, w)) = acq.sig_shape() else {
        return;
    };
    let frames = acq.frame_count() as usize;
    let shape = DatasetShape::new(&[frames], &[h, w]).unwrap();
    if let Ok(src) = acq.open(shape, 0) {
        read_source(&src, frames, h * w);
    }
}

fn read_source(src: &dyn DataSource, frames: usize, px: usize) {
    let item = src.dtype().itemsize();
    let mut dst = vec![0u8; frames * px * item];
    let _ = src.read_raw(0, frames, 0..px, &mut dst);
    if let Some(lent) = src.stored_frames(0, frames, 0..px) {
        let _ = lent.frames().map(<[u8]>::len).sum::<usize>();
        let _ = src.check_stored(0, frames, 0..px);
    }
    let mut one = vec![0u8; (px / 2) * item];
    let _ = src.read_raw(frames as u64 - 1, 1, px / 4..px / 4 + px / 2, &mut one);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn mib_files_never_panic(pick in any::<prop::sample::Index>(), e in edits(), cut in proptest::option::of(any::<u32>())) {
        let seeds = seed_files();
        let bytes = mutate(seeds[pick.index(seeds.len())].clone(), &e, cut);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.mib");
        std::fs::write(&path, bytes).unwrap();
        read_all_mib(&path);
    }

    #[test]
    fn blo_files_never_panic(e in edits(), cut in proptest::option::of(any::<u32>()), big in any::<bool>()) {
        let bytes = mutate(blo_seed(), &e, cut);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.blo");
        std::fs::write(&path, bytes).unwrap();
        if let Ok(h) = ferrotem_core::source::blo::read_blo_header(&path, big) {
            let (ny, nx) = h.nav_shape();
            let (a, b) = h.sig_shape();
            let shape = DatasetShape::new(&[ny * nx], &[a, b]).unwrap();
            if let Ok(src) = open_blo(&path, big, shape, 0) {
                read_source(&src, ny * nx, a * b);
            }
        }
    }
}

#[test]
fn the_seeds_themselves_read() {
    let dir = tempfile::tempdir().unwrap();
    for (i, bytes) in seed_files().iter().enumerate() {
        let path = dir.path().join(format!("s{i}.mib"));
        std::fs::write(&path, bytes).unwrap();
        let acq = MibAcquisition::scan(&[path]).unwrap();
        assert!(acq.frame_count() >= 1);
    }
}
