//! Fuzzing the EMPAD `.xml` handling (the XML reader and the EMPAD fields) and the raw reader:
//! random text and bytes, and written `.xml` files with random bytes changed or cut off; raw
//! files of random lengths. Whatever comes in, the result is a value or an error — never a
//! panic.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::empad::{
    open_empad, parse_empad_xml, xml, EmpadAcquisition, RECORD_BYTES,
};
use ferrotem_core::source::DataSource;
use proptest::prelude::*;

/// `.xml` files as an EMPAD acquisition writes them: a scan with both modes, and a series.
fn seeds() -> Vec<String> {
    vec![
        r#"<?xml version="1.0" encoding="utf-8"?>
<!-- EMPAD -->
<root>
  <raw_file filename="C:\data\scan_x2_y2.raw" />
  <type>scan</type>
  <scan_parameters mode="search">
    <scan_resolution_x>1</scan_resolution_x>
    <scan_resolution_y>2</scan_resolution_y>
  </scan_parameters>
  <scan_parameters mode="acquire">
    <scan_resolution_x>2</scan_resolution_x>
    <scan_resolution_y>2</scan_resolution_y>
  </scan_parameters>
</root>
"#
        .into(),
        "<?xml version='1.0'?><root><raw_file filename='scan_x2_y2.raw'/><type>series</type>\
         <count>3</count><note><![CDATA[x < y]]> &amp; &#65;</note></root>"
            .into(),
    ]
}

fn mutate(mut bytes: Vec<u8>, edits: &[(u16, u8)], cut: Option<u32>) -> Vec<u8> {
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

/// Bytes, half of them the characters that matter to XML (a cheap strategy: a table lookup).
fn xml_bytes() -> impl Strategy<Value = u8> {
    const SPECIAL: &[u8] = b"<>/\"'&;=!?[]-0 ";
    any::<u16>().prop_map(|v| {
        let [lo, hi] = v.to_le_bytes();
        if hi < 128 {
            SPECIAL[usize::from(lo) % SPECIAL.len()]
        } else {
            lo
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn random_text_never_panics(bytes in prop::collection::vec(xml_bytes(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = xml::parse(&text);
        let _ = parse_empad_xml(&text);
        let wrapped = format!("<root><raw_file filename='a'/>{text}</root>");
        let _ = parse_empad_xml(&wrapped);
    }

    #[test]
    fn mutated_xml_never_panics(
        pick in 0usize..2,
        edits in prop::collection::vec((any::<u16>(), xml_bytes()), 0..6),
        cut in proptest::option::of(any::<u32>()),
        raw_frames in 0u64..6,
    ) {
        let bytes = mutate(seeds()[pick].clone().into_bytes(), &edits, cut);
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(x) = parse_empad_xml(&text) {
            let _ = x.nav_shape_for(raw_frames * RECORD_BYTES);
            let _ = x.raw_path(std::path::Path::new("/d/a.xml"));
        }
        // and the whole path through files: the xml, the raw it names, the reader
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.xml");
        std::fs::write(&path, &bytes).unwrap();
        std::fs::write(dir.path().join("scan_x2_y2.raw"), vec![0u8; (raw_frames * RECORD_BYTES) as usize]).unwrap();
        if let Ok(acq) = EmpadAcquisition::from_xml(&path) {
            let n = usize::try_from(acq.frame_count()).unwrap();
            let shape = DatasetShape::new(&[n], &[128, 128]).unwrap();
            let src = open_empad(&acq.raw_path, Some(acq.frame_count()), shape, 0).unwrap();
            let mut dst = vec![0u8; n * 128 * 128 * 4];
            src.read_raw(0, n, 0..128 * 128, &mut dst).unwrap();
        }
    }

    #[test]
    fn raw_files_of_any_length_never_panic(len in 0u64..(3 * RECORD_BYTES + 10), frames in proptest::option::of(0u64..4)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.raw");
        std::fs::write(&path, vec![0x40u8; usize::try_from(len).unwrap()]).unwrap();
        let n = usize::try_from(frames.unwrap_or(len / RECORD_BYTES).max(1)).unwrap();
        let shape = DatasetShape::new(&[n], &[128, 128]).unwrap();
        if let Ok(src) = open_empad(&path, frames, shape, 0) {
            let mut dst = vec![0u8; n * 128 * 128 * 4];
            let _ = src.read_raw(0, n, 0..128 * 128, &mut dst);
        }
    }
}

#[test]
fn the_seeds_themselves_parse() {
    let scan = parse_empad_xml(&seeds()[0]).unwrap();
    assert_eq!(
        scan.nav_shape_for(4 * RECORD_BYTES).unwrap(),
        (vec![2, 2], "acquire")
    );
    assert_eq!(
        scan.nav_shape_for(2 * RECORD_BYTES).unwrap(),
        (vec![2, 1], "search")
    );
    assert_eq!(
        scan.raw_path(std::path::Path::new("/d/a.xml")),
        std::path::PathBuf::from("/d/scan_x2_y2.raw")
    );
    let series = parse_empad_xml(&seeds()[1]).unwrap();
    assert_eq!(
        series.nav_shape_for(3 * RECORD_BYTES).unwrap(),
        (vec![3], "series")
    );
}

/// A mapped raw file lends its frames in place: each lent frame is the record's first 128 rows,
/// the 2-row footer skipped; read with `pread` too, the same pixels.
#[test]
fn mapped_frames_are_lent_in_place_without_their_footers() {
    use ferrotem_core::source::empad::empad_spec;
    use ferrotem_core::source::{FramedSource, IoMode};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.raw");
    let frames = 3usize;
    let mut bytes = Vec::new();
    let mut expected = Vec::new();
    for f in 0..frames {
        for row in 0..130u16 {
            for col in 0..128u16 {
                // footer rows hold a value no frame pixel has
                let v = if row < 128 {
                    f32::from(row) * 1000.0
                        + f32::from(col)
                        + f32::from(u16::try_from(f).unwrap()) * 0.5
                } else {
                    -1.0
                };
                bytes.extend(v.to_le_bytes());
                if row < 128 {
                    expected.extend(v.to_le_bytes());
                }
            }
        }
    }
    std::fs::write(&path, &bytes).unwrap();
    let shape = DatasetShape::new(&[frames], &[128, 128]).unwrap();
    let px = 128 * 128;
    let mapped = FramedSource::open_with(
        empad_spec(path.clone(), None),
        shape.clone(),
        0,
        IoMode::Mmap,
    )
    .unwrap();
    if mapped.io_mode() == IoMode::Mmap {
        let lent = mapped
            .stored_frames(0, frames, 0..px)
            .expect("plain frames are lent in place");
        let got: Vec<u8> = lent.frames().flatten().copied().collect();
        assert_eq!(got, expected);
        mapped.check_stored(0, frames, 0..px).unwrap();
    }
    let pread =
        FramedSource::open_with(empad_spec(path, Some(3)), shape, 0, IoMode::Pread).unwrap();
    let mut dst = vec![0u8; frames * px * 4];
    pread.read_raw(0, frames, 0..px, &mut dst).unwrap();
    assert_eq!(dst, expected);
}
