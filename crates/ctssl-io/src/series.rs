//! Series assembly: headers grouped by Series Instance UID, slices ordered by position along the
//! slice normal (never by Instance Number), slice spacing measured, and problems reported as data.
//!
//! Policy (what [`Series::from_headers`] does and what [`crate::Volume::from_series`] then accepts):
//!
//! | issue | kind | what happens |
//! |---|---|---|
//! | [`SeriesIssue::Duplicate`] | reported | the later slice at the same location is dropped (first by instance number, path, frame is kept) |
//! | [`SeriesIssue::Gap`] | reported | slices are kept as they are; the volume spacing is the median gap, true locations stay in the report |
//! | [`SeriesIssue::NonUniformSpacing`] | reported | as for gaps |
//! | [`SeriesIssue::Misaligned`] | reported | positions drift in-plane (gantry tilt); the volume uses the slice normal |
//! | [`SeriesIssue::NoGeometry`] | reported | no slice has position/orientation: ordered by instance number, identity geometry |
//! | [`SeriesIssue::NoPixelSpacing`] | reported | 1 mm is assumed |
//! | [`SeriesIssue::MixedSize`], [`SeriesIssue::MixedOrientation`], [`SeriesIssue::MixedPixelSpacing`], [`SeriesIssue::PartialGeometry`], [`SeriesIssue::Empty`] | fatal | [`Series::check`] and the volume refuse the series |

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{IoError, Result};
use crate::header::{read_header, ImageHeader};

/// Two slices closer than this along the normal (mm) are at the same position.
pub const DUPLICATE_TOLERANCE_MM: f64 = 0.01;
/// A gap larger than this multiple of the median slice spacing is reported as a gap.
pub const GAP_FACTOR: f64 = 1.5;
/// Direction cosines differing by more than this are different orientations.
pub const ORIENTATION_TOLERANCE: f64 = 1e-3;
/// Pixel spacings differing by more than this fraction are different spacings.
pub const PIXEL_SPACING_TOLERANCE: f64 = 1e-3;
/// Spacings that vary by more than this fraction of the median (but are not gaps) are non-uniform.
pub const UNIFORM_SPACING_TOLERANCE: f64 = 0.01;
/// In-plane drift of slice positions (mm) above which a series is reported as misaligned.
pub const MISALIGNMENT_TOLERANCE_MM: f64 = 0.01;

/// One frame of one file, identified for reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SliceId {
    /// The file.
    pub path: PathBuf,
    /// Frame index in the file (0 for single-frame images).
    pub frame: u32,
}

/// A problem found while assembling a series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SeriesIssue {
    /// The series has no slices.
    Empty,
    /// Two slices at the same location along the normal; `dropped` is left out of the volume.
    Duplicate {
        /// The slice kept.
        kept: SliceId,
        /// The slice dropped.
        dropped: SliceId,
        /// Their location along the normal, mm (`None` without geometry).
        location: Option<f64>,
    },
    /// A spacing clearly larger than the median: slices are missing.
    Gap {
        /// Index (in the ordered slices) of the slice before the gap.
        after: usize,
        /// Location of the slice before the gap, mm.
        from: f64,
        /// Location of the slice after the gap, mm.
        to: f64,
        /// The median spacing, mm.
        expected: f64,
    },
    /// Spacings vary by more than [`UNIFORM_SPACING_TOLERANCE`] without being gaps.
    NonUniformSpacing {
        /// Smallest spacing, mm.
        min: f64,
        /// Largest spacing, mm.
        max: f64,
    },
    /// Slice positions drift in-plane (e.g. gantry tilt): they do not lie on one line along the normal.
    Misaligned {
        /// Largest in-plane offset from the first slice, mm.
        max_offset: f64,
    },
    /// No slice has both position and orientation: ordered by instance number, identity geometry.
    NoGeometry,
    /// Some slices lack position or orientation, so the series cannot be ordered.
    PartialGeometry {
        /// The slices without geometry.
        missing: Vec<SliceId>,
    },
    /// No slice has Pixel Spacing: 1 mm is assumed.
    NoPixelSpacing,
    /// Slices of different sizes.
    MixedSize {
        /// The distinct (rows, cols).
        sizes: Vec<[u32; 2]>,
    },
    /// Slices of different orientations.
    MixedOrientation {
        /// The distinct orientations.
        orientations: Vec<[f64; 6]>,
    },
    /// Slices of different pixel spacings (or some without).
    MixedPixelSpacing {
        /// The distinct pixel spacings.
        spacings: Vec<Option<[f64; 2]>>,
    },
}

