//! Helpers that build anatomy from shapes: bones with a cortex, tubes along splines, branching trees.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::organ::Organ;
use crate::scene::Object;
use crate::shape::{spline, Shape, V3};
use crate::tissue::Tissue;

/// A list of objects under construction.
#[derive(Debug, Default)]
pub struct Builder {
    /// The objects, in painting order.
    pub objects: Vec<Object>,
}

impl Builder {
    /// Add an object.
    pub fn push(&mut self, object: Object) {
        self.objects.push(object);
    }

    /// A bone: a cortical shell of `cortex` mm with cancellous bone inside.
    pub fn bone(&mut self, shape: Shape, cortex: f32, organ: Option<Organ>) {
        let mut inner = Object::new(shape.clone(), Tissue::CancellousBone).edge(0.5, 6.0);
        let mut outer = Object::new(shape, Tissue::CorticalBone).edge(0.5, 6.0).shell(cortex);
        inner.organ = organ;
        outer.organ = organ;
        self.push(inner);
        self.push(outer);
    }

    /// A tube of capsules along a Catmull-Rom spline through `points`; the radius goes from `r0` to `r1`.
    pub fn tube(&mut self, points: &[V3], r0: f32, r1: f32, make: impl Fn(Shape) -> Object) {
        let path = spline(points, 4);
        let n = path.len().saturating_sub(1).max(1) as f32;
        for (i, w) in path.windows(2).enumerate() {
            let ra = r0 + (r1 - r0) * i as f32 / n;
            let rb = r0 + (r1 - r0) * (i + 1) as f32 / n;
            self.push(make(Shape::capsule(w[0], w[1], ra, rb)));
        }
    }
}

/// Settings of a branching tree (vessels, airways).
pub struct TreeSettings<'a> {
    /// Generations below the root.
    pub depth: u32,
    /// Smallest radius drawn, mm.
    pub min_radius: f32,
    /// Where branches may go (their end points must be inside).
    pub inside: &'a dyn Fn(V3) -> bool,
    /// Makes the object of one segment.
    pub make: &'a dyn Fn(Shape) -> Object,
    /// A direction the branches lean towards (unit or zero).
    pub bias: V3,
}

fn normalize(v: V3) -> V3 {
    let l = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt().max(1e-6);
    [v[0] / l, v[1] / l, v[2] / l]
}

/// The root segment of a tree.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Branch {
    /// Start point.
    pub start: V3,
    /// Direction (need not be unit).
    pub dir: V3,
    /// Length, mm.
    pub length: f32,
    /// Radius at the start, mm.
    pub radius: f32,
}

/// Grow a branching tree from a root segment: each segment splits into two thinner, shorter children.
pub fn grow_tree(out: &mut Builder, rng: &mut ChaCha8Rng, settings: &TreeSettings<'_>, root: Branch) {
    grow(out, rng, settings, root.start, root.dir, root.length, root.radius, 0);
}

#[allow(clippy::too_many_arguments)]
fn grow(
    out: &mut Builder,
    rng: &mut ChaCha8Rng,
    settings: &TreeSettings<'_>,
    start: V3,
    dir: V3,
    length: f32,
    radius: f32,
    depth: u32,
) {
    if radius < settings.min_radius || depth > settings.depth {
        return;
    }
    // Try the direction, then shorter and turned ones, before giving up on the branch.
    let mut dir = normalize(dir);
    let mut len = length;
    let mut end = [start[0] + dir[0] * len, start[1] + dir[1] * len, start[2] + dir[2] * len];
    let mut tries = 0;
    while !(settings.inside)(end) {
        tries += 1;
        if tries > 5 || len < 3.0 {
            return;
        }
        len *= 0.8;
        dir = normalize([
            dir[0] + rng.random_range(-0.6..0.6),
            dir[1] + rng.random_range(-0.6..0.6),
            dir[2] + rng.random_range(-0.6..0.6),
        ]);
        end = [start[0] + dir[0] * len, start[1] + dir[1] * len, start[2] + dir[2] * len];
    }
    let child_radius = radius * rng.random_range(0.68..0.8);
    out.push((settings.make)(Shape::capsule(start, end, radius, child_radius.max(radius * 0.85))));
    // A perpendicular to `dir` to spread the children.
    let helper = if dir[2].abs() < 0.9 { [0.0, 0.0, 1.0] } else { [1.0, 0.0, 0.0] };
    let perp = normalize([
        dir[1] * helper[2] - dir[2] * helper[1],
        dir[2] * helper[0] - dir[0] * helper[2],
        dir[0] * helper[1] - dir[1] * helper[0],
    ]);
    let spin: f32 = rng.random_range(0.0..std::f32::consts::TAU);
    let other = normalize([
        dir[1] * perp[2] - dir[2] * perp[1],
        dir[2] * perp[0] - dir[0] * perp[2],
        dir[0] * perp[1] - dir[1] * perp[0],
    ]);
    let (s, c) = spin.sin_cos();
    let side = [perp[0] * c + other[0] * s, perp[1] * c + other[1] * s, perp[2] * c + other[2] * s];
    for sign in [1.0f32, -1.0] {
        let spread = rng.random_range(0.45..0.85) * sign;
        let j = [rng.random_range(-0.15..0.15), rng.random_range(-0.15..0.15), rng.random_range(-0.15..0.15)];
        let d = [
            dir[0] + side[0] * spread + j[0] + 0.3 * settings.bias[0],
            dir[1] + side[1] * spread + j[1] + 0.3 * settings.bias[1],
            dir[2] + side[2] * spread + j[2] + 0.3 * settings.bias[2],
        ];
        let l = len * rng.random_range(0.7..0.88);
        let r = if sign > 0.0 { child_radius } else { child_radius * rng.random_range(0.75..1.0) };
        grow(out, rng, settings, end, d, l, r, depth + 1);
    }
}
