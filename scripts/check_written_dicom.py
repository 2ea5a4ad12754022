#!/usr/bin/env python3
"""Cross-check files written by ctssl-io's DICOM writer with an independent reader (pydicom).

Usage:
    CTSSL_WRITE_CHECK_DIR=/tmp/ctssl-written \
        cargo test -p ctssl-io --test write -- --ignored write_fixture_for_pydicom
    python3 scripts/check_written_dicom.py /tmp/ctssl-written

The folder holds the written IM*.dcm files and expected.json (HU after rounding and geometry per file).
Each file is read with pydicom (enforcing valid values), checked to be CT Image Storage in Explicit VR
Little Endian with signed 16-bit MONOCHROME2 pixels, its HU (stored values through the modality LUT)
compared exactly with the expected HU, and its geometry and UIDs compared with what was written.
Exits 0 when every file matches, 1 otherwise.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"


def check_file(folder: Path, expected: dict) -> list[str]:
    """Return the mismatches of one written file (empty when it matches)."""
    problems = []
    ds = pydicom.dcmread(folder / expected["file"])

    def same(name, got, want, tol=0.0):
        got_a, want_a = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
        if got_a.shape != want_a.shape or not np.allclose(got_a, want_a, rtol=0.0, atol=tol):
            problems.append(f"{name}: got {got}, expected {want}")

    if ds.file_meta.TransferSyntaxUID != EXPLICIT_VR_LITTLE_ENDIAN:
        problems.append(f"transfer syntax {ds.file_meta.TransferSyntaxUID}")
    if ds.SOPClassUID != CT_IMAGE_STORAGE or ds.file_meta.MediaStorageSOPClassUID != CT_IMAGE_STORAGE:
        problems.append(f"SOP class {ds.SOPClassUID}")
    if ds.SOPInstanceUID != expected["sop_instance_uid"] != ds.file_meta.MediaStorageSOPInstanceUID:
        problems.append(f"SOP instance {ds.SOPInstanceUID}")
    if ds.SeriesInstanceUID != expected["series_instance_uid"]:
        problems.append(f"series {ds.SeriesInstanceUID}")
    layout = (ds.Modality, ds.PhotometricInterpretation, ds.BitsAllocated, ds.BitsStored, ds.HighBit,
              ds.PixelRepresentation, ds.SamplesPerPixel)
    if layout != ("CT", "MONOCHROME2", 16, 16, 15, 1, 1):
        problems.append(f"pixel layout {layout}")
    same("rows/cols", [ds.Rows, ds.Columns], [expected["rows"], expected["cols"]])
    same("PixelSpacing", ds.PixelSpacing, expected["pixel_spacing"], 1e-9)
    same("SliceThickness", ds.SliceThickness, expected["slice_thickness"], 1e-9)
    same("ImagePositionPatient", ds.ImagePositionPatient, expected["position"], 1e-9)
    same("ImageOrientationPatient", ds.ImageOrientationPatient, expected["orientation"], 1e-9)
    same("SliceLocation", ds.SliceLocation, expected["slice_location"], 1e-9)
    same("InstanceNumber", ds.InstanceNumber, expected["instance_number"])

    stored = ds.pixel_array
    if stored.dtype != np.int16:
        problems.append(f"pixel dtype {stored.dtype}")
    hu = apply_modality_lut(stored, ds)
    want = np.asarray(expected["hu"], dtype=float).reshape(expected["rows"], expected["cols"])
    if hu.shape != want.shape or not np.array_equal(hu, want):
        diff = np.abs(hu - want).max() if hu.shape == want.shape else "shape"
        problems.append(f"HU differ (max abs difference {diff})")
    return problems


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    pydicom.config.settings.reading_validation_mode = pydicom.config.RAISE
    folder = Path(sys.argv[1])
    expected = json.loads((folder / "expected.json").read_text())["files"]
    failed = 0
    for entry in expected:
        try:
            problems = check_file(folder, entry)
        except Exception as e:  # a file pydicom cannot read at all
            problems = [f"{type(e).__name__}: {e}"]
        status = "ok" if not problems else "FAIL: " + "; ".join(problems)
        print(f"{entry['file']}: {status}")
        failed += bool(problems)
    print(f"pydicom {pydicom.__version__}: {len(expected) - failed}/{len(expected)} files match")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
