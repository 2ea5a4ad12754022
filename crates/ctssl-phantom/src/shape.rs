//! Analytic 3-D shapes with an approximate signed distance (mm, negative inside) and bounds.
//!
//! Coordinates are patient coordinates in mm (DICOM LPS: +x towards the patient's left, +y
//! posterior, +z superior).

/// A point or vector in mm.
pub type V3 = [f32; 3];

/// An axis-aligned box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aabb {
    /// Lower corner.
    pub min: V3,
    /// Upper corner.
    pub max: V3,
}

impl Aabb {
    /// The box grown by `m` mm on every side.
    pub fn grow(self, m: f32) -> Aabb {
        Aabb {
            min: [self.min[0] - m, self.min[1] - m, self.min[2] - m],
            max: [self.max[0] + m, self.max[1] + m, self.max[2] + m],
        }
    }

    /// The intersection of two boxes (may be empty).
    pub fn intersect(self, o: Aabb) -> Aabb {
        Aabb {
            min: [self.min[0].max(o.min[0]), self.min[1].max(o.min[1]), self.min[2].max(o.min[2])],
            max: [self.max[0].min(o.max[0]), self.max[1].min(o.max[1]), self.max[2].min(o.max[2])],
        }
    }

    /// The centre.
    pub fn center(&self) -> V3 {
        [(self.min[0] + self.max[0]) * 0.5, (self.min[1] + self.max[1]) * 0.5, (self.min[2] + self.max[2]) * 0.5]
    }
}

/// One cross-section of a [`Shape::Loft`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoftKey {
    /// Height of the section, mm.
    pub z: f32,
    /// Centre (x, y), mm.
    pub center: [f32; 2],
    /// Semi-axes (x, y), mm.
    pub radii: [f32; 2],
}

/// A shape.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// An ellipsoid turned by `angle` radians about the z axis.
    Ellipsoid {
        /// Centre.
        center: V3,
        /// Semi-axes before the turn.
        radii: V3,
        /// Turn about z, radians.
        angle: f32,
        /// `(cos, sin)` of the turn.
        rot: [f32; 2],
    },
    /// A superelliptic prism whose section (centre, radii) is interpolated linearly between keys sorted by z.
    Loft {
        /// Sections, sorted by increasing z (at least two).
        keys: Vec<LoftKey>,
        /// Superellipse exponent (2: ellipse; larger: boxier).
        exponent: f32,
        /// Turn of the section about z, radians.
        angle: f32,
        /// `(cos, sin)` of the turn.
        rot: [f32; 2],
    },
    /// A tube segment from `a` to `b` whose radius goes linearly from `ra` to `rb`, with round ends.
    Capsule {
        /// Start.
        a: V3,
        /// End.
        b: V3,
        /// Radius at `a`.
        ra: f32,
        /// Radius at `b`.
        rb: f32,
    },
    /// Points inside both shapes.
    Intersection(Box<Shape>, Box<Shape>),
    /// Points inside the first shape and outside the second.
    Difference(Box<Shape>, Box<Shape>),
}

/// Turn (x, y) by −angle given `rot = (cos, sin)` of the angle.
#[inline]
fn rotate(x: f32, y: f32, rot: [f32; 2]) -> (f32, f32) {
    (rot[0] * x + rot[1] * y, -rot[1] * x + rot[0] * y)
}

/// `(cos, sin)` of an angle.
pub fn rotation(angle: f32) -> [f32; 2] {
    let (s, c) = angle.sin_cos();
    [c, s]
}

#[inline]
fn superellipse_norm(x: f32, y: f32, e: f32) -> f32 {
    if e == 2.0 {
        (x * x + y * y).sqrt()
    } else {
        (x.abs().powf(e) + y.abs().powf(e)).powf(1.0 / e)
    }
}

impl Shape {
    /// An ellipsoid.
    pub fn ellipsoid(center: V3, radii: V3, angle: f32) -> Shape {
        Shape::Ellipsoid { center, radii, angle, rot: rotation(angle) }
    }

    /// A sphere.
    pub fn sphere(center: V3, r: f32) -> Shape {
        Shape::ellipsoid(center, [r, r, r], 0.0)
    }

