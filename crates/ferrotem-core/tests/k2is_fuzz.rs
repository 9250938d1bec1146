//! Fuzzing the K2IS parsers and reader: random and mutated block headers, `.gtg` tag trees,
//! sector headers for the sync, packed pixels, and whole sector files with bytes changed or cut
//! off. Whatever comes in, the result is a value or an error — never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::k2is::block::{
    block_origin, decode_rows, parse_block_header, rows_in, BlockHeader, BLOCK_BYTES, ROW_BYTES,
    SYNC_WORD,
};
use ferrotem_core::source::k2is::gtg::gtg_scan_shape;
use ferrotem_core::source::k2is::sync::{sync_sectors, SectorBlocks};
use ferrotem_core::source::k2is::K2isAcquisition;
use ferrotem_core::source::{DataSource, IoMode};
use ferrotem_core::Result;
use proptest::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A block header as the detector writes one.
fn header(count: u32, frame_id: u32, active: bool) -> [u8; 40] {
    let mut h = [0u8; 40];
    h[..4].copy_from_slice(&SYNC_WORD.to_be_bytes());
    h[9] = u8::from(active);
    h[16..20].copy_from_slice(&count.to_be_bytes());
    h[20..22].copy_from_slice(&256u16.to_be_bytes());
    h[22..24].copy_from_slice(&1860u16.to_be_bytes());
    h[24..28].copy_from_slice(&frame_id.to_be_bytes());
    h[36..40].copy_from_slice(&(BLOCK_BYTES as u32).to_be_bytes());
    h
}

/// A sector of headers only (the sync reads nothing else).
struct Headers {
    path: PathBuf,
    headers: Vec<[u8; 40]>,
}

impl SectorBlocks for Headers {
    fn path(&self) -> &Path {
        &self.path
    }
    fn blocks(&self) -> u64 {
        self.headers.len() as u64
    }
    fn header(&self, index: u64) -> Result<BlockHeader> {
        Ok(parse_block_header(&self.headers[index as usize]).unwrap())
    }
}

/// A mutation of `bytes`: flipped, overwritten, cut or extended bytes.
fn mutate(bytes: &[u8], ops: &[(u8, usize, u8)]) -> Vec<u8> {
    let mut v = bytes.to_vec();
    for &(kind, at, value) in ops {
        if v.is_empty() {
            v.push(value);
            continue;
        }
        let i = at % v.len();
        match kind % 5 {
            0 => v[i] ^= value | 1,
            1 => v[i] = value,
            2 => v.truncate(i),
            3 => v.insert(i, value),
            _ => v.extend(std::iter::repeat_n(value, i % 17)),
        }
    }
    v
}

/// A DM4 `.gtg` with other tags and the scan size.
fn gtg_seed() -> Vec<u8> {
    fn data(name: &str, info: &[u64], value: &[u8]) -> Vec<u8> {
        let mut body = b"%%%%".to_vec();
        body.extend((info.len() as u64).to_be_bytes());
        for i in info {
            body.extend(i.to_be_bytes());
        }
        body.extend(value);
        let mut t = vec![21u8];
        t.extend((name.len() as u16).to_be_bytes());
        t.extend(name.as_bytes());
        t.extend((body.len() as u64).to_be_bytes());
        t.extend(body);
        t
    }
    fn group(name: &str, tags: &[Vec<u8>]) -> Vec<u8> {
        let mut body = vec![0u8, 1];
        body.extend((tags.len() as u64).to_be_bytes());
        for t in tags {
            body.extend(t);
        }
        let mut t = vec![20u8];
        t.extend((name.len() as u16).to_be_bytes());
        t.extend(name.as_bytes());
        t.extend((body.len() as u64).to_be_bytes());
        t.extend(body);
        t
    }
    let root = [
        group("A", &[data("S", &[20, 15, 0, 1, 0, 3, 2], &[0; 8])]),
        group(
            "SI Dimensions",
            &[
                data("Size X", &[3], &64i32.to_le_bytes()),
                data("Size Y", &[3], &32i32.to_le_bytes()),
            ],
        ),
    ];
    let mut body = vec![0u8, 1];
    body.extend((root.len() as u64).to_be_bytes());
    for t in &root {
        body.extend(t);
    }
    let mut f = 4u32.to_be_bytes().to_vec();
    f.extend((body.len() as u64).to_be_bytes());
    f.extend(1u32.to_be_bytes());
    f.extend(body);
    f
}

/// Headers of eight sectors of `frames` frames, the first `inactive` with the shutter closed,
/// sector `s` without its first `skip[s]` and last `cut[s]` blocks.
fn sectors(frames: u32, inactive: u32, skip: &[u32; 8], cut: &[u32; 8]) -> Vec<Headers> {
    (0..8)
        .map(|s| Headers {
            path: PathBuf::from(format!("sector_{s}.bin")),
            headers: (0..frames * 32)
                .skip(skip[s] as usize)
                .take((frames * 32).saturating_sub(skip[s] + cut[s]) as usize)
                .map(|k| header(1000 + k, 7 + k / 32, k / 32 >= inactive))
                .collect(),
        })
        .collect()
}