impl SeriesIssue {
    /// Whether the issue prevents building a volume.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            SeriesIssue::Empty
                | SeriesIssue::PartialGeometry { .. }
                | SeriesIssue::MixedSize { .. }
                | SeriesIssue::MixedOrientation { .. }
                | SeriesIssue::MixedPixelSpacing { .. }
        )
    }

    /// A short machine-readable name of the issue.
    pub fn kind(&self) -> &'static str {
        match self {
            SeriesIssue::Empty => "empty",
            SeriesIssue::Duplicate { .. } => "duplicate",
            SeriesIssue::Gap { .. } => "gap",
            SeriesIssue::NonUniformSpacing { .. } => "non_uniform_spacing",
            SeriesIssue::Misaligned { .. } => "misaligned",
            SeriesIssue::NoGeometry => "no_geometry",
            SeriesIssue::PartialGeometry { .. } => "partial_geometry",
            SeriesIssue::NoPixelSpacing => "no_pixel_spacing",
            SeriesIssue::MixedSize { .. } => "mixed_size",
            SeriesIssue::MixedOrientation { .. } => "mixed_orientation",
            SeriesIssue::MixedPixelSpacing { .. } => "mixed_pixel_spacing",
        }
    }
}

impl std::fmt::Display for SeriesIssue {
    /// One line describing the issue.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SeriesIssue::Empty => write!(f, "no slices"),
            SeriesIssue::Duplicate { kept, dropped, location } => write!(
                f,
                "duplicate slice at {} mm: kept {} frame {}, dropped {} frame {}",
                location.map_or("?".to_string(), |l| format!("{l:.3}")),
                kept.path.display(),
                kept.frame,
                dropped.path.display(),
                dropped.frame
            ),
            SeriesIssue::Gap { after, from, to, expected } => {
                write!(
                    f,
                    "gap of {:.3} mm after slice {after} ({from:.3} → {to:.3} mm; median {expected:.3} mm)",
                    to - from
                )
            }
            SeriesIssue::NonUniformSpacing { min, max } => {
                write!(f, "slice spacing varies from {min:.3} to {max:.3} mm")
            }
            SeriesIssue::Misaligned { max_offset } => {
                write!(f, "slice positions drift in-plane by up to {max_offset:.3} mm")
            }
            SeriesIssue::NoGeometry => write!(f, "no position/orientation: ordered by instance number"),
            SeriesIssue::PartialGeometry { missing } => {
                write!(f, "{} slices lack position or orientation", missing.len())
            }
            SeriesIssue::NoPixelSpacing => write!(f, "no pixel spacing: 1 mm assumed"),
            SeriesIssue::MixedSize { sizes } => write!(f, "mixed sizes (rows, cols) {sizes:?}"),
            SeriesIssue::MixedOrientation { orientations } => write!(f, "mixed orientations {orientations:?}"),
            SeriesIssue::MixedPixelSpacing { spacings } => write!(f, "mixed pixel spacings {spacings:?}"),
        }
    }
}

/// One slice of an ordered series: a frame of one of the series' headers.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceRef {
    /// Index into [`Series::headers`].
    pub header: usize,
    /// Frame index in that file.
    pub frame: u32,
    /// Image Position (Patient) of the frame, when known.
    pub position: Option<[f64; 3]>,
    /// Position projected on the slice normal, mm, when known.
    pub location: Option<f64>,
}

/// The slices of one series, in geometric order, with what was found wrong with them.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Series Instance UID.
    pub uid: String,
    /// The headers, in the order given.
    pub headers: Vec<ImageHeader>,
    /// The slices in order of increasing location along the normal, duplicates removed.
    pub slices: Vec<SliceRef>,
    /// Image Orientation (Patient) shared by the slices, when known.
    pub orientation: Option<[f64; 6]>,
    /// Unit slice normal (row cosines × column cosines), when known.
    pub normal: Option<[f64; 3]>,
    /// Median distance between consecutive slices along the normal, mm (two or more located slices).
    pub slice_spacing: Option<f64>,
    /// Everything found wrong, fatal or not.
    pub issues: Vec<SeriesIssue>,
}

/// What a series looks like, for manifests and logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesReport {
    /// Series Instance UID.
    pub series_uid: String,
    /// Number of files.
    pub files: usize,
    /// Number of slices kept (frames, duplicates removed).
    pub slices: usize,
    /// Rows and columns of the first slice.
    pub size: Option<[u32; 2]>,
    /// Median slice spacing, mm.
    pub slice_spacing: Option<f64>,
    /// Whether a volume can be built (no fatal issue).
    pub usable: bool,
    /// The issues.
    pub issues: Vec<SeriesIssue>,
}

impl Series {
    /// Order and check the headers of one series (all should share `uid`; this is not checked).
    pub fn from_headers(uid: impl Into<String>, headers: Vec<ImageHeader>) -> Series {
        let mut series = Series {
            uid: uid.into(),
            headers,
            slices: Vec::new(),
            orientation: None,
            normal: None,
            slice_spacing: None,
            issues: Vec::new(),
        };
        if series.headers.is_empty() {
            series.issues.push(SeriesIssue::Empty);
            return series;
        }
        series.check_consistency();
        series.order();
        series
    }

