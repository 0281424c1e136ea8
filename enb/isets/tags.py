"""Image geometry and sample type read from file names, as enb 1.x names raw images.

A raw image carries no header; enb puts what is needed to read it in its name:
``forest-u16be-3x600x800.raw`` holds 3 components (bands) of 600 rows by 800 columns of
unsigned, 16-bit, big-endian samples, band after band (BSQ). Type tags: ``u`` or ``s``
(unsigned, signed) then 8, 16 or 32 bits then ``be`` or ``le`` (byte order); ``f16``, ``f32``
and ``f64`` are IEEE floats in little-endian order (as enb 1.x reads them). The geometry tag
is ``ZxYxX``: components x height x width.

A tag counts only when it is not glued to letters or digits (``img_u8be-1x2x3.raw``,
``img-u8be-1x2x3.raw``; not ``stu8bear``). Nothing here imports numpy.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import re

logger = logging.getLogger(__name__)

#: Integer sample type tags, as enb 1.x lists them.
dtype_integer_tags = ("u8be", "u8le", "s8be", "s8le", "u16be", "u16le", "s16be",
                      "s16le", "u32be", "u32le", "s32be", "s32le")
#: Floating point sample type tags (little-endian IEEE 754).
dtype_float_tags = ("f16", "f32", "f64")
#: Every sample type tag.
dtype_tags = dtype_integer_tags + dtype_float_tags

_TYPE_TAG = re.compile(r"(?<![A-Za-z0-9])([us])(8|16|32)(be|le)(?![A-Za-z0-9])"
                       r"|(?<![A-Za-z0-9])f(16|32|64)(?![A-Za-z0-9])")
_GEOMETRY_TAG = re.compile(r"(?<!\d)(\d+)x(\d+)x(\d+)(?!\d)")


class ImageGeometryError(ValueError):
    """A file's name or size does not describe a readable raw image; the message says why."""


@dataclasses.dataclass(frozen=True)
class SampleType:
    """The type of the samples of a raw image."""
    bytes_per_sample: int
    signed: bool
    big_endian: bool
    float: bool

    @property
    def tag(self) -> str:
        """The name tag of this type (``u16be``, ``s8be``, ``f32``)."""
        if self.float:
            return f"f{8 * self.bytes_per_sample}"
        return (f"{'s' if self.signed else 'u'}{8 * self.bytes_per_sample}"
                f"{'be' if self.big_endian else 'le'}")

    @property
    def dtype(self) -> str:
        """The numpy dtype string of these samples (``>u2``, ``<i4``, ``<f4``)."""
        if self.float:
            return f"<f{self.bytes_per_sample}"
        return f"{'>' if self.big_endian else '<'}{'i' if self.signed else 'u'}" \
               f"{self.bytes_per_sample}"