/// A small real acquisition on disk: 3 frames, sector 2 starting 3 blocks late.
fn base_files() -> &'static (tempfile::TempDir, Vec<PathBuf>) {
    static FILES: OnceLock<(tempfile::TempDir, Vec<PathBuf>)> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let payload: Vec<u8> = (0..BLOCK_BYTES as usize - 40)
            .map(|i| (i * 37 % 251) as u8)
            .collect();
        let paths = (0..8)
            .map(|s| {
                let path = dir.path().join(format!("k_{s}.bin"));
                let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
                let skip = if s == 2 { 3 } else { 0 };
                for k in skip..96u32 {
                    f.write_all(&header(1000 + k, 7 + k / 32, k >= 32)).unwrap();
                    f.write_all(&payload).unwrap();
                }
                path
            })
            .collect();
        (dir, paths)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn block_headers_and_gtg_bytes_never_panic(
        input in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        if let Ok(h) = parse_block_header(&input) {
            let _ = (h.problem(), h.shutter_active());
        }
        let _ = gtg_scan_shape(&input);
    }

    #[test]
    fn mutated_gtg_never_panics(
        ops in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..6),
    ) {
        let _ = gtg_scan_shape(&mutate(&gtg_seed(), &ops));
    }

    #[test]
    fn decoding_any_bytes_and_range_never_panics(
        packed in proptest::collection::vec(any::<u8>(), 0..(ROW_BYTES * 40)),
        sector in 0usize..8,
        index in 0usize..32,
        n_cols in 1usize..=16,
        start in 0usize..(1860 * 2048),
        len in 0usize..20_000,
    ) {
        let end = (start + len).min(1860 * 2048);
        let pixels = start..end;
        // `n_cols` blocks side by side from the block's column, as many as fit in the frame
        let origin = block_origin(sector, index);
        let n_cols = n_cols.min((2048 - origin.1) / 16);
        let rows = rows_in(origin.0, &pixels);
        let have = (packed.len() / (ROW_BYTES * n_cols)).min(rows.len());
        let rows = rows.start..rows.start + have;
        let cols: Vec<&[u8]> = packed.chunks_exact(ROW_BYTES * have.max(1)).take(n_cols).collect();
        let mut dst = vec![0u8; pixels.len() * 2];
        if cols.len() == n_cols {
            decode_rows(&cols, origin, rows, &pixels, &mut dst);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn sync_of_mutated_headers_never_panics(
        frames in 0u32..5,
        inactive in 0u32..4,
        skip in proptest::array::uniform8(0u32..70),
        cut in proptest::array::uniform8(0u32..70),
        edits in proptest::collection::vec((0usize..8, any::<usize>(), 0usize..40, any::<u8>()), 0..4),
    ) {
        let mut s = sectors(frames, inactive, &skip, &cut);
        for (sector, block, at, value) in edits {
            let h = &mut s[sector].headers;
            if !h.is_empty() {
                let n = h.len();
                h[block % n][at] = value;
            }
        }
        if let Ok(sync) = sync_sectors(&s) {
            prop_assert!(sync.frames >= 1 && sync.first_active < sync.frames);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn mutated_sector_files_never_panic(
        sector in 0usize..8,
        ops in proptest::collection::vec(
            (any::<u8>(), 0u64..96, 0usize..48, any::<u8>()), 1..5),
        pread in any::<bool>(),
    ) {
        let (_, base) = base_files();
        let bytes = std::fs::read(&base[sector]).unwrap();
        // edits aimed at block headers (and the first pixels after them), plus cuts
        let ops: Vec<(u8, usize, u8)> = ops
            .into_iter()
            .map(|(kind, block, at, v)| (kind, (block * BLOCK_BYTES) as usize + at, v))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let spoiled = dir.path().join("spoiled.bin");
        std::fs::write(&spoiled, mutate(&bytes, &ops)).unwrap();
        let mut paths = base.clone();
        paths[sector] = spoiled;
        let io = if pread { IoMode::Pread } else { IoMode::Mmap };
        if let Ok(acq) = K2isAcquisition::open_with(&paths, io) {
            let frames = acq.sync().frames;
            let shape = DatasetShape::new(&[frames as usize], &[1860, 2048]).unwrap();
            let src = acq.into_source(shape, 0).unwrap();
            let px = 1000 * 2048 - 5..1000 * 2048 + 3000;
            let mut dst = vec![0u8; frames as usize * px.len() * 2];
            let _ = src.read_raw(0, frames as usize, px, &mut dst);
        }
    }
}
