//! Pixel encodings that need decoding: what a [`FrameDecoder`] is, and the decoders built in.
//!
//! A decoder turns the stored bytes of one frame (its *payload*) into native-order pixels of
//! its [`FrameDecoder::dtype`], for any range of the frame's flat pixels. The framed source calls
//! it straight from the mapped file (or a `pread` buffer) into the caller's tile buffer, so a
//! packed frame is read once and never exists unpacked anywhere else.
//!
//! Built in: [`MedipixRaw`], the RAW mode of Medipix3 detectors (Quantum Detectors Merlin) — the
//! counters as the chips deliver them, packed into big-endian 64-bit words, for one chip or a
//! 2×2 quad.

use crate::dtype::{DType, ScalarKind};
use crate::error::{Error, Result};
use std::fmt::Debug;
use std::ops::Range;

/// Decodes frames stored in a packed encoding. See the module docs.
///
/// Implementations must not panic for any payload content: the bytes come from files, and
/// every decoder is fuzzed with random payloads.
pub trait FrameDecoder: Send + Sync + Debug {
    /// The element type of decoded pixels, in native byte order.
    fn dtype(&self) -> DType;

    /// Pixels of one decoded frame.
    fn frame_pixels(&self) -> usize;

    /// Stored bytes of one frame.
    fn payload_bytes(&self) -> usize;

    /// Decodes pixels `pixels` (a range of the flat frame) of the frame stored in `payload` into
    /// `dst`, `pixels.len()` values of [`FrameDecoder::dtype`] in native byte order.
    ///
    /// # Errors
    /// [`Error::Internal`] if `payload` is not [`FrameDecoder::payload_bytes`] long, `pixels`
    /// does not lie within the frame, or `dst` has the wrong length (the caller's bug).
    fn decode(&self, payload: &[u8], pixels: Range<usize>, dst: &mut [u8]) -> Result<()>;

    /// A short description for messages (`"Medipix RAW 1-bit, quad 2x2"`).
    fn describe(&self) -> String;
}

/// Checks the arguments of [`FrameDecoder::decode`] against the decoder's geometry.
fn check_decode_args(
    decoder: &dyn FrameDecoder,
    payload: &[u8],
    pixels: &Range<usize>,
    dst: &[u8],
) -> Result<()> {
    let item = decoder.dtype().itemsize();
    if payload.len() != decoder.payload_bytes()
        || pixels.start > pixels.end
        || pixels.end > decoder.frame_pixels()
        || pixels.len().checked_mul(item) != Some(dst.len())
    {
        return Err(Error::internal(format!(
            "{}: decode of pixels {pixels:?} from {} bytes into {} bytes (a frame is {} pixels \
             from {} bytes)",
            decoder.describe(),
            payload.len(),
            dst.len(),
            decoder.frame_pixels(),
            decoder.payload_bytes()
        )));
    }
    Ok(())
}

/// How one Medipix3 counter is packed in RAW mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawCounter {
    /// 1-bit counters, 64 to a word.
    Bits1,
    /// 6-bit counters, one per byte, 8 to a word.
    Bits6,
    /// 12-bit counters, one per 16 bits, 4 to a word.
    Bits12,
    /// 24-bit counters: two 12-bit frames one after the other, the high 12 bits first.
    Bits24,
}

impl RawCounter {
    /// The counter for a Merlin counter depth (1, 6, 12 or 24).
    #[must_use]
    pub fn from_depth(depth: u32) -> Option<RawCounter> {
        match depth {
            1 => Some(RawCounter::Bits1),
            6 => Some(RawCounter::Bits6),
            12 => Some(RawCounter::Bits12),
            24 => Some(RawCounter::Bits24),
            _ => None,
        }
    }

    /// Bits one counter occupies in a word.
    fn container_bits(self) -> usize {
        match self {
            RawCounter::Bits1 => 1,
            RawCounter::Bits6 => 8,
            RawCounter::Bits12 | RawCounter::Bits24 => 16,
        }
    }

