//! Horizontal and vertical flips (exact pixel permutations).

use rand::Rng;

use crate::image::Image;
use crate::rng::chance;

/// Mirror left ↔ right, in place.
pub fn hflip(image: &mut Image) {
    if !image.is_valid() {
        return; // nothing sensible to flip; fallible steps report the bad shape
    }
    let w = image.width;
    for row in image.data.chunks_exact_mut(w) {
        row.reverse();
    }
}

/// Mirror top ↔ bottom, in place.
pub fn vflip(image: &mut Image) {
    if !image.is_valid() {
        return;
    }
    let (h, w) = (image.height, image.width);
    for plane in image.planes_mut() {
        for y in 0..h / 2 {
            let (top, bottom) = plane.split_at_mut((h - 1 - y) * w);
            top[y * w..(y + 1) * w].swap_with_slice(&mut bottom[..w]);
        }
    }
}

/// Flip left ↔ right with probability `p`; returns whether it flipped.
pub fn random_hflip(image: &mut Image, rng: &mut impl Rng, p: f32) -> bool {
    let flip = chance(rng, p);
    if flip {
        hflip(image);
    }
    flip
}

/// Flip top ↔ bottom with probability `p`; returns whether it flipped.
pub fn random_vflip(image: &mut Image, rng: &mut impl Rng, p: f32) -> bool {
    let flip = chance(rng, p);
    if flip {
        vflip(image);
    }
    flip
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flips_move_pixels_where_expected() {
        let mut img = Image::from_vec(2, 3, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        hflip(&mut img);
        assert_eq!(img.data, vec![3.0, 2.0, 1.0, 6.0, 5.0, 4.0]);
        vflip(&mut img);
        assert_eq!(img.data, vec![6.0, 5.0, 4.0, 3.0, 2.0, 1.0]);
    }
}
