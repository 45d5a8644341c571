"""Stage 6 — result, for DICOM scans: the label volume as a DICOM Segmentation object
(highdicom, the ``med`` extra) that PACS viewers, 3D Slicer and OHIF open over the source
series: one segment per class, on the frames of the source slices that hold any of it.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np

from ._errors import ParameterError
from ._version import __version__

# Patient and study attributes a SEG copies from its source (DICOM type 2: may be empty).
_EMPTY_ALLOWED = ("PatientID", "PatientName", "PatientBirthDate", "PatientSex", "StudyDate",
                  "StudyTime", "AccessionNumber", "StudyID", "ReferringPhysicianName")


def dicom_seg_bytes(labels: np.ndarray, datasets: list, class_names: list[str]) -> bytes:
    """The bytes of a DICOM SEG file of ``labels`` (``(I, J, K)``: 0 = none, class ``c`` =
    segment ``c``) over ``datasets``, the source series in slice order (``K`` of them, each
    ``J`` rows of ``I`` columns).

    Its UIDs are derived from the source series and the labels, so the same segmentation of
    the same series gets the same UIDs.
    """
    try:
        import highdicom
        from pydicom.sr.codedict import codes
    except ImportError:
        raise ParameterError("a DICOM SEG needs highdicom: pip install '.[med]'") from None
    _check_references(datasets)
    rows, columns = int(datasets[0].Rows), int(datasets[0].Columns)
    if labels.shape != (columns, rows, len(datasets)):
        raise ParameterError(f"labels of shape {labels.shape} do not fit a series of "
                             f"{len(datasets)} slices of {rows} x {columns}")
    algorithm = highdicom.AlgorithmIdentificationSequence(
        name="kmseg k-means", version=__version__, family=codes.cid7162.ClusterAnalysis)
    segments = [highdicom.seg.SegmentDescription(
        segment_number=number, segment_label=name,
        segmented_property_category=codes.SCT.Tissue, segmented_property_type=codes.SCT.Tissue,
        algorithm_type=highdicom.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm) for number, name in enumerate(class_names, start=1)]
    entropy = [str(datasets[0].SeriesInstanceUID),
               hashlib.sha256(np.ascontiguousarray(labels).tobytes()).hexdigest()]
    try:
        segmentation = _segmentation(highdicom, datasets, labels, segments, entropy)
    except (ValueError, AttributeError, TypeError) as error:  # what else highdicom needs
        raise ParameterError(f"highdicom could not make a DICOM SEG of this series "
                             f"({error})") from None
    buffer = io.BytesIO()
    segmentation.save_as(buffer)
    return buffer.getvalue()


def _segmentation(highdicom, datasets: list, labels: np.ndarray, segments: list,
                  entropy: list[str]):
    """highdicom's Segmentation object of the labels, one segment per class."""
    from pydicom.uid import generate_uid

    return highdicom.seg.Segmentation(
        source_images=datasets,
        pixel_array=np.ascontiguousarray(labels.transpose(2, 1, 0)),  # frames of rows
        segmentation_type=highdicom.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=segments,
        series_instance_uid=generate_uid(entropy_srcs=[*entropy, "series"]),
        series_number=int(datasets[0].get("SeriesNumber", 0) or 0) + 1000,
        sop_instance_uid=generate_uid(entropy_srcs=[*entropy, "instance"]),
        instance_number=1, manufacturer="kmseg", manufacturer_model_name="kmseg",
        software_versions=__version__, device_serial_number="none",
        series_description="kmseg classes")


def _check_references(datasets: list) -> None:
    """A SEG names its source images by their study, series and SOP instance UIDs: the SOP
    class and instance UIDs are taken from the file meta where an anonymiser blanked them (the
    standard has both hold the same), a missing study or series UID is an error."""
    missing = [key for key in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID")
               if not datasets[0].get(key)]
    if missing:
        raise ParameterError(f"the series has no {' or '.join(missing)} (anonymised?): a "
                             "DICOM SEG could not reference it; the NIfTI labels can be written")
    for ds in datasets:
        for key in _EMPTY_ALLOWED:  # type 2: present, empty allowed; anonymisers drop them
            if key not in ds:
                setattr(ds, key, "")
        meta = getattr(ds, "file_meta", {})
        for key, meta_key in (("SOPClassUID", "MediaStorageSOPClassUID"),
                              ("SOPInstanceUID", "MediaStorageSOPInstanceUID")):
            if not ds.get(key) and meta.get(meta_key):
                setattr(ds, key, meta[meta_key])
