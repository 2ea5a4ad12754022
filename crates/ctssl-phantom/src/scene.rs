//! A scene: tissue objects painted in order, and lesions blended on top, sampled on an axial plane.

use crate::noise::Noise;
use crate::organ::Organ;
use crate::shape::{Aabb, Shape, V3};
use crate::tissue::{Tissue, TissueSet};

/// A piece of anatomy: a shape filled with one tissue, painted over what was painted before.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// The shape.
    pub shape: Shape,
    /// The tissue it is filled with.
    pub tissue: Tissue,
    /// The organ class its pixels belong to (`None` clears the organ map).
    pub organ: Option<Organ>,
    /// Amplitude (mm) of the smooth noise that perturbs the boundary.
    pub edge_noise: f32,
    /// Feature size (mm) of that noise.
    pub edge_scale: f32,
    /// Paint only over these tissues.
    pub over: TissueSet,
    /// When positive: paint only a shell of this thickness (mm) inside the boundary.
    pub shell: f32,
    /// When set: paint only along noise ridges (sulci, strands) or, for tubes, along the crossings of two ridges (small vessels).
    pub pattern: Option<Pattern>,
    bounds: Aabb,
}

impl Object {
    /// A solid object with a lightly perturbed boundary (1 mm at 12 mm feature size) painted over everything.
    pub fn new(shape: Shape, tissue: Tissue) -> Object {
        let bounds = shape.bounds();
        Object {
            shape,
            tissue,
            organ: None,
            edge_noise: 1.0,
            edge_scale: 12.0,
            over: TissueSet::ALL,
            shell: 0.0,
            pattern: None,
            bounds: bounds.grow(1.0),
        }
    }

    /// Set the organ class.
    pub fn organ(mut self, organ: Organ) -> Object {
        self.organ = Some(organ);
        self
    }

    /// Set the boundary noise (amplitude and feature size, mm).
    pub fn edge(mut self, amplitude: f32, scale: f32) -> Object {
        self.edge_noise = amplitude.max(0.0);
        self.edge_scale = scale.max(0.1);
        self.bounds = self.shape.bounds().grow(self.edge_noise);
        self
    }

    /// Paint only over these tissues.
    pub fn over(mut self, tissues: &[Tissue]) -> Object {
        self.over = TissueSet::of(tissues);
        self
    }

    /// Paint only a shell of this thickness.
    pub fn shell(mut self, thickness: f32) -> Object {
        self.shell = thickness;
        self
    }

    /// Paint only along noise ridges (sheets in 3-D).
    pub fn pattern(mut self, scale: f32, half_width: f32) -> Object {
        self.pattern = Some(Pattern { scale, half_width, tubes: false });
        self
    }

    /// Paint only along crossings of two noise ridges (tubes in 3-D).
    pub fn tubes(mut self, scale: f32, half_width: f32) -> Object {
        self.pattern = Some(Pattern { scale, half_width, tubes: true });
        self
    }

    /// The bounds, grown by the boundary noise.
    pub fn bounds(&self) -> Aabb {
        self.bounds
    }
}

/// A ridge pattern of the shape noise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pattern {
    /// Feature size, mm.
    pub scale: f32,
    /// Half-width of a ridge in noise units (`|noise| < half_width`).
    pub half_width: f32,
    /// Tubes: both of two independent ridges (curves in 3-D) instead of one (sheets).
    pub tubes: bool,
}

/// Whether a lesion counts for the labels or only changes the image (oedema).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LesionKind {
    /// Ground-glass opacity in the lung.
    GroundGlass,
    /// Consolidation in the lung.
    Consolidation,
    /// Intraparenchymal haemorrhage.
    Intraparenchymal,
    /// Subdural haemorrhage (crescent).
    Subdural,
    /// Hypodense oedema around a haemorrhage (not counted as lesion).
    Oedema,
}

impl LesionKind {
    /// Whether pixels of this lesion count as lesion in the labels.
    pub fn counts(self) -> bool {
        self != LesionKind::Oedema
    }

    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            LesionKind::GroundGlass => "ground-glass",
            LesionKind::Consolidation => "consolidation",
            LesionKind::Intraparenchymal => "intraparenchymal",
            LesionKind::Subdural => "subdural",
            LesionKind::Oedema => "oedema",
        }
    }
}

/// A lesion: a soft-edged region whose HU replaces the tissue's HU over some tissues.
#[derive(Debug, Clone, PartialEq)]
pub struct Lesion {
    /// Kind.
    pub kind: LesionKind,
    /// Shape.
    pub shape: Shape,
    /// Mean HU of the lesion.
    pub hu: f32,
    /// HU amplitude of its texture.
    pub texture: f32,
    /// Blend only over these tissues.
    pub over: TissueSet,
    /// Half-width (mm) of the soft edge (haziness).
    pub margin: f32,
    /// Boundary noise amplitude (mm).
    pub edge_noise: f32,
    /// Boundary noise feature size (mm).
    pub edge_scale: f32,
}

impl Lesion {
    /// Bounds including the soft edge and boundary noise.
    pub fn bounds(&self) -> Aabb {
        self.shape.bounds().grow(self.margin + self.edge_noise)
    }

    /// Blend weight (0 outside, 1 deep inside) at a point, ignoring the tissue condition.
    pub fn weight(&self, p: V3, noise: &Noise) -> f32 {
        let mut d = self.shape.distance(p);
        let reach = self.margin + self.edge_noise;
        if d > reach {
            return 0.0;
        }
        if self.edge_noise > 0.0 {
            let s = 1.0 / self.edge_scale;
            d += self.edge_noise * noise.at([p[0] * s + 71.3, p[1] * s - 13.7, p[2] * s + 5.1]);
        }
        if self.margin <= 0.0 {
            return if d < 0.0 { 1.0 } else { 0.0 };
        }
        let t = ((self.margin - d) / (2.0 * self.margin)).clamp(0.0, 1.0);
        t * t * (3.0 - 2.0 * t)
    }
}

