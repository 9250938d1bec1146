use super::block::{BLOCK_COLS, SYNC_WORD};
use super::*;
use std::io::Write;

/// The pixel the test files hold at frame `f`, row `y`, column `x`.
fn value(f: u64, y: usize, x: usize) -> u16 {
    ((f as usize * 131 + y * 7 + x * 13) % 4096) as u16
}

/// One block as the detector writes it.
fn block(sector: usize, index: usize, frame: u64, count: u32, active: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(BLOCK_BYTES as usize);
    out.extend(SYNC_WORD.to_be_bytes());
    out.extend([0; 4]);
    out.extend([2, u8::from(active)]);
    out.extend([0; 6]);
    out.extend(count.to_be_bytes());
    out.extend(256u16.to_be_bytes());
    out.extend(1860u16.to_be_bytes());
    out.extend((100 + frame as u32).to_be_bytes());
    out.extend([0; 8]); // pixel ranges: not read
    out.extend((BLOCK_BYTES as u32).to_be_bytes());
    let (row0, col0) = block_origin(sector, index);
    for row in 0..930 {
        for col in (0..BLOCK_COLS).step_by(2) {
            let first = u32::from(value(frame, row0 + row, col0 + col));
            let second = u32::from(value(frame, row0 + row, col0 + col + 1));
            let word = first | second << 12;
            out.extend([word as u8, (word >> 8) as u8, (word >> 16) as u8]);
        }
    }
    assert_eq!(out.len() as u64, BLOCK_BYTES);
    out
}

/// Eight sector files of `frames` frames, the first `inactive` with the shutter closed;
/// sector `s` leaves out its first `skip[s]` and last `cut[s]` blocks.
fn write(dir: &Path, frames: u64, inactive: u64, skip: [u64; 8], cut: [u64; 8]) -> Vec<PathBuf> {
    (0..8)
        .map(|s| {
            let path = dir.join(format!("x_{s}.bin"));
            let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
            let total = frames * 32;
            for k in skip[s]..total - cut[s] {
                let (frame, index) = (k / 32, (k % 32) as usize);
                f.write_all(&block(s, index, frame, 1000 + k as u32, frame >= inactive))
                    .unwrap();
            }
            path
        })
        .collect()
}

fn frame_values(f: u64, pixels: Range<usize>) -> Vec<u16> {
    pixels
        .map(|p| value(f, p / FRAME_WIDTH, p % FRAME_WIDTH))
        .collect()
}

fn as_u16(b: &[u8]) -> Vec<u16> {
    b.chunks(2)
        .map(|c| u16::from_ne_bytes([c[0], c[1]]))
        .collect()
}

#[test]
fn sync_drops_incomplete_frames_and_finds_the_shutter() {
    let dir = tempfile::tempdir().unwrap();
    // all start in frame 0, sector 3 only in frame 1 (block 8); sector 5 lacks the last 10
    // blocks: frames 2..5 are complete everywhere, frame 3 is the first with the shutter open.
    let paths = write(
        dir.path(),
        6,
        3,
        [5, 5, 5, 40, 5, 5, 5, 5],
        [0, 0, 0, 0, 0, 10, 0, 0],
    );
    for io in [IoMode::Mmap, IoMode::Pread] {
        let acq = K2isAcquisition::open_with(&paths, io).unwrap();
        let s = acq.sync().clone();
        assert_eq!(s.frames, 3);
        assert_eq!(s.first_active, 1);
        assert_eq!(
            (s.first_frame_id, s.active_frame_id, s.last_frame_id),
            (102, 103, 104)
        );
        assert_eq!(s.first_block[0], 64 - 5);
        assert_eq!(s.first_block[3], 64 - 40);
        assert!(acq.cut_blocks().is_empty());
        // logical frame 0 = complete frame 1 (stored frame 3)
        let shape = DatasetShape::new(&[3], &[FRAME_HEIGHT, FRAME_WIDTH]).unwrap();
        let src = acq.into_source(shape, 1).unwrap();
        let px = 900 * FRAME_WIDTH + 17..962 * FRAME_WIDTH + 3;
        let mut dst = vec![0xAAu8; 3 * px.len() * 2];
        src.read_raw(0, 3, px.clone(), &mut dst).unwrap();
        let per = px.len() * 2;
        assert_eq!(as_u16(&dst[..per]), frame_values(3, px.clone()));
        assert_eq!(as_u16(&dst[per..2 * per]), frame_values(4, px.clone()));
        assert!(
            dst[2 * per..].iter().all(|&b| b == 0),
            "past the end: zeros"
        );
        let all = 0..FRAME_HEIGHT * FRAME_WIDTH;
        let mut whole = vec![0u8; all.len() * 2];
        src.read_raw(1, 1, all.clone(), &mut whole).unwrap();
        assert_eq!(as_u16(&whole), frame_values(4, all));
    }
}

#[test]
fn out_of_step_sectors_and_bad_blocks_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write(dir.path(), 3, 0, [0; 8], [0; 8]);
    let shape = DatasetShape::new(&[3], &[FRAME_HEIGHT, FRAME_WIDTH]).unwrap();
    // a bad sync word in frame 1, sector 6, block 20
    let mut bytes = std::fs::read(&paths[6]).unwrap();
    let at = ((32 + 20) * BLOCK_BYTES) as usize;
    bytes[at] = 0x12;
    std::fs::write(&paths[6], &bytes).unwrap();
    let src = K2isAcquisition::open(&paths)
        .unwrap()
        .into_source(shape.clone(), 0)
        .unwrap();
    let all = 0..FRAME_HEIGHT * FRAME_WIDTH;
    let mut dst = vec![0u8; all.len() * 2];
    src.read_raw(0, 1, all.clone(), &mut dst).unwrap();
    let err = src.read_raw(1, 1, all.clone(), &mut dst).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("x_6.bin") && msg.contains("sync word 0x12FF0055"),
        "{msg}"
    );
    // a frame id out of step in the first frame: refused at open
    bytes[at] = 0xFF;
    bytes[24 + 5 * BLOCK_BYTES as usize] = 9;
    std::fs::write(&paths[6], &bytes).unwrap();
    let err = K2isAcquisition::open(&paths).unwrap_err().to_string();
    assert!(err.contains("x_6.bin") && err.contains("frame id"), "{err}");
    // seven files
    let err = K2isAcquisition::open(&paths[..7]).unwrap_err().to_string();
    assert!(err.contains("7 sector files"), "{err}");
    // a wrong sig shape, sync offset out of range
    std::fs::write(&paths[6], std::fs::read(&paths[5]).unwrap()).unwrap();
    let bad = DatasetShape::new(&[3], &[10, 10]).unwrap();
    assert!(K2isAcquisition::open(&paths)
        .unwrap()
        .into_source(bad, 0)
        .is_err());
    assert!(K2isAcquisition::open(&paths)
        .unwrap()
        .into_source(shape, 3)
        .is_err());
}