    /// A tapered capsule.
    pub fn capsule(a: V3, b: V3, ra: f32, rb: f32) -> Shape {
        Shape::Capsule { a, b, ra, rb }
    }

    /// A loft through sections (sorted here by z).
    pub fn loft(mut keys: Vec<LoftKey>, exponent: f32, angle: f32) -> Shape {
        keys.sort_by(|a, b| a.z.total_cmp(&b.z));
        Shape::Loft { keys, exponent, angle, rot: rotation(angle) }
    }

    /// Points inside `self` and outside `other`.
    pub fn minus(self, other: Shape) -> Shape {
        Shape::Difference(Box::new(self), Box::new(other))
    }

    /// Points inside both.
    pub fn and(self, other: Shape) -> Shape {
        Shape::Intersection(Box::new(self), Box::new(other))
    }

    /// Approximate signed distance in mm (negative inside).
    pub fn distance(&self, p: V3) -> f32 {
        match self {
            Shape::Ellipsoid { center, radii, rot, .. } => {
                let (x, y) = rotate(p[0] - center[0], p[1] - center[1], *rot);
                let z = p[2] - center[2];
                let k = ((x / radii[0]).powi(2) + (y / radii[1]).powi(2) + (z / radii[2]).powi(2)).sqrt();
                (k - 1.0) * radii[0].min(radii[1]).min(radii[2])
            }
            Shape::Loft { keys, exponent, rot, .. } => {
                let (Some(first), Some(last)) = (keys.first(), keys.last()) else { return f32::INFINITY };
                let z = p[2];
                let dz = (first.z - z).max(z - last.z);
                let zc = z.clamp(first.z, last.z);
                let i = keys.partition_point(|k| k.z < zc).clamp(1, keys.len().max(2) - 1).min(keys.len() - 1);
                let (k0, k1) = if keys.len() == 1 { (first, first) } else { (&keys[i - 1], &keys[i]) };
                let t = if k1.z > k0.z { (zc - k0.z) / (k1.z - k0.z) } else { 0.0 };
                let cx = k0.center[0] + (k1.center[0] - k0.center[0]) * t;
                let cy = k0.center[1] + (k1.center[1] - k0.center[1]) * t;
                let rx = (k0.radii[0] + (k1.radii[0] - k0.radii[0]) * t).max(1e-3);
                let ry = (k0.radii[1] + (k1.radii[1] - k0.radii[1]) * t).max(1e-3);
                let (x, y) = rotate(p[0] - cx, p[1] - cy, *rot);
                let k = superellipse_norm(x / rx, y / ry, *exponent);
                ((k - 1.0) * rx.min(ry)).max(dz)
            }
            Shape::Capsule { a, b, ra, rb } => {
                let pa = [p[0] - a[0], p[1] - a[1], p[2] - a[2]];
                let ba = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
                let bb = ba[0] * ba[0] + ba[1] * ba[1] + ba[2] * ba[2];
                let h =
                    if bb > 0.0 { ((pa[0] * ba[0] + pa[1] * ba[1] + pa[2] * ba[2]) / bb).clamp(0.0, 1.0) } else { 0.0 };
                let d = [pa[0] - ba[0] * h, pa[1] - ba[1] * h, pa[2] - ba[2] * h];
                (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt() - (ra + (rb - ra) * h)
            }
            Shape::Intersection(a, b) => a.distance(p).max(b.distance(p)),
            Shape::Difference(a, b) => a.distance(p).max(-b.distance(p)),
        }
    }

    /// Whether a point lies inside.
    pub fn contains(&self, p: V3) -> bool {
        self.distance(p) < 0.0
    }

    /// A box holding the shape.
    pub fn bounds(&self) -> Aabb {
        match self {
            Shape::Ellipsoid { center, radii, rot, .. } => {
                let [c, s] = *rot;
                let ex = ((radii[0] * c).powi(2) + (radii[1] * s).powi(2)).sqrt();
                let ey = ((radii[0] * s).powi(2) + (radii[1] * c).powi(2)).sqrt();
                Aabb {
                    min: [center[0] - ex, center[1] - ey, center[2] - radii[2]],
                    max: [center[0] + ex, center[1] + ey, center[2] + radii[2]],
                }
            }
            Shape::Loft { keys, rot, .. } => {
                let mut b = Aabb { min: [f32::INFINITY; 3], max: [f32::NEG_INFINITY; 3] };
                let [c, s] = *rot;
                for k in keys {
                    let ex = ((k.radii[0] * c).powi(2) + (k.radii[1] * s).powi(2)).sqrt();
                    let ey = ((k.radii[0] * s).powi(2) + (k.radii[1] * c).powi(2)).sqrt();
                    b.min[0] = b.min[0].min(k.center[0] - ex);
                    b.max[0] = b.max[0].max(k.center[0] + ex);
                    b.min[1] = b.min[1].min(k.center[1] - ey);
                    b.max[1] = b.max[1].max(k.center[1] + ey);
                    b.min[2] = b.min[2].min(k.z);
                    b.max[2] = b.max[2].max(k.z);
                }
                b
            }
            Shape::Capsule { a, b, ra, rb } => {
                let r = ra.max(*rb);
                Aabb {
                    min: [a[0].min(b[0]) - r, a[1].min(b[1]) - r, a[2].min(b[2]) - r],
                    max: [a[0].max(b[0]) + r, a[1].max(b[1]) + r, a[2].max(b[2]) + r],
                }
            }
            Shape::Intersection(a, b) => a.bounds().intersect(b.bounds()),
            Shape::Difference(a, _) => a.bounds(),
        }
    }
}

/// Points of a Catmull-Rom spline through `points`, `per_segment` samples per segment.
pub fn spline(points: &[V3], per_segment: usize) -> Vec<V3> {
    if points.len() < 2 {
        return points.to_vec();
    }
    let n = points.len();
    let mut out = Vec::with_capacity((n - 1) * per_segment + 1);
    for i in 0..n - 1 {
        let p0 = points[i.saturating_sub(1)];
        let p1 = points[i];
        let p2 = points[i + 1];
        let p3 = points[(i + 2).min(n - 1)];
        for s in 0..per_segment.max(1) {
            let t = s as f32 / per_segment.max(1) as f32;
            let (t2, t3) = (t * t, t * t * t);
            let mut q = [0.0; 3];
            for d in 0..3 {
                q[d] = 0.5
                    * (2.0 * p1[d]
                        + (-p0[d] + p2[d]) * t
                        + (2.0 * p0[d] - 5.0 * p1[d] + 4.0 * p2[d] - p3[d]) * t2
                        + (-p0[d] + 3.0 * p1[d] - 3.0 * p2[d] + p3[d]) * t3);
            }
            out.push(q);
        }
    }
    out.push(points[n - 1]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_have_the_right_sign() {
        let e = Shape::ellipsoid([10.0, 0.0, 0.0], [5.0, 3.0, 2.0], 0.3);
        assert!(e.contains([10.0, 0.0, 0.0]));
        assert!(!e.contains([16.0, 0.0, 0.0]));
        let b = e.bounds();
        assert!(b.min[0] < 5.5 && b.max[0] > 14.5);
        let c = Shape::capsule([0.0; 3], [0.0, 0.0, 10.0], 1.0, 2.0);
        assert!((c.distance([3.0, 0.0, 10.0]) - 1.0).abs() < 1e-5);
        assert!(c.contains([0.0, 0.5, 0.0]) && !c.contains([0.0, 1.5, 0.0]));
        let l = Shape::loft(
            vec![
                LoftKey { z: 0.0, center: [0.0, 0.0], radii: [10.0, 5.0] },
                LoftKey { z: 10.0, center: [5.0, 0.0], radii: [20.0, 5.0] },
            ],
            2.0,
            0.0,
        );
        assert!(l.contains([18.0, 0.0, 9.0]) && !l.contains([18.0, 0.0, 1.0]) && !l.contains([0.0, 0.0, 11.0]));
        let d = Shape::sphere([0.0; 3], 10.0).minus(Shape::sphere([0.0; 3], 8.0));
        assert!(d.contains([9.0, 0.0, 0.0]) && !d.contains([7.0, 0.0, 0.0]));
        let s = spline(&[[0.0; 3], [1.0, 0.0, 0.0], [2.0, 1.0, 0.0]], 4);
        assert_eq!(s.len(), 9);
        assert_eq!(s[4], [1.0, 0.0, 0.0]);
    }
}