/// The anatomy and lesions of one patient, with its noise fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    /// Objects in painting order (later ones paint over earlier ones).
    pub objects: Vec<Object>,
    /// Lesions, blended after the tissues are converted to HU.
    pub lesions: Vec<Lesion>,
    /// Noise of boundaries and patterns.
    pub shape_noise: Noise,
    /// Noise of textures.
    pub texture_noise: Noise,
}

/// A regular axial pixel grid: pixel (r, c) is at `(x0 + c·spacing, y0 + r·spacing)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    /// Pixels per side.
    pub size: usize,
    /// Pixel spacing, mm.
    pub spacing: f32,
    /// x of the first column's centre, mm.
    pub x0: f32,
    /// y of the first row's centre, mm.
    pub y0: f32,
}

impl Grid {
    /// A square grid of `size` pixels centred on the z axis.
    pub fn centered(size: usize, spacing: f32) -> Grid {
        let half = (size as f32 - 1.0) * 0.5 * spacing;
        Grid { size, spacing, x0: -half, y0: -half }
    }

    /// The index range of pixels whose centre (shifted by `offset` pixels) lies in `[lo, hi]` along one axis.
    fn range(&self, origin: f32, offset: f32, lo: f32, hi: f32) -> (usize, usize) {
        let a = ((lo - origin) / self.spacing - offset).ceil().max(0.0);
        let b = ((hi - origin) / self.spacing - offset).floor() + 1.0;
        let b = b.min(self.size as f32).max(0.0);
        (a.min(b) as usize, b as usize)
    }
}

impl Scene {
    /// Sample the tissue and organ maps at several sub-sample positions of each pixel at once:
    /// sub-sample `s` is the plane at height `samples[s].1` with pixel centres shifted by `samples[s].0`
    /// pixels. Boundary and pattern noise are smooth, so they are evaluated once per pixel (at the
    /// pixel centre of height `z`) and shared by the sub-samples; the distances are exact per sub-sample.
    pub fn paint(
        &self,
        grid: &Grid,
        z: f32,
        samples: &[([f32; 2], f32)],
        tissue: &mut [Vec<u8>],
        organ: &mut [Vec<u8>],
    ) {
        for (t, o) in tissue.iter_mut().zip(organ.iter_mut()) {
            t.fill(Tissue::Air as u8);
            o.fill(0);
        }
        let n = grid.size;
        let zmin = samples.iter().map(|s| s.1).fold(f32::INFINITY, f32::min);
        let zmax = samples.iter().map(|s| s.1).fold(f32::NEG_INFINITY, f32::max);
        for obj in &self.objects {
            let b = obj.bounds();
            if zmax < b.min[2] || zmin > b.max[2] {
                continue;
            }
            let (c0, c1) = grid.range(grid.x0, 0.0, b.min[0] - grid.spacing, b.max[0] + grid.spacing);
            let (r0, r1) = grid.range(grid.y0, 0.0, b.min[1] - grid.spacing, b.max[1] + grid.spacing);
            let inv = 1.0 / obj.edge_scale;
            let organ_value = obj.organ.map_or(0, |o| o.map_value());
            let band = obj.edge_noise;
            for r in r0..r1 {
                let y = grid.y0 + r as f32 * grid.spacing;
                for c in c0..c1 {
                    let i = r * n + c;
                    let x = grid.x0 + c as f32 * grid.spacing;
                    // Lazily evaluated, shared by the sub-samples: boundary noise and pattern test.
                    let mut edge: Option<f32> = None;
                    let mut on_pattern: Option<bool> = None;
                    for (s, &(offset, zs)) in samples.iter().enumerate() {
                        if zs < b.min[2] || zs > b.max[2] || !obj.over.contains(Tissue::from_index(tissue[s][i])) {
                            continue;
                        }
                        let p = [x + offset[0] * grid.spacing, y + offset[1] * grid.spacing, zs];
                        let mut d = obj.shape.distance(p);
                        if d > band || (obj.shell > 0.0 && d < -obj.shell - band) {
                            continue;
                        }
                        if band > 0.0 && d > -band - obj.shell {
                            d += band * *edge.get_or_insert_with(|| self.shape_noise.at([x * inv, y * inv, z * inv]));
                        }
                        if d >= 0.0 || (obj.shell > 0.0 && d < -obj.shell) {
                            continue;
                        }
                        if let Some(pat) = obj.pattern {
                            let inside = *on_pattern.get_or_insert_with(|| {
                                let k = 1.0 / pat.scale;
                                let a = self.shape_noise.at([x * k + 31.7, y * k - 7.3, z * k + 19.9]).abs()
                                    < pat.half_width;
                                a && (!pat.tubes
                                    || self.texture_noise.at([y * k - 11.3, z * k + 5.9, x * k + 43.1]).abs()
                                        < pat.half_width)
                            });
                            if !inside {
                                continue;
                            }
                        }
                        tissue[s][i] = obj.tissue as u8;
                        organ[s][i] = organ_value;
                    }
                }
            }
        }
    }

    /// The bounds of all objects of one organ.
    pub fn organ_bounds(&self, organ: Organ) -> Option<Aabb> {
        self.objects.iter().filter(|o| o.organ == Some(organ)).map(|o| o.shape.bounds()).reduce(|a, b| Aabb {
            min: [a.min[0].min(b.min[0]), a.min[1].min(b.min[1]), a.min[2].min(b.min[2])],
            max: [a.max[0].max(b.max[0]), a.max[1].max(b.max[1]), a.max[2].max(b.max[2])],
        })
    }
}
