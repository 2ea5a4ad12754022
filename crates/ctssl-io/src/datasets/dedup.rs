//! Near-duplicate removal for pre-training pools: neighbouring slices of a scan that look alike add
//! little but time. Each slice gets a 64-bit difference hash (dHash: the slice averaged down to 9×8
//! cells, one bit per horizontal neighbour pair, set where the left cell is brighter); walking a
//! scan's slices in order, a slice whose hash is within `max_distance` bits (Hamming) of the last
//! slice kept is dropped. The hash ignores brightness and contrast (any increasing linear map), so HU
//! and 8-bit slices are treated alike.

/// 64-bit difference hash of a row-major `width`×`height` image.
pub fn dhash(values: &[f32], width: usize, height: usize) -> u64 {
    const W: usize = 9;
    const H: usize = 8;
    if width == 0 || height == 0 || values.len() < width * height {
        return 0;
    }
    let mut cells = [0f64; W * H];
    for (cy, row) in cells.chunks_exact_mut(W).enumerate() {
        let (y0, y1) = (cy * height / H, ((cy + 1) * height / H).max(cy * height / H + 1).min(height));
        for (cx, cell) in row.iter_mut().enumerate() {
            let (x0, x1) = (cx * width / W, ((cx + 1) * width / W).max(cx * width / W + 1).min(width));
            let mut sum = 0f64;
            for y in y0..y1 {
                for &v in &values[y * width + x0..y * width + x1] {
                    sum += f64::from(v);
                }
            }
            *cell = sum / ((y1 - y0) * (x1 - x0)) as f64;
        }
    }
    let mut h = 0u64;
    for cy in 0..H {
        for cx in 0..W - 1 {
            h = (h << 1) | u64::from(cells[cy * W + cx] > cells[cy * W + cx + 1]);
        }
    }
    h
}

/// Which slices of one ordered sequence to keep: the first always; each next one if its hash differs
/// from the last kept slice's by more than `max_distance` bits.
pub fn keep_mask(hashes: &[u64], max_distance: u32) -> Vec<bool> {
    let mut keep = Vec::with_capacity(hashes.len());
    let mut last: Option<u64> = None;
    for &h in hashes {
        let k = last.is_none_or(|l| (l ^ h).count_ones() > max_distance);
        if k {
            last = Some(h);
        }
        keep.push(k);
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_ignores_contrast_and_finds_neighbours() {
        let img: Vec<f32> = (0..64 * 48).map(|i| ((i % 64) as f32 * 0.3).sin() + (i / 64) as f32 * 0.01).collect();
        let brighter: Vec<f32> = img.iter().map(|v| 3.0 * v + 100.0).collect();
        let other: Vec<f32> = (0..64 * 48).map(|i| ((i % 64) as f32 * 0.11 + 1.0).cos()).collect();
        let (a, b, c) = (dhash(&img, 64, 48), dhash(&brighter, 64, 48), dhash(&other, 64, 48));
        assert_eq!(a, b);
        assert!((a ^ c).count_ones() > 8);
        assert_eq!(keep_mask(&[a, b, c, c, a], 4), vec![true, false, true, false, true]);
        assert_eq!(dhash(&[], 0, 0), 0);
    }
}
