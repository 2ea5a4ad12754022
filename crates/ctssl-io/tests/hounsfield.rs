//! Hounsfield units where a plain rescale would be wrong: UN-VR attributes, Modality LUTs,
//! per-frame rescale of enhanced CT, pixel padding, and Bits Stored below Bits Allocated.

use std::path::Path;

use ctssl_io::{decode_object, Padding, ReadOptions};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::{meta::FileMetaTableBuilder, DefaultDicomObject, InMemDicomObject};

fn base(rows: u16, cols: u16, stored: &[i16], bits_stored: u16, signed: bool) -> InMemDicomObject {
    let mut o = InMemDicomObject::new_empty();
    o.put(DataElement::new(tags::SOP_CLASS_UID, VR::UI, PrimitiveValue::from("1.2.840.10008.5.1.4.1.1.2")));
    o.put(DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from("2.25.1")));
    o.put(DataElement::new(tags::MODALITY, VR::CS, PrimitiveValue::from("CT")));
    o.put(DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16)));
    o.put(DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, PrimitiveValue::from("MONOCHROME2")));
    o.put(DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(rows)));
    o.put(DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(cols)));
    o.put(DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16)));
    o.put(DataElement::new(tags::BITS_STORED, VR::US, PrimitiveValue::from(bits_stored)));
    o.put(DataElement::new(tags::HIGH_BIT, VR::US, PrimitiveValue::from(bits_stored - 1)));
    o.put(DataElement::new(tags::PIXEL_REPRESENTATION, VR::US, PrimitiveValue::from(signed as u16)));
    let words: Vec<u16> = stored.iter().map(|&v| v as u16).collect();
    o.put(DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(words.into())));
    o
}

fn file(o: InMemDicomObject) -> DefaultDicomObject {
    o.with_meta(
        FileMetaTableBuilder::new()
            .transfer_syntax("1.2.840.10008.1.2.1")
            .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.2")
            .media_storage_sop_instance_uid("2.25.1"),
    )
    .expect("meta")
}

fn decode(o: InMemDicomObject, options: ReadOptions) -> Vec<f32> {
    decode_object(&file(o), Path::new("synthetic.dcm"), &options).expect("decode").values
}

#[test]
fn rescale_stored_with_vr_un_is_read_with_its_dictionary_vr() {
    let mut o = base(1, 2, &[0, 1000], 16, true);
    // "1" stored as UN would read as the byte 0x31 = 49 without the repair.
    o.put(DataElement::new(tags::RESCALE_SLOPE, VR::UN, PrimitiveValue::U8(b"1 ".to_vec().into())));
    o.put(DataElement::new(tags::RESCALE_INTERCEPT, VR::UN, PrimitiveValue::U8(b"-1024 ".to_vec().into())));
    assert_eq!(decode(o, ReadOptions::default()), vec![-1024.0, -24.0]);
}

#[test]
fn modality_lut_sequence_maps_and_clamps() {
    let mut o = base(1, 5, &[9, 10, 12, 13, 40], 16, false);
    let mut item = InMemDicomObject::new_empty();
    item.put(DataElement::new(tags::LUT_DESCRIPTOR, VR::US, PrimitiveValue::U16([4u16, 10, 16].as_slice().into())));
    item.put(DataElement::new(tags::LUT_DATA, VR::OW, PrimitiveValue::U16([100u16, 200, 300, 400].as_slice().into())));
    item.put(DataElement::new(tags::MODALITY_LUT_TYPE, VR::LO, PrimitiveValue::from("HU")));
    o.put(DataElement::new(tags::MODALITY_LUT_SEQUENCE, VR::SQ, dicom_core::value::DataSetSequence::from(vec![item])));
    // A rescale alongside a LUT is ignored: the LUT wins.
    o.put(DataElement::new(tags::RESCALE_SLOPE, VR::DS, PrimitiveValue::from("5")));
    assert_eq!(decode(o, ReadOptions::default()), vec![100.0, 100.0, 300.0, 400.0, 400.0]);
}

