//! The DM tag parser and readers on the real files of `shared/data/real/dm` (known values) and
//! on a small 4-D file written here (stored transposed), and fuzzed: random bytes, and those
//! files with random bytes changed or cut off. Whatever comes in, the result is a value or an
//! error — never a panic — and what opens reads without one.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::dm::{
    info_of, open_dm_frames, parse_tags, read_dm, DmFrames, TransposedSource,
};
use ferrotem_core::source::DataSource;
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/real/dm")
}

const REAL: [&str; 3] = ["test-1.dm3", "test-1.dm4", "test_diffraction_pattern.dm3"];

/// A small DM4 file written here: one 4-D uint16 image (dims 3, 2, 4, 5) stored transposed
/// (no `Data Order Swapped` tag), so that the fuzzing reaches the transposed reader too.
fn written_4d() -> Vec<u8> {
    fn word(b: &mut Vec<u8>, w: u64) {
        b.extend(w.to_be_bytes());
    }
    fn entry(b: &mut Vec<u8>, kind: u8, label: &str, body: &[u8]) {
        b.push(kind);
        b.extend(u16::try_from(label.len()).unwrap().to_be_bytes());
        b.extend(label.as_bytes());
        word(b, body.len() as u64);
        b.extend(body);
    }
    fn data(words: &[u64], value: &[u8]) -> Vec<u8> {
        let mut b = b"%%%%".to_vec();
        word(&mut b, words.len() as u64);
        for &w in words {
            word(&mut b, w);
        }
        b.extend(value);
        b
    }
    fn group(entries: &[(u8, &str, Vec<u8>)]) -> Vec<u8> {
        let mut b = vec![0, 1];
        word(&mut b, entries.len() as u64);
        for (kind, label, body) in entries {
            entry(&mut b, *kind, label, body);
        }
        b
    }
    let dims = [3u32, 2, 4, 5];
    let pixels: Vec<u8> = (0..120u16).flat_map(u16::to_le_bytes).collect();
    let dimensions: Vec<(u8, &str, Vec<u8>)> = dims
        .iter()
        .map(|d| (21, "", data(&[5], &d.to_le_bytes())))
        .collect();
    let image_data = group(&[
        (21, "Data", data(&[20, 4, 120], &pixels)),
        (21, "DataType", data(&[3], &10i32.to_le_bytes())),
        (20, "Dimensions", group(&dimensions)),
    ]);
    let image = group(&[(20, "ImageData", image_data)]);
    let root = group(&[(20, "ImageList", group(&[(20, "", image)]))]);
    let mut file = 4u32.to_be_bytes().to_vec();
    word(&mut file, root.len() as u64 + 8);
    file.extend(1u32.to_be_bytes());
    file.extend(root);
    file.extend([0u8; 8]);
    file
}

/// The real files (those present) and a written 4-D file.
fn seeds() -> &'static Vec<Vec<u8>> {
    static FILES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    FILES.get_or_init(|| {
        let mut files: Vec<Vec<u8>> = REAL
            .iter()
            .filter_map(|n| std::fs::read(shared().join(n)).ok())
            .collect();
        if files.is_empty() {
            eprintln!("DM test files not found: fuzzing a written file only");
        }
        files.push(written_4d());
        files
    })
}

/// Reads every frame of `path`'s default image as its tags say, C-ordered or transposed.
fn read_default_image(path: &Path) -> Option<Vec<u8>> {
    let info = read_dm(path).ok()?;
    let index = info.default_image()?;
    let data = info.data(index).ok()?;
    let image = &info.images[index];
    let c_order = image.c_order();
    let (nav, sig) = image.nav_sig(c_order);
    let shape = DatasetShape::new(&nav, &sig).ok()?;
    let frames = shape.nav_size();
    let px = shape.sig_size();
    let source: Box<dyn DataSource> = if c_order {
        let files = vec![DmFrames {
            path: path.to_path_buf(),
            offset: data.offset,
            frames,
        }];
        Box::new(open_dm_frames(files, data.dtype, shape, 0).ok()?)
    } else {
        Box::new(TransposedSource::open(path, data.dtype, shape, frames, data.offset, 0).ok()?)
    };
    let item = data.dtype.itemsize();
    let mut all = vec![0u8; usize::try_from(frames).ok()? * px * item];
    source
        .read_raw(0, usize::try_from(frames).ok()?, 0..px, &mut all)
        .ok()?;
    if let Some(lent) = source.stored_frames(0, 1, 0..px) {
        let _ = lent.frames().count();
        let _ = source.check_stored(0, 1, 0..px);
    }
    Some(all)
}

