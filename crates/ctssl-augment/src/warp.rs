//! Affine warps with bilinear sampling and a fill value outside the image.
//!
//! Coordinates are pixel centres: `(x, y)` is column `x`, row `y`; the image centre is
//! `((width - 1) / 2, (height - 1) / 2)`, as in torchvision's `rotate` / `affine`.

use crate::error::{AugmentError, Result};
use crate::image::Image;

/// A 2-D affine map `(x, y) ↦ (m[0] x + m[1] y + m[2], m[3] x + m[4] y + m[5])`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine2 {
    /// Row-major 2×3 matrix.
    pub m: [f32; 6],
}

impl Affine2 {
    /// The identity map.
    pub const IDENTITY: Affine2 = Affine2 { m: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0] };

    /// Translation by `(tx, ty)`.
    pub fn translation(tx: f32, ty: f32) -> Affine2 {
        Affine2 { m: [1.0, 0.0, tx, 0.0, 1.0, ty] }
    }

    /// A linear map `[[a, b], [c, d]]` about the point `(cx, cy)`.
    pub fn linear_about(a: f32, b: f32, c: f32, d: f32, cx: f32, cy: f32) -> Affine2 {
        // p' = L (p - c) + c
        Affine2 { m: [a, b, cx - a * cx - b * cy, c, d, cy - c * cx - d * cy] }
    }

    /// Counter-clockwise rotation (as seen on screen, rows going down) by `degrees` about `(cx, cy)`.
    pub fn rotation(degrees: f32, cx: f32, cy: f32) -> Affine2 {
        let (s, c) = degrees.to_radians().sin_cos();
        // With y pointing down, a visual counter-clockwise turn maps (dx, dy) to (dx c + dy s, -dx s + dy c).
        Affine2::linear_about(c, s, -s, c, cx, cy)
    }

    /// `self` followed by `then`.
    pub fn then(&self, then: &Affine2) -> Affine2 {
        let a = &then.m;
        let b = &self.m;
        Affine2 {
            m: [
                a[0] * b[0] + a[1] * b[3],
                a[0] * b[1] + a[1] * b[4],
                a[0] * b[2] + a[1] * b[5] + a[2],
                a[3] * b[0] + a[4] * b[3],
                a[3] * b[1] + a[4] * b[4],
                a[3] * b[2] + a[4] * b[5] + a[5],
            ],
        }
    }

    /// The inverse map, or `None` when the matrix is singular.
    pub fn inverse(&self) -> Option<Affine2> {
        let [a, b, tx, c, d, ty] = self.m;
        let det = a * d - b * c;
        if !det.is_finite() || det.abs() < 1e-12 {
            return None;
        }
        let (ia, ib, ic, id) = (d / det, -b / det, -c / det, a / det);
        Some(Affine2 { m: [ia, ib, -(ia * tx + ib * ty), ic, id, -(ic * tx + id * ty)] })
    }

    /// Map one point.
    #[inline]
    pub fn apply(&self, x: f32, y: f32) -> (f32, f32) {
        (self.m[0] * x + self.m[1] * y + self.m[2], self.m[3] * x + self.m[4] * y + self.m[5])
    }
}

/// `x.floor()` without a libm call (x86-64's baseline has no rounding instruction); exact for |x| < 2^31,
/// and far outside that range the pixel reads the fill anyway.
#[inline]
fn fast_floor(x: f32) -> f32 {
    let t = x as i32 as f32; // truncates towards zero (saturating)
    if t > x {
        t - 1.0
    } else {
        t
    }
}

/// Move every channel of `image` by the `forward` map (output pixel `p` takes the input at
/// `forward⁻¹(p)`), bilinear; samples outside the image read `fill` (so borders blend towards it).
pub fn warp_affine(image: &Image, forward: &Affine2, fill: f32) -> Result<Image> {
    image.check()?;
    let inv =
        forward.inverse().ok_or_else(|| AugmentError::InvalidConfig(format!("singular affine map {forward:?}")))?;
    let (h, w) = (image.height, image.width);
    let mut out = Image::filled(image.channels, h, w, fill);
    let (wi, hi) = (w as isize, h as isize);
    for c in 0..image.channels {
        let src = image.plane(c);
        let fetch = |x: isize, y: isize| -> f32 {
            if x >= 0 && y >= 0 && x < wi && y < hi {
                src[y as usize * w + x as usize]
            } else {
                fill
            }
        };
        let dst = out.plane_mut(c);
        for oy in 0..h {
            let (mut sx, mut sy) = inv.apply(0.0, oy as f32);
            for d in dst[oy * w..(oy + 1) * w].iter_mut() {
                let x0 = fast_floor(sx);
                let y0 = fast_floor(sy);
                let (fx, fy) = (sx - x0, sy - y0);
                let (x0, y0) = (x0 as isize, y0 as isize);
                if x0 >= 0 && y0 >= 0 && x0 + 1 < wi && y0 + 1 < hi {
                    // Fully inside: no bounds tests.
                    let i = y0 as usize * w + x0 as usize;
                    let top = src[i] * (1.0 - fx) + src[i + 1] * fx;
                    let bottom = src[i + w] * (1.0 - fx) + src[i + w + 1] * fx;
                    *d = top * (1.0 - fy) + bottom * fy;
                } else if x0 >= -1 && y0 >= -1 && x0 < wi && y0 < hi {
                    let top = fetch(x0, y0) * (1.0 - fx) + fetch(x0 + 1, y0) * fx;
                    let bottom = fetch(x0, y0 + 1) * (1.0 - fx) + fetch(x0 + 1, y0 + 1) * fx;
                    *d = top * (1.0 - fy) + bottom * fy;
                }
                sx += inv.m[0];
                sy += inv.m[3];
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_and_composition() {
        let r = Affine2::rotation(30.0, 3.5, 2.0).then(&Affine2::translation(1.0, -2.0));
        let inv = r.inverse().unwrap();
        let (x, y) = r.apply(1.25, -4.0);
        let (bx, by) = inv.apply(x, y);
        assert!((bx - 1.25).abs() < 1e-4 && (by + 4.0).abs() < 1e-4);
        let id = r.then(&inv);
        for (a, b) in id.m.iter().zip(Affine2::IDENTITY.m) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    #[test]
    fn quarter_turn_is_exact_and_counter_clockwise() {
        // 3x3 with a marker to the right of the centre; a counter-clockwise quarter turn moves it above.
        let mut img = Image::filled(1, 3, 3, 0.0);
        img.data[5] = 1.0; // row 1, col 2
        let out = warp_affine(&img, &Affine2::rotation(90.0, 1.0, 1.0), -1.0).unwrap();
        assert!((out.data[1] - 1.0).abs() < 1e-5, "{:?}", out.data); // row 0, col 1
        assert!(out.data.iter().enumerate().all(|(i, &v)| i == 1 || v.abs() < 1e-5));
    }

    #[test]
    fn outside_reads_fill() {
        let img = Image::filled(1, 4, 4, 100.0);
        let out = warp_affine(&img, &Affine2::translation(10.0, 0.0), -1000.0).unwrap();
        assert!(out.data.iter().all(|&v| v == -1000.0));
    }
}