#[test]
fn enhanced_ct_applies_each_frames_own_rescale() {
    let mut o = base(1, 2, &[10, 20, 10, 20], 16, true);
    o.put(DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, PrimitiveValue::from("2")));
    let frame = |slope: &str, intercept: &str, z: f64| {
        let mut pvt = InMemDicomObject::new_empty();
        pvt.put(DataElement::new(tags::RESCALE_SLOPE, VR::DS, PrimitiveValue::from(slope)));
        pvt.put(DataElement::new(tags::RESCALE_INTERCEPT, VR::DS, PrimitiveValue::from(intercept)));
        let mut pos = InMemDicomObject::new_empty();
        pos.put(DataElement::new(tags::IMAGE_POSITION_PATIENT, VR::DS, PrimitiveValue::from(format!("0\\0\\{z}"))));
        let mut g = InMemDicomObject::new_empty();
        g.put(DataElement::new(
            tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
            VR::SQ,
            dicom_core::value::DataSetSequence::from(vec![pvt]),
        ));
        g.put(DataElement::new(
            tags::PLANE_POSITION_SEQUENCE,
            VR::SQ,
            dicom_core::value::DataSetSequence::from(vec![pos]),
        ));
        g
    };
    o.put(DataElement::new(
        tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
        VR::SQ,
        dicom_core::value::DataSetSequence::from(vec![frame("1", "-1000", 0.0), frame("2", "0", 2.5)]),
    ));
    let f = file(o);
    let image = decode_object(&f, Path::new("enhanced.dcm"), &ReadOptions::default()).expect("decode");
    assert_eq!(image.values, vec![-990.0, -980.0, 20.0, 40.0]);
    assert_eq!(image.header.frame_positions, vec![[0.0, 0.0, 0.0], [0.0, 0.0, 2.5]]);
}

#[test]
fn pixel_padding_is_kept_or_becomes_air() {
    let make = || {
        let mut o = base(1, 3, &[-2000, 0, 1024], 16, true);
        o.put(DataElement::new(tags::RESCALE_SLOPE, VR::DS, PrimitiveValue::from("1")));
        o.put(DataElement::new(tags::RESCALE_INTERCEPT, VR::DS, PrimitiveValue::from("-1024")));
        o.put(DataElement::new(tags::PIXEL_PADDING_VALUE, VR::SS, PrimitiveValue::from(-2000i16)));
        o
    };
    assert_eq!(decode(make(), ReadOptions::default()), vec![-3024.0, -1024.0, 0.0]);
    assert_eq!(decode(make(), ReadOptions::for_training()), vec![-1000.0, -1024.0, 0.0]);
    let fill = ReadOptions { padding: Padding::Replace(-1500.0), ..ReadOptions::default() };
    assert_eq!(decode(make(), fill), vec![-1500.0, -1024.0, 0.0]);
}

#[test]
fn padding_range_limit_covers_a_range_of_stored_values() {
    let mut o = base(1, 4, &[0, 5, 10, 11], 16, false);
    o.put(DataElement::new(tags::PIXEL_PADDING_VALUE, VR::US, PrimitiveValue::from(0u16)));
    o.put(DataElement::new(tags::PIXEL_PADDING_RANGE_LIMIT, VR::US, PrimitiveValue::from(10u16)));
    assert_eq!(decode(o, ReadOptions::for_training()), vec![-1000.0, -1000.0, -1000.0, 11.0]);
}

#[test]
fn bits_stored_below_bits_allocated_masks_and_sign_extends() {
    // 12 bits stored in 16: garbage in the top 4 bits (overlay bits in old files) must be ignored.
    let raw = [0xF800u16 as i16, 0x07FF, 0x1001, 0x0800];
    let signed = decode(base(1, 4, &raw, 12, true), ReadOptions::default());
    assert_eq!(signed, vec![-2048.0, 2047.0, 1.0, -2048.0]);
    let unsigned = decode(base(1, 4, &raw, 12, false), ReadOptions::default());
    assert_eq!(unsigned, vec![2048.0, 2047.0, 1.0, 2048.0]);
}

#[test]
fn short_pixel_data_is_a_decode_error_not_a_panic() {
    let o = base(4, 4, &[0, 1, 2], 16, true);
    let err = decode_object(&file(o), Path::new("short.dcm"), &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, ctssl_io::IoError::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("short.dcm"));
}