#[test]
fn the_real_files_read_as_their_readme_says() {
    let dir = shared();
    if !dir.join(REAL[0]).exists() {
        eprintln!("DM test files not found: skipped");
        return;
    }
    for name in ["test-1.dm3", "test-1.dm4"] {
        let info = read_dm(&dir.join(name)).unwrap();
        assert_eq!(info.version, if name.ends_with('3') { 3 } else { 4 });
        assert!(info.images[0].is_thumbnail());
        assert_eq!(info.default_image(), Some(1));
        assert_eq!(info.images[1].dims, vec![2, 2, 2]);
        let bytes = read_default_image(&dir.join(name)).unwrap();
        let values: Vec<i16> = bytes
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(
            values.iter().map(|&v| i32::from(v)).sum::<i32>(),
            36,
            "{name}"
        );
        let mut sorted = values.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (1..=8).collect::<Vec<i16>>(), "{name}");
    }
    let bytes = read_default_image(&dir.join("test_diffraction_pattern.dm3")).unwrap();
    let values: Vec<i64> = bytes
        .chunks_exact(4)
        .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
        .collect();
    assert_eq!(values.len(), 87 * 87);
    assert_eq!(values.iter().sum::<i64>(), 9_459_771);
    assert_eq!(&values[..3], &[834, 823, 834]);
}

#[test]
fn the_written_4d_file_reads_transposed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.dm4");
    std::fs::write(&path, written_4d()).unwrap();
    let info = read_dm(&path).unwrap();
    assert!(!info.images[0].c_order());
    let bytes = read_default_image(&path).unwrap();
    let values: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    // nav (2, 3), sig (5, 4): frame f, pixel p is stored at p * 6 + f
    for f in 0..6u16 {
        for p in 0..20u16 {
            assert_eq!(values[usize::from(f * 20 + p)], p * 6 + f);
        }
    }
}

/// Changes `bytes` at random places and maybe cuts it off.
fn mutate(mut bytes: Vec<u8>, edits: &[(u32, u8)], cut: Option<u32>) -> Vec<u8> {
    for &(at, value) in edits {
        if bytes.is_empty() {
            break;
        }
        let at = at as usize % bytes.len();
        bytes[at] = value;
    }
    if let Some(cut) = cut {
        bytes.truncate(cut as usize % (bytes.len() + 1));
    }
    bytes
}

fn edits() -> impl Strategy<Value = Vec<(u32, u8)>> {
    prop::collection::vec(
        (
            any::<u32>(),
            prop_oneof![
                any::<u8>(),
                Just(0u8),
                Just(0xFF),
                Just(20),
                Just(21),
                Just(b'%')
            ],
        ),
        0..8,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600), v4 in any::<bool>(), le in any::<bool>()) {
        let _ = parse_tags(bytes.as_slice());
        // A valid header in front, so that the tree itself is fuzzed.
        let mut b = Vec::new();
        if v4 {
            b.extend(4u32.to_be_bytes());
            b.extend(0u64.to_be_bytes());
        } else {
            b.extend(3u32.to_be_bytes());
            b.extend(0u32.to_be_bytes());
        }
        b.extend(u32::from(le).to_be_bytes());
        b.extend(&bytes);
        if let Ok(tags) = parse_tags(b.as_slice()) {
            let info = info_of(&tags);
            for i in 0..info.images.len() {
                let _ = info.data(i);
                let im = &info.images[i];
                let _ = im.nav_sig(im.c_order());
            }
        }
    }

    #[test]
    fn mutated_real_tag_trees_never_panic(pick in any::<prop::sample::Index>(), e in edits(), cut in proptest::option::of(any::<u32>())) {
        let seeds = seeds();
        if !seeds.is_empty() {
            let bytes = mutate(seeds[pick.index(seeds.len())].clone(), &e, cut);
            if let Ok(tags) = parse_tags(bytes.as_slice()) {
                let info = info_of(&tags);
                let _ = info.default_image().map(|i| info.data(i));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn mutated_real_files_read_or_fail_cleanly(pick in any::<prop::sample::Index>(), e in edits(), cut in proptest::option::of(any::<u32>())) {
        let seeds = seeds();
        if !seeds.is_empty() {
            let bytes = mutate(seeds[pick.index(seeds.len())].clone(), &e, cut);
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("f.dm4");
            std::fs::write(&path, bytes).unwrap();
            let _ = read_default_image(&path);
        }
    }
}