    /// Rows of the slices (of the first one when mixed).
    pub fn rows(&self) -> u32 {
        self.headers.first().map_or(0, |h| h.rows)
    }

    /// Columns of the slices (of the first one when mixed).
    pub fn cols(&self) -> u32 {
        self.headers.first().map_or(0, |h| h.cols)
    }

    /// Pixel Spacing (between rows, between columns) of the first slice that has one.
    pub fn pixel_spacing(&self) -> Option<[f64; 2]> {
        self.headers.iter().find_map(|h| h.pixel_spacing)
    }

    /// The header of an ordered slice.
    pub fn header_of(&self, slice: &SliceRef) -> Option<&ImageHeader> {
        self.headers.get(slice.header)
    }

    /// The file of an ordered slice.
    pub fn path_of(&self, slice: &SliceRef) -> Option<&Path> {
        self.header_of(slice).map(|h| h.path.as_path())
    }

    /// Whether no issue is fatal.
    pub fn is_usable(&self) -> bool {
        !self.issues.iter().any(SeriesIssue::is_fatal)
    }

    /// `Ok` when a volume can be built, else [`IoError::Series`] naming the fatal issues.
    pub fn check(&self) -> Result<()> {
        let fatal: Vec<String> = self.issues.iter().filter(|i| i.is_fatal()).map(|i| i.to_string()).collect();
        if fatal.is_empty() {
            Ok(())
        } else {
            Err(IoError::Series { series_uid: self.uid.clone(), reason: fatal.join("; ") })
        }
    }

    /// A serialisable summary.
    pub fn report(&self) -> SeriesReport {
        SeriesReport {
            series_uid: self.uid.clone(),
            files: self.headers.len(),
            slices: self.slices.len(),
            size: self.headers.first().map(|h| [h.rows, h.cols]),
            slice_spacing: self.slice_spacing,
            usable: self.is_usable(),
            issues: self.issues.clone(),
        }
    }

    fn slice_id(&self, s: &SliceRef) -> SliceId {
        SliceId { path: self.path_of(s).map(Path::to_path_buf).unwrap_or_default(), frame: s.frame }
    }

    fn check_consistency(&mut self) {
        let mut sizes: Vec<[u32; 2]> = Vec::new();
        let mut orientations: Vec<[f64; 6]> = Vec::new();
        let mut spacings: Vec<Option<[f64; 2]>> = Vec::new();
        for h in &self.headers {
            let size = [h.rows, h.cols];
            if !sizes.contains(&size) {
                sizes.push(size);
            }
            if let Some(o) = h.image_orientation {
                if !orientations.iter().any(|p| p.iter().zip(&o).all(|(a, b)| (a - b).abs() <= ORIENTATION_TOLERANCE)) {
                    orientations.push(o);
                }
            }
            let same = |a: &Option<[f64; 2]>| match (a, &h.pixel_spacing) {
                (None, None) => true,
                (Some(a), Some(b)) => a.iter().zip(b).all(|(x, y)| (x - y).abs() <= PIXEL_SPACING_TOLERANCE * x.abs()),
                _ => false,
            };
            if !spacings.iter().any(same) {
                spacings.push(h.pixel_spacing);
            }
        }
        if sizes.len() > 1 {
            self.issues.push(SeriesIssue::MixedSize { sizes });
        }
        self.orientation = orientations.first().copied();
        if orientations.len() > 1 {
            self.issues.push(SeriesIssue::MixedOrientation { orientations });
        }
        if spacings.len() > 1 {
            self.issues.push(SeriesIssue::MixedPixelSpacing { spacings });
        } else if spacings.first().is_some_and(Option::is_none) {
            self.issues.push(SeriesIssue::NoPixelSpacing);
        }
    }

    /// Expand frames, order them, drop duplicates, measure spacing, find gaps.
    fn order(&mut self) {
        self.normal = self.orientation.and_then(|o| normalize(cross([o[0], o[1], o[2]], [o[3], o[4], o[5]])));
        let mut slices = Vec::new();
        let mut missing = Vec::new();
        for (index, h) in self.headers.iter().enumerate() {
            for frame in 0..h.frames {
                let position = if h.frames == 1 {
                    h.image_position
                } else if h.frame_positions.len() == h.frames as usize {
                    h.frame_positions.get(frame as usize).copied()
                } else {
                    None
                };
                let location = match (position, self.normal, h.image_orientation) {
                    (Some(p), Some(n), Some(_)) => Some(dot(p, n)),
                    _ => None,
                };
                let slice = SliceRef { header: index, frame, position, location };
                if location.is_none() {
                    missing.push(self.slice_id(&slice));
                }
                slices.push(slice);
            }
        }
        let geometric = missing.is_empty();
        if !geometric {
            self.issues.push(if missing.len() == slices.len() {
                SeriesIssue::NoGeometry
            } else {
                SeriesIssue::PartialGeometry { missing }
            });
        }
        let headers = &self.headers;
        let instance = |s: &SliceRef| headers.get(s.header).and_then(|h| h.instance_number).unwrap_or(i64::MAX);
        let path = |s: &SliceRef| headers.get(s.header).map(|h| h.path.as_path());
        slices.sort_by(|a, b| {
            let by_location = match (a.location, b.location) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            };
            by_location.then(instance(a).cmp(&instance(b))).then(path(a).cmp(&path(b))).then(a.frame.cmp(&b.frame))
        });