    /// Counter depth in bits.
    #[must_use]
    pub fn depth(self) -> u32 {
        match self {
            RawCounter::Bits1 => 1,
            RawCounter::Bits6 => 6,
            RawCounter::Bits12 => 12,
            RawCounter::Bits24 => 24,
        }
    }

    /// Element type of decoded pixels.
    fn kind(self) -> ScalarKind {
        match self {
            RawCounter::Bits1 | RawCounter::Bits6 => ScalarKind::U8,
            RawCounter::Bits12 => ScalarKind::U16,
            RawCounter::Bits24 => ScalarKind::U32,
        }
    }
}

/// How the chips of a Medipix3 detector are arranged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChipLayout {
    /// One chip: a raw row is one row of the image.
    Single,
    /// Four chips, 2×2 (Merlin Quad). Raw row `r` holds row `r` of each chip in the order
    /// bottom-right, bottom-left, top-right, top-left; the two bottom chips are mounted turned by
    /// 180°, so their rows fill the image from the bottom up, right to left.
    Quad,
}

impl ChipLayout {
    fn chips(self) -> usize {
        match self {
            ChipLayout::Single => 1,
            ChipLayout::Quad => 4,
        }
    }
}

/// Medipix3 RAW mode: counters packed into big-endian 64-bit words as the chips deliver them.
///
/// Each chip row is a run of words; a word holds `64 / container_bits` counters, the first
/// pixel of the run in the word's least significant bits. (In file order: the 8 bytes of a word
/// hold its pixels last to first.) A raw row is one row of every chip (see [`ChipLayout`]); a
/// frame is `rows` raw rows — twice that for 24-bit counters, whose high and low 12 bits come as
/// two such frames one after the other (value = `high << 12 + low`).
#[derive(Debug, Clone)]
pub struct MedipixRaw {
    counter: RawCounter,
    layout: ChipLayout,
    chip_width: usize,
    rows: usize,
    /// Bytes of one chip row.
    chip_row_bytes: usize,
    /// Bytes of one raw row (all chips).
    raw_row_bytes: usize,
    /// Bytes of one 12-bit (or 1/6-bit) sub-frame.
    sub_bytes: usize,
}

impl MedipixRaw {
    /// A decoder for chips `chip_width` pixels wide delivering `rows` rows each.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if a chip row is not a whole number of 64-bit words, or the
    /// sizes overflow.
    pub fn new(
        counter: RawCounter,
        layout: ChipLayout,
        chip_width: usize,
        rows: usize,
    ) -> Result<Self> {
        let bits = counter.container_bits();
        let per_word = 64 / bits;
        if chip_width == 0 || rows == 0 || chip_width % per_word != 0 {
            return Err(Error::param(
                "chip_width",
                format!("{chip_width} pixels x {rows} rows"),
                format!(
                    "a positive multiple of {per_word} pixels (whole 64-bit words of {}-bit \
                     counters) and at least one row",
                    counter.depth()
                ),
            ));
        }
        let too_large = || Error::param("chip_width", chip_width, "a smaller frame");
        let chip_row_bytes = chip_width * bits / 8;
        let raw_row_bytes = chip_row_bytes
            .checked_mul(layout.chips())
            .ok_or_else(too_large)?;
        let sub_bytes = raw_row_bytes.checked_mul(rows).ok_or_else(too_large)?;
        // The decoded frame (in bytes) and a 24-bit payload must be addressable too.
        chip_width
            .checked_mul(rows)
            .and_then(|n| n.checked_mul(layout.chips()))
            .and_then(|n| n.checked_mul(counter.kind().itemsize()))
            .and(sub_bytes.checked_mul(2))
            .ok_or_else(too_large)?;
        Ok(MedipixRaw {
            counter,
            layout,
            chip_width,
            rows,
            chip_row_bytes,
            raw_row_bytes,
            sub_bytes,
        })
    }

