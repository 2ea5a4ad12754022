//! One rendered axial slice with its geometry, body region and ground-truth maps.

use crate::tissue::Tissue;

/// The body region an axial slice passes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Region {
    /// Head.
    Head,
    /// Chest (down to the lung bases).
    Chest,
    /// Abdomen (to the iliac crests).
    Abdomen,
    /// Pelvis.
    Pelvis,
}

impl Region {
    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Region::Head => "head",
            Region::Chest => "chest",
            Region::Abdomen => "abdomen",
            Region::Pelvis => "pelvis",
        }
    }
}

/// One rendered axial slice with its geometry and ground-truth maps.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice {
    /// HU, row-major `size × size` (rows run posterior, columns towards the patient's left).
    pub values: Vec<f32>,
    /// Pixels per side.
    pub size: usize,
    /// Pixel spacing, mm.
    pub pixel_spacing: f32,
    /// Slice thickness, mm.
    pub slice_thickness: f32,
    /// Patient position of the first pixel (DICOM Image Position), mm.
    pub position: [f64; 3],
    /// Instance number (1-based, top to bottom).
    pub instance_number: i32,
    /// Body region.
    pub region: Region,
    /// Tissue at each pixel centre (`Tissue as u8`; first sub-sample, no lesions).
    pub tissue_map: Vec<u8>,
    /// Organ class at each pixel centre ([`crate::Organ::map_value`], 0 for none).
    pub organ_map: Vec<u8>,
    /// 1 where task lesions cover at least half of the pixel's volume.
    pub lesion_map: Vec<u8>,
    /// Pixels touched by any task lesion at all (blend weight above 1 %, including faint partial volume).
    pub lesion_trace: usize,
}

impl Slice {
    /// Number of lesion pixels.
    pub fn lesion_pixels(&self) -> usize {
        self.lesion_map.iter().filter(|&&v| v != 0).count()
    }

    /// Number of pixels whose centre is one of these tissues.
    pub fn tissue_pixels(&self, tissues: &[Tissue]) -> usize {
        self.tissue_map.iter().filter(|&&t| tissues.iter().any(|x| *x as u8 == t)).count()
    }

    /// The slice as `ctssl-io`'s writer takes it.
    pub fn to_ct_slice(&self) -> ctssl_io::CtSlice<'_> {
        ctssl_io::CtSlice {
            pixel_spacing: [self.pixel_spacing as f64; 2],
            slice_thickness: self.slice_thickness as f64,
            position: self.position,
            instance_number: self.instance_number,
            ..ctssl_io::CtSlice::new(self.values.as_slice(), self.size as u32, self.size as u32)
        }
    }
}
