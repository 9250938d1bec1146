//! Fuzzing the `.seq` header parser, the MRC reference parser and the `.metadata` record parser,
//! and the reader of `.seq` files: random bytes, and written files with random bytes changed or
//! cut off. Whatever comes in, the result is a value or an error — never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::seq::{
    open_seq, parse_mrc_reference, parse_seq_header, parse_seq_metadata, read_mrc_reference,
    read_seq_header, MRC_HEADER_BYTES, SEQ_HEADER_BYTES, SEQ_MAGIC, SEQ_METADATA_OFFSET,
};
use ferrotem_core::source::DataSource;
use proptest::prelude::*;

/// A `.seq` file of `frames` frames of 6 x 5 16-bit pixels with an 8-byte footer, `version` 4
/// (records from 1024) or 5 (from 8192).
fn seq_file(version: i32, frames: u16) -> Vec<u8> {
    let offset = if version >= 5 { 8192 } else { 1024 };
    let mut b = vec![0u8; offset];
    b[..4].copy_from_slice(&SEQ_MAGIC.to_le_bytes());
    b[28..32].copy_from_slice(&version.to_le_bytes());
    for (at, v) in [(548, 5u32), (552, 6), (556, 16), (568, 100), (580, 68)] {
        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    for f in 0..frames {
        for p in 0..30u16 {
            b.extend((f * 100 + p).to_le_bytes());
        }
        b.extend([0xEE; 8]);
    }
    b
}

fn mrc_file() -> Vec<u8> {
    let mut b = vec![0u8; MRC_HEADER_BYTES + 16 + 6 * 5 * 4];
    for (at, v) in [(0, 5i32), (4, 6), (8, 1), (12, 2), (92, 16)] {
        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    b[212] = 0x44;
    b[213] = 0x44;
    b
}

fn metadata_file() -> Vec<u8> {
    let mut b = vec![0u8; 400];
    for (k, v) in [512i32, 1, 24, 16, 0, 0, 1, 16, 400, 0, 0]
        .iter()
        .enumerate()
    {
        let at = SEQ_METADATA_OFFSET + 4 * k;
        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    b
}

/// Changes `bytes` at random places (most often among the first kilobyte, where the headers
/// are) and maybe cuts it off.
fn mutate(mut bytes: Vec<u8>, edits: &[(u16, u8, bool)], cut: Option<u32>) -> Vec<u8> {
    for &(at, value, far) in edits {
        if bytes.is_empty() {
            break;
        }
        let at = if far {
            at as usize * 7
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
            prop_oneof![any::<u8>(), Just(0u8), Just(0xFF), Just(1u8), Just(100u8)],
            any::<bool>(),
        ),
        0..8,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1400)) {
        let _ = parse_seq_header(&bytes);
        let mut seq = SEQ_MAGIC.to_le_bytes().to_vec();
        seq.extend(&bytes);
        if let Ok(h) = parse_seq_header(&seq) {
            let _ = (h.image_offset(), h.dtype(), h.frame_bytes(), h.footer_bytes(), h.frame_count(u64::MAX), h.sig_shape());
        }
        if let Ok(m) = parse_mrc_reference(&bytes) {
            let _ = m.data_bytes();
        }
        let _ = parse_seq_metadata(&bytes);
    }

    #[test]
    fn mutated_headers_never_panic(version in 3i32..7, e in edits(), cut in proptest::option::of(any::<u32>())) {
        let seq = mutate(seq_file(version, 2)[..SEQ_HEADER_BYTES].to_vec(), &e, cut);
        if let Ok(h) = parse_seq_header(&seq) {
            let _ = (h.frame_bytes(), h.footer_bytes(), h.frame_count(12345));
        }
        let mrc = mutate(mrc_file(), &e, cut);
        if let Ok(m) = parse_mrc_reference(&mrc) {
            let _ = m.data_bytes();
        }
        let _ = parse_seq_metadata(&mutate(metadata_file(), &e, cut));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn mutated_files_never_panic(version in 4i32..6, e in edits(), cut in proptest::option::of(any::<u32>())) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.seq");
        std::fs::write(&path, mutate(seq_file(version, 4), &e, cut)).unwrap();
        if let Ok((h, len)) = read_seq_header(&path) {
            let (rows, cols) = h.sig_shape();
            let frames = h.frame_count(len) as usize;
            // small enough to read whole (mutated sizes can be huge)
            if frames > 0 && rows * cols <= 4096 && frames <= 64 {
                let shape = DatasetShape::new(&[frames], &[rows, cols]).unwrap();
                if let Ok(src) = open_seq(&path, shape, 0) {
                    let px = rows * cols;
                    let mut dst = vec![0u8; frames * px * src.dtype().itemsize()];
                    let _ = src.read_raw(0, frames, 0..px, &mut dst);
                    if src.stored_frames(0, frames, 0..px).is_some() {
                        let _ = src.check_stored(0, frames, 0..px);
                    }
                }
            }
        }
        let mrc = dir.path().join("f.mrc");
        std::fs::write(&mrc, mutate(mrc_file(), &e, cut)).unwrap();
        if let Ok((m, data)) = read_mrc_reference(&mrc) {
            prop_assert_eq!(Some(data.len() as u64), m.data_bytes());
        }
    }
}

#[test]
fn the_seeds_themselves_read() {
    let dir = tempfile::tempdir().unwrap();
    for version in [4, 5] {
        let path = dir.path().join(format!("v{version}.seq"));
        std::fs::write(&path, seq_file(version, 3)).unwrap();
        let shape = DatasetShape::new(&[3], &[6, 5]).unwrap();
        let src = open_seq(&path, shape, 0).unwrap();
        let mut dst = vec![0u8; 3 * 30 * 2];
        src.read_raw(0, 3, 0..30, &mut dst).unwrap();
        assert_eq!(u16::from_le_bytes([dst[62], dst[63]]), 101);
    }
    let mrc = dir.path().join("r.mrc");
    std::fs::write(&mrc, mrc_file()).unwrap();
    assert_eq!(read_mrc_reference(&mrc).unwrap().1.len(), 120);
    assert!(parse_seq_metadata(&metadata_file()).is_ok());
}