    /// Width of the decoded frame.
    #[must_use]
    pub fn width(&self) -> usize {
        match self.layout {
            ChipLayout::Single => self.chip_width,
            ChipLayout::Quad => 2 * self.chip_width,
        }
    }

    /// Height of the decoded frame.
    #[must_use]
    pub fn height(&self) -> usize {
        match self.layout {
            ChipLayout::Single => self.rows,
            ChipLayout::Quad => 2 * self.rows,
        }
    }

    /// The chip rows that make up image row `y`: `(raw row, chip, reversed, first column)`.
    fn pieces(&self, y: usize) -> [(usize, usize, bool, usize); 2] {
        match self.layout {
            // The second piece is empty (`first column` past the row) for a single chip.
            ChipLayout::Single => [(y, 0, false, 0), (y, 0, false, usize::MAX)],
            ChipLayout::Quad if y < self.rows => [(y, 3, false, 0), (y, 2, false, self.chip_width)],
            ChipLayout::Quad => {
                let r = 2 * self.rows - 1 - y;
                [(r, 1, true, 0), (r, 0, true, self.chip_width)]
            }
        }
    }

    /// Decodes image row `y` of the frame in `payload` into `row` (a whole row of native-order
    /// pixels).
    fn decode_row(&self, payload: &[u8], y: usize, row: &mut [u8]) {
        for (raw_row, chip, reversed, col0) in self.pieces(y) {
            if col0 == usize::MAX {
                continue;
            }
            let start = raw_row * self.raw_row_bytes + chip * self.chip_row_bytes;
            let words = &payload[start..start + self.chip_row_bytes];
            match self.counter {
                RawCounter::Bits1 => {
                    unpack_bits(words, reversed, &mut row[col0..][..self.chip_width]);
                }
                RawCounter::Bits6 => {
                    unpack_bytes(words, reversed, &mut row[col0..][..self.chip_width]);
                }
                RawCounter::Bits12 => {
                    let out = &mut row[2 * col0..][..2 * self.chip_width];
                    unpack_u16(words, None, reversed, out);
                }
                RawCounter::Bits24 => {
                    let low = &payload[self.sub_bytes + start..][..self.chip_row_bytes];
                    let out = &mut row[4 * col0..][..4 * self.chip_width];
                    unpack_u16(words, Some(low), reversed, out);
                }
            }
        }
    }
}

/// Entry `v` of the table: bit `i` of `v` as byte `i` (or byte `7 - i`, reversed).
const fn bits_table(reversed: bool) -> [[u8; 8]; 256] {
    let mut table = [[0u8; 8]; 256];
    let mut v = 0;
    while v < 256 {
        let mut bit = 0;
        while bit < 8 {
            let byte = if reversed { 7 - bit } else { bit };
            table[v][byte] = ((v >> bit) & 1) as u8;
            bit += 1;
        }
        v += 1;
    }
    table
}

/// Eight output bytes per input byte, so that unpacking is a load and a store per byte.
static BITS: [[u8; 8]; 256] = bits_table(false);
static BITS_REVERSED: [[u8; 8]; 256] = bits_table(true);

/// 1-bit counters: 64 pixels per big-endian word, pixel `k` in bit `k`.
fn unpack_bits(words: &[u8], reversed: bool, out: &mut [u8]) {
    // The word's least significant byte is its last in the file: pixels 8b..8b+8 are in byte
    // `7 - b`. Reversed, the word's 64 pixels fill its 64 bytes from the end, each byte's bits
    // in reverse order.
    if reversed {
        for (word, dst) in words.chunks_exact(8).zip(out.rchunks_exact_mut(64)) {
            for (b, d) in dst.chunks_exact_mut(8).enumerate() {
                d.copy_from_slice(&BITS_REVERSED[usize::from(word[b])]);
            }
        }
    } else {
        for (word, dst) in words.chunks_exact(8).zip(out.chunks_exact_mut(64)) {
            for (b, d) in dst.chunks_exact_mut(8).enumerate() {
                d.copy_from_slice(&BITS[usize::from(word[7 - b])]);
            }
        }
    }
}

