//! The scan shape from a K2IS `.gtg` file: a minimal walk of its Digital Micrograph tag tree
//! (DM4, or DM3) that finds the root group `SI Dimensions` and its numbers `Size X` and
//! `Size Y`, skipping every other tag by its declared type. Nothing else is decoded.
//!
//! Layout: a header (version, the tree's length, the data byte order: 1 for little-endian),
//! then the root group. A group is `sorted`, `open` and the number of its tags; a tag is its
//! kind (20: group, 21: data), a name, in DM4 its size, and then a group or `%%%%`, the number
//! of type words, the type words, and the data. Lengths and type words are big-endian, 32-bit in
//! DM3 and 64-bit in DM4; the data is in the byte order of the header.

/// Deepest tag group followed.
const MAX_DEPTH: usize = 64;

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    /// 64-bit lengths and type words (DM4).
    wide: bool,
    little: bool,
}

type Res<T> = Result<T, String>;

impl Reader<'_> {
    fn take(&mut self, n: u64) -> Res<&[u8]> {
        let n = usize::try_from(n).map_err(|_| "a length too large".to_string())?;
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| {
                format!(
                    "the tag tree needs {n} more bytes at byte {}, the file has {}",
                    self.at,
                    self.bytes.len()
                )
            })?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Res<u8> {
        Ok(self.take(1)?[0])
    }

    fn be(&mut self, n: u64) -> Res<u64> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |v, &b| v << 8 | u64::from(b)))
    }

    /// A length or type word: 4 bytes in DM3, 8 in DM4.
    fn word(&mut self) -> Res<u64> {
        self.be(if self.wide { 8 } else { 4 })
    }
}

/// Bytes of one element of simple type `t`; `None` for types that are not simple.
fn simple_size(t: u64) -> Option<u64> {
    match t {
        8..=10 => Some(1),
        2 | 4 => Some(2),
        3 | 5 | 6 => Some(4),
        7 | 11 | 12 => Some(8),
        _ => None,
    }
}

/// The number stored as simple type `kind` in `bytes`.
#[expect(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    reason = "the bits are reinterpreted as the type says; scan sizes are small whole numbers"
)]
fn number(kind: u64, bytes: &[u8], little: bool) -> Option<f64> {
    let mut buf = [0u8; 8];
    let len = bytes.len().min(8);
    buf[..len].copy_from_slice(&bytes[..len]);
    if !little {
        buf[..len].reverse();
    }
    let raw = u64::from_le_bytes(buf);
    Some(match kind {
        2 => f64::from(raw as u16 as i16),
        3 => f64::from(raw as u32 as i32),
        4 => f64::from(raw as u16),
        5 => f64::from(raw as u32),
        6 => f64::from(f32::from_bits(raw as u32)),
        7 => f64::from_bits(raw),
        8..=10 => f64::from(raw as u8),
        11 => raw as i64 as f64,
        12 => raw as f64,
        _ => return None,
    })
}