        // Duplicates: same location (geometric), or the same SOP instance and frame (without geometry).
        let mut kept: Vec<SliceRef> = Vec::with_capacity(slices.len());
        for s in slices {
            let duplicate_of = kept.last().filter(|k| match (k.location, s.location) {
                (Some(a), Some(b)) => (a - b).abs() < DUPLICATE_TOLERANCE_MM,
                _ => {
                    let uid = |r: &SliceRef| headers.get(r.header).map(|h| h.sop_instance_uid.as_str()).unwrap_or("");
                    !uid(k).is_empty() && uid(k) == uid(&s) && k.frame == s.frame
                }
            });
            match duplicate_of {
                Some(k) => {
                    let issue = SeriesIssue::Duplicate {
                        kept: self.slice_id(k),
                        dropped: self.slice_id(&s),
                        location: s.location,
                    };
                    self.issues.push(issue);
                }
                None => kept.push(s),
            }
        }
        self.slices = kept;
        if geometric {
            self.measure_spacing();
        }
    }

    fn measure_spacing(&mut self) {
        let locations: Vec<f64> = self.slices.iter().filter_map(|s| s.location).collect();
        let gaps: Vec<f64> = locations.windows(2).map(|w| w[1] - w[0]).collect();
        let Some(median) = median(&gaps) else { return };
        self.slice_spacing = Some(median);
        let mut regular: Vec<f64> = Vec::new();
        for (i, &gap) in gaps.iter().enumerate() {
            if gap > GAP_FACTOR * median {
                self.issues.push(SeriesIssue::Gap {
                    after: i,
                    from: locations[i],
                    to: locations[i + 1],
                    expected: median,
                });
            } else {
                regular.push(gap);
            }
        }
        let min = regular.iter().copied().fold(f64::INFINITY, f64::min);
        let max = regular.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if max - min > UNIFORM_SPACING_TOLERANCE * median {
            self.issues.push(SeriesIssue::NonUniformSpacing { min, max });
        }
        if let (Some(n), Some(first)) = (self.normal, self.slices.first().and_then(|s| s.position)) {
            let max_offset = self
                .slices
                .iter()
                .filter_map(|s| s.position)
                .map(|p| {
                    let d = sub(p, first);
                    let along = dot(d, n);
                    norm(sub(d, [n[0] * along, n[1] * along, n[2] * along]))
                })
                .fold(0.0, f64::max);
            if max_offset > MISALIGNMENT_TOLERANCE_MM {
                self.issues.push(SeriesIssue::Misaligned { max_offset });
            }
        }
    }
}

/// Group headers by Series Instance UID (sorted by UID) and order each series.
pub fn group_series(headers: impl IntoIterator<Item = ImageHeader>) -> Vec<Series> {
    let mut groups: BTreeMap<String, Vec<ImageHeader>> = BTreeMap::new();
    for h in headers {
        groups.entry(h.series_instance_uid.clone()).or_default().push(h);
    }
    groups.into_iter().map(|(uid, headers)| Series::from_headers(uid, headers)).collect()
}

/// Read the headers of files in parallel and group them into series; unreadable files come back as errors.
pub fn read_series<P: AsRef<Path> + Sync>(paths: &[P]) -> (Vec<Series>, Vec<IoError>) {
    let results: Vec<Result<ImageHeader>> = paths.par_iter().map(|p| read_header(p.as_ref())).collect();
    let mut headers = Vec::with_capacity(results.len());
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(h) => headers.push(h),
            Err(e) => errors.push(e),
        }
    }
    (group_series(headers), errors)
}

/// The median of a list (mean of the middle two for even lengths); `None` when empty.
pub(crate) fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 })
}

pub(crate) fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub(crate) fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn norm(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}

pub(crate) fn normalize(a: [f64; 3]) -> Option<[f64; 3]> {
    let n = norm(a);
    (n > 1e-9 && n.is_finite()).then(|| [a[0] / n, a[1] / n, a[2] / n])
}