/// 6-bit counters: one per byte, 8 per big-endian word, pixel `k` in byte `k` from the end.
fn unpack_bytes(words: &[u8], reversed: bool, out: &mut [u8]) {
    let n = out.len();
    for (q, word) in words.chunks_exact(8).enumerate() {
        let dst = if reversed {
            &mut out[n - 8 * q - 8..n - 8 * q]
        } else {
            &mut out[8 * q..8 * q + 8]
        };
        if reversed {
            // pixel k goes to `dst[7 - k]`, and it is stored in byte `7 - k`
            dst.copy_from_slice(word);
        } else {
            for (d, &s) in dst.iter_mut().zip(word.iter().rev()) {
                *d = s;
            }
        }
    }
}

/// 12-bit counters: one per 16 bits, 4 per big-endian word, pixel `k` in bits `16k..16k+16`;
/// written as u16 — or, with `low` (the low 12-bit frame's same words), as u32
/// `high << 12 + low`.
fn unpack_u16(words: &[u8], low: Option<&[u8]>, reversed: bool, out: &mut [u8]) {
    let item = if low.is_some() { 4 } else { 2 };
    let pixels = out.len() / item;
    let word_at = |bytes: &[u8], q: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[8 * q..8 * q + 8]);
        u64::from_be_bytes(w)
    };
    for q in 0..words.len() / 8 {
        let high_word = word_at(words, q);
        let low_word = low.map(|l| word_at(l, q));
        for k in 0..4 {
            let px = 4 * q + k;
            let at = if reversed { pixels - 1 - px } else { px };
            let high = (high_word >> (16 * k)) & 0xFFFF;
            match low_word {
                None => out[2 * at..2 * at + 2].copy_from_slice(&(high as u16).to_ne_bytes()),
                Some(lw) => {
                    let value = (high << 12) + ((lw >> (16 * k)) & 0xFFFF);
                    out[4 * at..4 * at + 4].copy_from_slice(&(value as u32).to_ne_bytes());
                }
            }
        }
    }
}

impl FrameDecoder for MedipixRaw {
    fn dtype(&self) -> DType {
        DType::native(self.counter.kind())
    }

    fn frame_pixels(&self) -> usize {
        self.width() * self.height()
    }

    fn payload_bytes(&self) -> usize {
        match self.counter {
            RawCounter::Bits24 => 2 * self.sub_bytes,
            _ => self.sub_bytes,
        }
    }