def sample_type_from_name(file_path) -> SampleType | None:
    """Return the sample type named in ``file_path``'s base name, or None if it names none.

    Raise :class:`ImageGeometryError` if it names two different types.
    """
    name = os.path.basename(os.fspath(file_path))
    found = set()
    for match in _TYPE_TAG.finditer(name):
        if match.group(4):
            found.add(SampleType(int(match.group(4)) // 8, True, False, True))
        else:
            sign, bits, order = match.group(1, 2, 3)
            found.add(SampleType(int(bits) // 8, sign == "s", order == "be", False))
    if len(found) > 1:
        raise ImageGeometryError(f"{name}: the name has more than one sample type tag "
                                 f"({', '.join(sorted(t.tag for t in found))}); keep one")
    return found.pop() if found else None


def geometry_from_name(file_path) -> tuple[int, int, int] | None:
    """Return (component_count, height, width) from a ``ZxYxX`` tag, or None if there is none.

    Raise :class:`ImageGeometryError` for two tags or a zero dimension.
    """
    name = os.path.basename(os.fspath(file_path))
    matches = _GEOMETRY_TAG.findall(name)
    if not matches:
        return None
    if len(matches) > 1:
        raise ImageGeometryError(
            f"{name}: the name has more than one geometry tag "
            f"({', '.join('x'.join(m) for m in matches)}); keep one (components x height x width)")
    component_count, height, width = (int(v) for v in matches[0])
    if min(component_count, height, width) < 1:
        raise ImageGeometryError(f"{name}: the geometry tag {'x'.join(matches[0])} has a zero "
                                 f"dimension")
    return component_count, height, width


def with_sample_type(file_name: str, sample_type: SampleType) -> str:
    """Return ``file_name`` with its sample type tag replaced by ``sample_type``'s (added
    before the geometry tag, or before the extension, when it has none)."""
    replaced, count = _TYPE_TAG.subn(sample_type.tag, file_name)
    if count:
        return replaced
    geometry = _GEOMETRY_TAG.search(file_name)
    if geometry:
        return f"{file_name[:geometry.start()]}{sample_type.tag}-{file_name[geometry.start():]}"
    stem, extension = os.path.splitext(file_name)
    return f"{stem}-{sample_type.tag}{extension}"


def file_path_to_geometry_dict(file_path, existing_dict=None, verify_file_size=True) -> dict:
    """Return width, height, component_count, sample type and sample count read from a name.

    The name must carry a geometry tag (``3x600x800``) and a sample type tag (``u16be``).
    ``existing_dict``, when given, is updated and returned. With ``verify_file_size``, the
    file must hold exactly width x height x components samples. A name without a geometry
    tag gives ``{}`` (or ``existing_dict`` unchanged if it already holds a geometry), as in
    enb 1.x.
    """
    row = existing_dict if existing_dict is not None else {}
    geometry = geometry_from_name(file_path)
    if geometry is None:
        if any(c not in row for c in ("width", "height", "component_count", "samples")):
            logger.debug("no geometry tag (ZxYxX) in the name of %s", file_path)
            return {}
        return row
    component_count, height, width = geometry
    row["width"], row["height"], row["component_count"] = width, height, component_count
    _file_path_to_datatype_dict(file_path, row)
    if verify_file_size:
        expected = width * height * component_count * row["bytes_per_sample"]
        size = os.path.getsize(file_path)
        if size != expected:
            raise ImageGeometryError(
                f"{file_path}: {size} bytes, but its name says {component_count}x{height}x"
                f"{width} samples of {row['bytes_per_sample']} byte(s), {expected} bytes")
    return row


def _file_path_to_datatype_dict(file_path, existing_dict=None) -> dict:
    """Set bytes_per_sample, big_endian, signed, float and samples from ``file_path``."""
    row = existing_dict if existing_dict is not None else {}
    sample_type = sample_type_from_name(file_path)
    if sample_type is None:
        raise ImageGeometryError(
            f"{file_path}: the name has no sample type tag; add one such as u8be, u16be, s16le "
            f"or f32 (e.g. image-u16be-3x600x800.raw)")
    row["bytes_per_sample"] = sample_type.bytes_per_sample
    row["big_endian"] = sample_type.big_endian
    row["signed"] = sample_type.signed
    row["float"] = sample_type.float
    size = os.path.getsize(file_path)
    if size % sample_type.bytes_per_sample:
        raise ImageGeometryError(f"{file_path}: {size} bytes is not a whole number of "
                                 f"{sample_type.bytes_per_sample}-byte samples")
    row["samples"] = size // sample_type.bytes_per_sample
    return row


def iproperties_row_to_numpy_dtype(image_properties_row) -> str:
    """Return the numpy dtype of an image described by a row (ImageGeometryTable columns)."""
    if image_properties_row.get("float", False):
        return f"<f{int(image_properties_row['bytes_per_sample'])}"
    bytes_per_sample = int(image_properties_row["bytes_per_sample"])
    order = (">" if image_properties_row["big_endian"] else "<") if bytes_per_sample > 1 else ""
    return f"{order}{'i' if image_properties_row['signed'] else 'u'}{bytes_per_sample}"


def iproperties_row_to_sample_type_tag(image_properties_row) -> str:
    """Return the sample type tag (``u16be``) of an image described by a row."""
    if image_properties_row.get("float", False):
        return f"f{8 * int(image_properties_row['bytes_per_sample'])}"
    if int(image_properties_row["bytes_per_sample"]) not in (1, 2, 3, 4, 8):
        raise ValueError(f"no sample type tag for {image_properties_row['bytes_per_sample']} "
                         f"bytes per sample")
    return (("s" if image_properties_row["signed"] else "u")
            + str(8 * int(image_properties_row["bytes_per_sample"]))
            + ("be" if image_properties_row["big_endian"] else "le"))


def iproperties_row_to_geometry_tag(image_properties_row) -> str:
    """Return the geometry tag (``3x600x800``: components x height x width) of a row."""
    return f"{image_properties_row['component_count']}x{image_properties_row['height']}" \
           f"x{image_properties_row['width']}"


def iproperties_to_name_tag(width, height, component_count, big_endian, bytes_per_sample,
                            signed) -> str:
    """Return the full name tag (``u16be-3x600x800``) of an image of these properties."""
    row = dict(width=width, height=height, component_count=component_count,
               big_endian=big_endian, bytes_per_sample=bytes_per_sample, signed=signed)
    return f"{iproperties_row_to_sample_type_tag(row)}-{iproperties_row_to_geometry_tag(row)}"
