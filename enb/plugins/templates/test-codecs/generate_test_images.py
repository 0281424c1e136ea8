#!/usr/bin/env python3
"""Write the small corpus on which test_all_codecs.py tries every codec.

One 32x32 image per sample type (8-, 16- and 32-bit integers, signed and unsigned, both byte
orders where they differ; 16-, 32- and 64-bit floats) and component count (1 and 3; 8-bit
images also 2 and 4), each a smooth gradient with noise over most of its type's range.
"""
import itertools
import os

import numpy as np

WIDTH = HEIGHT = 32
INTEGER_TYPES = [(bits, signed, big_endian) for bits in (8, 16, 32)
                 for signed in (False, True) for big_endian in (True, False)
                 if bits > 8 or big_endian]
FLOAT_BITS = (16, 32, 64)


def type_tag(bits, signed, big_endian, is_float=False) -> str:
    if is_float:
        return f"f{bits}"
    return f"{'s' if signed else 'u'}{bits}{'be' if big_endian else 'le'}"


def generate_test_images(base_dir=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                               "data")) -> list:
    """Write the corpus under ``base_dir`` (kept if there already); return the paths."""
    rng = np.random.default_rng(0)
    paths = []
    kinds = [(*t, False) for t in INTEGER_TYPES] + [(b, True, False, True) for b in FLOAT_BITS]
    for (bits, signed, big_endian, is_float), components in itertools.product(kinds, (1, 2, 3, 4)):
        if components in (2, 4) and bits != 8:
            continue
        tag = type_tag(bits, signed, big_endian, is_float)
        path = os.path.join(base_dir, tag, f"sample-{tag}-{components}x{HEIGHT}x{WIDTH}.raw")
        paths.append(path)
        if os.path.exists(path):
            continue
        x, y, z = np.meshgrid(np.arange(WIDTH), np.arange(HEIGHT), np.arange(components),
                              indexing="ij")
        ramp = (x + y + 7 * z) / (WIDTH + HEIGHT + 7 * components)  # 0 .. 1
        if is_float:
            dtype = f"<f{bits // 8}"
            samples = (2 * ramp - 1) * 1000 + rng.normal(0, 1, ramp.shape)
        else:
            dtype = f"{'>' if big_endian else '<'}{'i' if signed else 'u'}{bits // 8}"
            low, high = np.iinfo(dtype).min, np.iinfo(dtype).max
            span = float(high) - float(low)
            samples = low + ramp * 0.9 * span + rng.integers(0, 4, ramp.shape)
            samples = np.clip(samples, low, high)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        samples.astype(dtype).transpose(2, 1, 0).tofile(path)
    return paths


if __name__ == "__main__":
    print(f"{len(generate_test_images())} test images ready")
