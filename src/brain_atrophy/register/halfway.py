"""The halfway space of a rigid pair: each image is resampled by half of the transform between
them, so both are interpolated once and alike. Resampling only the follow-up smooths it alone,
and that asymmetry reads as atrophy (Yushkevich et al., NeuroImage 2010; Thompson & Holland,
NeuroImage 2011).

Matrices are 4×4 homogeneous maps of physical points (ITK's LPS), in ITK's direction: from the
fixed (baseline) image's space to the moving (follow-up) image's.
"""

from __future__ import annotations

import numpy as np


def affine_matrix(parameters, center) -> np.ndarray:
    """The 4×4 matrix of an ITK affine-family transform: 9 matrix entries and 3 translations
    about ``center``, x ↦ A(x − c) + c + t."""
    parameters = np.asarray(parameters, dtype=float)
    center = np.asarray(center, dtype=float)
    linear, translation = parameters[:9].reshape(3, 3), parameters[9:12]
    matrix = np.eye(4)
    matrix[:3, :3] = linear
    matrix[:3, 3] = translation + center - linear @ center
    return matrix


def half_transform(matrix: np.ndarray) -> np.ndarray:
    """H with H·H = ``matrix``: the rigid map's principal square root (half the rotation
    angle about the same axis, and the matching translation)."""
    from scipy.linalg import sqrtm

    half = np.real(sqrtm(np.asarray(matrix, dtype=float)))
    if not np.allclose(half @ half, matrix, atol=1e-6):
        raise ValueError("the rigid transform has no real square root (a rotation of 180°?)")
    half[3] = (0, 0, 0, 1)
    return half


def rotation_degrees(matrix: np.ndarray) -> float:
    """The rotation angle of a rigid matrix, in degrees (how far a head moved between scans)."""
    cosine = (np.trace(matrix[:3, :3]) - 1) / 2
    return float(np.degrees(np.arccos(np.clip(cosine, -1, 1))))
