//! One K2IS data block: its 40-byte header and its 930 × 16 pixels packed as 12-bit numbers.
//!
//! Each of the eight sector files is a stream of blocks of [`BLOCK_BYTES`] bytes. A frame is 32
//! blocks in every sector: two block rows of 930 pixel rows, sixteen block columns of 16 pixels,
//! the columns stored right to left (block `i` of a frame lies in block row `i / 16` and block
//! column `15 - i % 16` of its sector). Sector `s` covers frame columns `256 s .. 256 (s + 1)`.
//!
//! Header fields are big-endian; pixels are little-endian 12-bit numbers, two in three bytes.

use super::unpack::{unpack_row, unpack_rows};
use std::ops::Range;

/// Bytes of one block, header included.
pub const BLOCK_BYTES: u64 = 0x5758;
/// Bytes of a block's header.
pub const HEADER_BYTES: usize = 40;
/// Pixel rows of a block.
pub const BLOCK_ROWS: usize = 930;
/// Pixel columns of a block.
pub const BLOCK_COLS: usize = 16;
/// Bytes of one packed block row (16 pixels of 12 bits).
pub const ROW_BYTES: usize = BLOCK_COLS * 3 / 2;
/// Blocks side by side in a sector (one block row of a frame).
pub const BLOCKS_PER_ROW: usize = 16;
/// Blocks of one frame in each sector.
pub const BLOCKS_PER_FRAME: u64 = 32;
/// Sector files of a dataset.
pub const SECTORS: usize = 8;
/// Width of a sector in pixels.
pub const SECTOR_WIDTH: usize = 256;
/// Frame height in pixels.
pub const FRAME_HEIGHT: usize = 2 * BLOCK_ROWS;
/// Frame width in pixels.
pub const FRAME_WIDTH: usize = SECTORS * SECTOR_WIDTH;
/// The sync word every block header starts with.
pub const SYNC_WORD: u32 = 0xFFFF_0055;
/// The flag bit set while the shutter is open.
pub const SHUTTER_ACTIVE: u8 = 0x1;

/// What a block header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHeader {
    /// Should be [`SYNC_WORD`].
    pub sync: u32,
    /// Format version.
    pub version: u8,
    /// Flags; bit 0 is set while the shutter is open.
    pub flags: u8,
    /// A running count of blocks, the same for the blocks at one place in every sector.
    pub block_count: u32,
    /// Sector width (256).
    pub width: u16,
    /// Sector height (1860).
    pub height: u16,
    /// The frame the block belongs to.
    pub frame_id: u32,
    /// First pixel column of the block within its sector.
    pub pixel_x_start: u16,
    /// First pixel row of the block within its sector.
    pub pixel_y_start: u16,
    /// Last pixel column of the block within its sector.
    pub pixel_x_end: u16,
    /// Last pixel row of the block within its sector.
    pub pixel_y_end: u16,
    /// Bytes of the block (0x5758).
    pub block_size: u32,
}

fn be_u16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parses the first [`HEADER_BYTES`] bytes of a block.
///
/// # Errors
/// A message if fewer bytes are given.
pub fn parse_block_header(bytes: &[u8]) -> Result<BlockHeader, String> {
    if bytes.len() < HEADER_BYTES {
        return Err(format!(
            "a block header is {HEADER_BYTES} bytes, only {} are present",
            bytes.len()
        ));
    }
    Ok(BlockHeader {
        sync: be_u32(bytes, 0),
        version: bytes[8],
        flags: bytes[9],
        block_count: be_u32(bytes, 16),
        width: be_u16(bytes, 20),
        height: be_u16(bytes, 22),
        frame_id: be_u32(bytes, 24),
        pixel_x_start: be_u16(bytes, 28),
        pixel_y_start: be_u16(bytes, 30),
        pixel_x_end: be_u16(bytes, 32),
        pixel_y_end: be_u16(bytes, 34),
        block_size: be_u32(bytes, 36),
    })
}

impl BlockHeader {
    /// What makes this header unusable (a wrong sync word or sector size), if anything.
    #[must_use]
    pub fn problem(&self) -> Option<String> {
        if self.sync != SYNC_WORD {
            return Some(format!(
                "sync word 0x{:08X}, expected 0x{SYNC_WORD:08X}",
                self.sync
            ));
        }
        if usize::from(self.width) != SECTOR_WIDTH || usize::from(self.height) != FRAME_HEIGHT {
            return Some(format!(
                "sector size {}x{} (width x height), expected {SECTOR_WIDTH}x{FRAME_HEIGHT}",
                self.width, self.height
            ));
        }
        None
    }

    /// True while the shutter was open.
    #[must_use]
    pub fn shutter_active(&self) -> bool {
        self.flags & SHUTTER_ACTIVE != 0
    }
}

/// Frame row and column of the top-left pixel of block `index` (0..32) of a frame in `sector`.
#[must_use]
pub fn block_origin(sector: usize, index: usize) -> (usize, usize) {
    let row = index / 16;
    let col = 15 - index % 16;
    (row * BLOCK_ROWS, sector * SECTOR_WIDTH + col * BLOCK_COLS)
}

/// The block rows (0..930) of a block at frame row `origin_row` that hold pixels of `pixels`
/// (a range of flat frame pixels); empty if none.
#[must_use]
pub fn rows_in(origin_row: usize, pixels: &Range<usize>) -> Range<usize> {
    if pixels.is_empty() {
        return 0..0;
    }
    let first = pixels.start / FRAME_WIDTH;
    let last = (pixels.end - 1) / FRAME_WIDTH;
    let lo = first.max(origin_row);
    let hi = (last + 1).min(origin_row + BLOCK_ROWS);
    if lo >= hi {
        0..0
    } else {
        lo - origin_row..hi - origin_row
    }
}