/// Bytes of a data tag's value described by the type words `info`.
fn data_size(info: &[u64]) -> Res<u64> {
    let bad = || format!("unsupported tag type words {info:?}");
    let fields = |words: &[u64]| -> Res<u64> {
        // struct: name length, field count, then (name length, type) per field
        let n = *words.get(1).ok_or_else(bad)?;
        let mut total = 0u64;
        for k in 0..n {
            let i = usize::try_from(2 + 2 * k + 1).map_err(|_| bad())?;
            let t = *words.get(i).ok_or_else(bad)?;
            total = total
                .checked_add(simple_size(t).ok_or_else(bad)?)
                .ok_or_else(bad)?;
        }
        Ok(total)
    };
    match info {
        [t] => simple_size(*t).ok_or_else(bad),
        [18, len] => len.checked_mul(2).ok_or_else(bad),
        [15, rest @ ..] => fields(rest),
        [20, 15, rest @ ..] => {
            let (count, st) = rest.split_last().ok_or_else(bad)?;
            fields(st)?.checked_mul(*count).ok_or_else(bad)
        }
        [20, t, count] => simple_size(*t)
            .ok_or_else(bad)?
            .checked_mul(*count)
            .ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// What the walk found.
#[derive(Default)]
struct Found {
    x: Option<f64>,
    y: Option<f64>,
}

fn walk_group(r: &mut Reader<'_>, path: &mut Vec<String>, found: &mut Found) -> Res<()> {
    if path.len() > MAX_DEPTH {
        return Err(format!("tag groups nested deeper than {MAX_DEPTH}"));
    }
    r.take(2)?; // sorted, open
    let count = r.word()?;
    for _ in 0..count {
        let kind = r.u8()?;
        if kind == 0 {
            break; // end of the tree
        }
        let name_len = r.be(2)?;
        let name = String::from_utf8_lossy(r.take(name_len)?).into_owned();
        if r.wide {
            r.be(8)?; // the tag's size: not needed, every value is skipped by its type
        }
        match kind {
            20 => {
                path.push(name);
                walk_group(r, path, found)?;
                path.pop();
            }
            21 => walk_data(r, path, &name, found)?,
            other => {
                return Err(format!(
                    "tag kind {other} at byte {} (20 or 21 expected)",
                    r.at
                ))
            }
        }
    }
    Ok(())
}

fn walk_data(r: &mut Reader<'_>, path: &[String], name: &str, found: &mut Found) -> Res<()> {
    if r.take(4)? != b"%%%%" {
        return Err(format!(
            "tag {name:?}: no %%%% mark before its type at byte {}",
            r.at - 4
        ));
    }
    let n = r.word()?;
    if n > 1024 {
        return Err(format!("tag {name:?}: {n} type words"));
    }
    let mut info = Vec::new();
    for _ in 0..n {
        info.push(r.word()?);
    }
    let size = data_size(&info).map_err(|e| format!("tag {name:?}: {e}"))?;
    let little = r.little;
    let value = r.take(size)?;
    if path.len() == 1 && path[0] == "SI Dimensions" {
        if let [t] = info[..] {
            let v = number(t, value, little);
            match name {
                "Size X" => found.x = v,
                "Size Y" => found.y = v,
                _ => {}
            }
        }
    }
    Ok(())
}

/// The scan shape `(Size Y, Size X)` of the root group `SI Dimensions` of a `.gtg` file's bytes;
/// `None` if the file has no such group (a time series).
///
/// # Errors
/// A message saying what is wrong if the bytes are not a DM3/DM4 tag tree this walk can follow,
/// or the sizes are not positive whole numbers.
pub fn gtg_scan_shape(bytes: &[u8]) -> Result<Option<(u64, u64)>, String> {
    let mut r = Reader {
        bytes,
        at: 0,
        wide: false,
        little: false,
    };
    let version = r
        .be(4)
        .map_err(|_| "too short for a DM file header".to_string())?;
    r.wide = match version {
        3 => false,
        4 => true,
        v => return Err(format!("DM version {v}, expected 3 or 4")),
    };
    r.word()?; // length of the tree
    r.little = r.be(4)? == 1;
    let mut found = Found::default();
    walk_group(&mut r, &mut Vec::new(), &mut found)?;
    match (found.y, found.x) {
        (Some(y), Some(x)) => Ok(Some((whole(y, "Size Y")?, whole(x, "Size X")?))),
        _ => Ok(None),
    }
}

#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "checked to be a positive whole number below 2^53 first"
)]
fn whole(v: f64, name: &str) -> Res<u64> {
    if v.fract() == 0.0 && (1.0..9.0e15).contains(&v) {
        Ok(v as u64)
    } else {
        Err(format!(
            "SI Dimensions.{name} is {v}, expected a positive whole number"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag_data(wide: bool, name: &str, info: &[u64], data: &[u8]) -> Vec<u8> {
        let w = |v: u64| {
            if wide {
                v.to_be_bytes().to_vec()
            } else {
                (v as u32).to_be_bytes().to_vec()
            }
        };
        let mut body = b"%%%%".to_vec();
        body.extend(w(info.len() as u64));
        for &i in info {
            body.extend(w(i));
        }
        body.extend(data);
        let mut t = vec![21u8];
        t.extend((name.len() as u16).to_be_bytes());
        t.extend(name.as_bytes());
        if wide {
            t.extend((body.len() as u64).to_be_bytes());
        }
        t.extend(body);
        t
    }

    fn group(wide: bool, name: Option<&str>, tags: &[Vec<u8>]) -> Vec<u8> {
        let mut body = vec![0u8, 1];
        if wide {
            body.extend((tags.len() as u64).to_be_bytes());
        } else {
            body.extend((tags.len() as u32).to_be_bytes());
        }
        for t in tags {
            body.extend(t);
        }
        let Some(name) = name else { return body };
        let mut t = vec![20u8];
        t.extend((name.len() as u16).to_be_bytes());
        t.extend(name.as_bytes());
        if wide {
            t.extend((body.len() as u64).to_be_bytes());
        }
        t.extend(body);
        t
    }

    fn file(wide: bool, root: &[Vec<u8>]) -> Vec<u8> {
        let body = group(wide, None, root);
        let mut f = if wide { 4u32 } else { 3 }.to_be_bytes().to_vec();
        if wide {
            f.extend((body.len() as u64).to_be_bytes());
        } else {
            f.extend((body.len() as u32).to_be_bytes());
        }
        f.extend(1u32.to_be_bytes());
        f.extend(body);
        f
    }

    #[test]
    fn finds_the_scan_size_past_other_tags() {
        for wide in [false, true] {
            let other = group(
                wide,
                Some("SI Image Tags"),
                &[
                    tag_data(wide, "Size X", &[3], &7i32.to_le_bytes()),
                    tag_data(wide, "Arr", &[20, 4, 3], &[0; 6]),
                    tag_data(wide, "Str", &[18, 2], &[0; 4]),
                    tag_data(wide, "St", &[15, 0, 2, 0, 3, 0, 7], &[0; 12]),
                    tag_data(wide, "StArr", &[20, 15, 0, 1, 0, 2, 3], &[0; 6]),
                ],
            );
            let dims = group(
                wide,
                Some("SI Dimensions"),
                &[
                    tag_data(wide, "Size X", &[5], &64u32.to_le_bytes()),
                    tag_data(wide, "Size Y", &[7], &32f64.to_le_bytes()),
                ],
            );
            let f = file(wide, &[other.clone(), dims]);
            assert_eq!(gtg_scan_shape(&f), Ok(Some((32, 64))));
            assert_eq!(gtg_scan_shape(&file(wide, &[other])), Ok(None));
            for cut in [3, 10, f.len() / 2, f.len() - 1] {
                assert!(gtg_scan_shape(&f[..cut]).is_err(), "cut at {cut}");
            }
        }
        assert!(gtg_scan_shape(b"\0\0\0\x05rest of it")
            .unwrap_err()
            .contains("version 5"));
    }
}
