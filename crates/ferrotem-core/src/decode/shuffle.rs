//! HDF5's byte shuffle (filter 2): the bytes of `n` elements of `elem_size` bytes are stored as
//! `elem_size` planes of `n` bytes (all first bytes, then all second bytes, ...); bytes beyond the
//! last whole element are stored unchanged at the end.

/// Undoes the shuffle: `input` → `out` (the same length; extra bytes of `out` beyond the input
/// are left alone, missing ones are not written).
pub fn unshuffle(input: &[u8], out: &mut [u8], elem_size: usize) {
    let len = input.len().min(out.len());
    let (input, out) = (&input[..len], &mut out[..len]);
    if elem_size <= 1 || len < elem_size {
        out.copy_from_slice(input);
        return;
    }
    let n = len / elem_size;
    let body = n * elem_size;
    match elem_size {
        2 => unshuffle_fixed::<2>(&input[..body], &mut out[..body]),
        4 => unshuffle_fixed::<4>(&input[..body], &mut out[..body]),
        8 => unshuffle_fixed::<8>(&input[..body], &mut out[..body]),
        _ => {
            for (j, plane) in input[..body].chunks_exact(n).enumerate() {
                for (i, &byte) in plane.iter().enumerate() {
                    out[i * elem_size + j] = byte;
                }
            }
        }
    }
    out[body..].copy_from_slice(&input[body..]);
}

/// The shuffle for a fixed element size, written so that the compiler keeps the planes'
/// positions in registers.
fn unshuffle_fixed<const E: usize>(input: &[u8], out: &mut [u8]) {
    let n = input.len() / E;
    let planes: [&[u8]; E] = std::array::from_fn(|j| &input[j * n..(j + 1) * n]);
    for (i, element) in out.chunks_exact_mut(E).enumerate() {
        for (j, byte) in element.iter_mut().enumerate() {
            *byte = planes[j][i];
        }
    }
}

/// Applies the shuffle (what HDF5 does when writing): the inverse of [`unshuffle`].
#[must_use]
pub fn shuffle(data: &[u8], elem_size: usize) -> Vec<u8> {
    let mut out = data.to_vec();
    if elem_size <= 1 || data.len() < elem_size {
        return out;
    }
    let n = data.len() / elem_size;
    for i in 0..n {
        for j in 0..elem_size {
            out[j * n + i] = data[i * elem_size + j];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_layout() {
        let data = [1u8, 2, 3, 4, 5, 6, 7];
        assert_eq!(shuffle(&data, 2), vec![1, 3, 5, 2, 4, 6, 7]);
        let mut out = [0u8; 7];
        unshuffle(&[1, 3, 5, 2, 4, 6, 7], &mut out, 2);
        assert_eq!(out, data);
    }

    proptest! {
        #[test]
        fn round_trip(data in proptest::collection::vec(any::<u8>(), 0..300), e in 1usize..10) {
            let mut out = vec![0u8; data.len()];
            unshuffle(&shuffle(&data, e), &mut out, e);
            prop_assert_eq!(out, data);
        }
    }
}