/// Decodes block rows `rows` of blocks lying side by side in a frame, given their packed
/// bytes: `cols[c]` holds rows `rows` (`rows.len() * 24` bytes) of the block whose top-left
/// pixel is at frame row `origin.0`, column `origin.1 + 16 c` (the 16 blocks of one block row
/// of a sector, in column order, or fewer). Writes `dst`: native-endian `u16` pixels of the
/// flat frame range `pixels`, `dst[0..2]` being pixel `pixels.start`. Pixels of the rows
/// outside `pixels` are left alone.
///
/// # Panics
/// If a column holds fewer bytes than said or `dst` is shorter than `pixels.len() * 2` bytes.
pub fn decode_rows(
    cols: &[&[u8]],
    origin: (usize, usize),
    rows: Range<usize>,
    pixels: &Range<usize>,
    dst: &mut [u8],
) {
    let width = cols.len() * BLOCK_COLS;
    let row_start = |r: usize| (origin.0 + r) * FRAME_WIDTH + origin.1;
    // Rows whose pixels all lie in `pixels` go through the unpacking kernel; the others (at
    // most the first and the last) pixel by pixel.
    let mut full = rows.clone();
    while full.start < full.end && row_start(full.start) < pixels.start {
        full.start += 1;
    }
    while full.end > full.start && row_start(full.end - 1) + width > pixels.end {
        full.end -= 1;
    }
    for r in (rows.start..full.start).chain(full.end.max(full.start)..rows.end) {
        for (c, col) in cols.iter().enumerate() {
            let start = row_start(r) + c * BLOCK_COLS;
            let lo = start.max(pixels.start);
            let hi = (start + BLOCK_COLS).min(pixels.end);
            if lo >= hi {
                continue;
            }
            let at = (r - rows.start) * ROW_BYTES;
            let mut row = [0u8; ROW_BYTES];
            row.copy_from_slice(&col[at..at + ROW_BYTES]);
            let values = unpack_row(&row);
            let out = &mut dst[(lo - pixels.start) * 2..(hi - pixels.start) * 2];
            for (o, v) in out.chunks_exact_mut(2).zip(&values[lo - start..hi - start]) {
                o.copy_from_slice(&v.to_ne_bytes());
            }
        }
    }
    if full.is_empty() {
        return;
    }
    let out = &mut dst[(row_start(full.start) - pixels.start) * 2..];
    let packed = full.start - rows.start..full.end - rows.start;
    unpack_rows(cols, packed, out, FRAME_WIDTH * 2);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packs 16 numbers below 4096 the way the detector does.
    fn pack(values: &[u16; 16]) -> Vec<u8> {
        values
            .chunks(2)
            .flat_map(|p| {
                let (a, b) = (u32::from(p[0]), u32::from(p[1]));
                let v = a | b << 12;
                [v as u8, (v >> 8) as u8, (v >> 16) as u8]
            })
            .collect()
    }

    #[test]
    fn origins_run_right_to_left_within_a_sector() {
        assert_eq!(block_origin(0, 0), (0, 240));
        assert_eq!(block_origin(0, 15), (0, 0));
        assert_eq!(block_origin(2, 16), (930, 512 + 240));
        assert_eq!(block_origin(7, 31), (930, 7 * 256));
    }

    #[test]
    fn a_partial_pixel_range_takes_only_its_pixels() {
        let values: [u16; 16] = std::array::from_fn(|i| i as u16 + 100);
        let packed = pack(&values).repeat(3);
        // rows 929..932 of the frame; block at row 930, column 32: its rows 0..2
        let pixels = 929 * FRAME_WIDTH + 40..931 * FRAME_WIDTH + 36;
        assert_eq!(rows_in(930, &pixels), 0..2);
        assert_eq!(rows_in(0, &pixels), 929..930);
        let mut dst = vec![0u8; pixels.len() * 2];
        decode_rows(&[&packed], (930, 32), 0..2, &pixels, &mut dst);
        let px = |p: usize| {
            let i = (p - pixels.start) * 2;
            u16::from_ne_bytes([dst[i], dst[i + 1]])
        };
        assert_eq!(px(930 * FRAME_WIDTH + 32), 100);
        assert_eq!(px(931 * FRAME_WIDTH + 35), 103);
        assert_eq!(px(931 * FRAME_WIDTH + 32), 100);
        assert_eq!(px(931 * FRAME_WIDTH + 31), 0);
    }

    #[test]
    fn headers_parse_big_endian_and_say_what_is_wrong() {
        let mut h = vec![0u8; 40];
        h[..4].copy_from_slice(&SYNC_WORD.to_be_bytes());
        h[9] = 1;
        h[16..20].copy_from_slice(&77u32.to_be_bytes());
        h[20..22].copy_from_slice(&256u16.to_be_bytes());
        h[22..24].copy_from_slice(&1860u16.to_be_bytes());
        h[24..28].copy_from_slice(&5u32.to_be_bytes());
        let p = parse_block_header(&h).unwrap();
        assert_eq!(
            (p.block_count, p.frame_id, p.shutter_active()),
            (77, 5, true)
        );
        assert_eq!(p.problem(), None);
        h[0] = 0;
        let p = parse_block_header(&h).unwrap();
        assert!(p.problem().unwrap().contains("sync word 0x00FF0055"));
        assert!(parse_block_header(&h[..39]).is_err());
    }
}