    fn decode(&self, payload: &[u8], pixels: Range<usize>, dst: &mut [u8]) -> Result<()> {
        check_decode_args(self, payload, &pixels, dst)?;
        let item = self.counter.kind().itemsize();
        let width = self.width();
        if self.layout == ChipLayout::Single && pixels.start % width == 0 && pixels.end % width == 0
        {
            // Whole rows of one chip: their words follow each other, one call decodes them all.
            let rows = pixels.start / width..pixels.end / width;
            let words = &payload[rows.start * self.raw_row_bytes..rows.end * self.raw_row_bytes];
            match self.counter {
                RawCounter::Bits1 => unpack_bits(words, false, dst),
                RawCounter::Bits6 => unpack_bytes(words, false, dst),
                RawCounter::Bits12 => unpack_u16(words, None, false, dst),
                RawCounter::Bits24 => {
                    let low = &payload[self.sub_bytes..]
                        [rows.start * self.raw_row_bytes..rows.end * self.raw_row_bytes];
                    unpack_u16(words, Some(low), false, dst);
                }
            }
            return Ok(());
        }
        let mut partial_row: Vec<u8> = Vec::new();
        let mut px = pixels.start;
        while px < pixels.end {
            let y = px / width;
            let row_start = y * width;
            let end = (row_start + width).min(pixels.end);
            let out = &mut dst[(px - pixels.start) * item..(end - pixels.start) * item];
            if px == row_start && end == row_start + width {
                self.decode_row(payload, y, out);
            } else {
                // A row cut by the pixel range: decode it whole, keep the part asked for.
                partial_row.resize(width * item, 0);
                self.decode_row(payload, y, &mut partial_row);
                out.copy_from_slice(
                    &partial_row[(px - row_start) * item..(end - row_start) * item],
                );
            }
            px = end;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        let layout = match self.layout {
            ChipLayout::Single => "single chip",
            ChipLayout::Quad => "quad 2x2",
        };
        format!(
            "Medipix RAW {}-bit, {layout}, {}x{} pixels",
            self.counter.depth(),
            self.height(),
            self.width()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packs `values` (one chip row) the way the chips do: big-endian words, pixel `k` of a word
    /// in its `k`-th `bits`-wide field from the least significant end.
    fn pack(values: &[u64], bits: usize) -> Vec<u8> {
        let per_word = 64 / bits;
        values
            .chunks(per_word)
            .flat_map(|chunk| {
                let word = chunk
                    .iter()
                    .enumerate()
                    .fold(0u64, |w, (k, &v)| w | (v << (bits * k)));
                word.to_be_bytes()
            })
            .collect()
    }

    #[test]
    fn single_chip_rows_decode_in_order() {
        for (counter, bits, max) in [
            (RawCounter::Bits1, 1, 1u64),
            (RawCounter::Bits6, 8, 63),
            (RawCounter::Bits12, 16, 4095),
        ] {
            let (w, h) = (128, 3);
            let image: Vec<u64> = (0..w * h).map(|i| (i as u64 * 7919) % (max + 1)).collect();
            let payload: Vec<u8> = image.chunks(w).flat_map(|row| pack(row, bits)).collect();
            let d = MedipixRaw::new(counter, ChipLayout::Single, w, h).unwrap();
            assert_eq!(d.payload_bytes(), payload.len());
            let item = d.dtype().itemsize();
            let mut out = vec![0u8; w * h * item];
            d.decode(&payload, 0..w * h, &mut out).unwrap();
            let decoded: Vec<u64> = out
                .chunks(item)
                .map(|c| c.iter().rev().fold(0u64, |a, &b| (a << 8) | u64::from(b)))
                .collect();
            // (native order is little-endian on every platform this runs on)
            assert_eq!(decoded, image, "{counter:?}");
            // a range that cuts rows decodes the same pixels
            let mut part = vec![0u8; 200 * item];
            d.decode(&payload, 50..250, &mut part).unwrap();
            assert_eq!(&part[..], &out[50 * item..250 * item]);
        }
    }

    #[test]
    fn bad_arguments_are_errors_not_panics() {
        let d = MedipixRaw::new(RawCounter::Bits1, ChipLayout::Quad, 64, 2).unwrap();
        let payload = vec![0u8; d.payload_bytes()];
        let mut dst = vec![0u8; d.frame_pixels()];
        assert!(d
            .decode(&payload[1..], 0..d.frame_pixels(), &mut dst)
            .is_err());
        assert!(d
            .decode(&payload, 0..d.frame_pixels() + 1, &mut dst)
            .is_err());
        assert!(d.decode(&payload, 0..3, &mut dst).is_err());
        assert!(MedipixRaw::new(RawCounter::Bits1, ChipLayout::Single, 32, 2).is_err());
        assert!(MedipixRaw::new(RawCounter::Bits12, ChipLayout::Single, 0, 2).is_err());
        assert!(MedipixRaw::new(RawCounter::Bits12, ChipLayout::Quad, usize::MAX / 2, 4).is_err());
    }
}
