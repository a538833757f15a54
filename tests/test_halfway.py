"""The halfway split of a rigid map (brain_atrophy.register.halfway)."""

import numpy as np
import pytest

from brain_atrophy.register.halfway import affine_matrix, half_transform, rotation_degrees


def rigid(axis, degrees, translation):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    angle = np.radians(degrees)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    matrix = np.eye(4)
    matrix[:3, :3] = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k
    matrix[:3, 3] = translation
    return matrix


def test_half_transform_squares_to_the_rigid_map_and_halves_its_angle():
    matrix = rigid((1, 2, 3), 8.0, (4.0, -2.0, 7.0))
    half = half_transform(matrix)
    assert np.allclose(half @ half, matrix, atol=1e-10)
    assert rotation_degrees(half) == pytest.approx(4.0, abs=1e-8)
    assert np.allclose(half[:3, :3] @ half[:3, :3].T, np.eye(3), atol=1e-10)  # still rigid
    assert np.linalg.det(half[:3, :3]) == pytest.approx(1.0)


def test_identity_splits_into_identity():
    assert np.allclose(half_transform(np.eye(4)), np.eye(4))


def test_affine_matrix_follows_itk_centre_convention():
    """x ↦ A(x − c) + c + t, as ITK's MatrixOffsetTransformBase maps points."""
    linear = rigid((0, 0, 1), 10, (0, 0, 0))[:3, :3]
    parameters = [*linear.ravel(), 1.0, 2.0, 3.0]
    centre = np.array([10.0, -5.0, 2.0])
    matrix = affine_matrix(parameters, centre)
    point = np.array([3.0, 4.0, 5.0])
    expected = linear @ (point - centre) + centre + np.array([1.0, 2.0, 3.0])
    assert np.allclose(matrix[:3, :3] @ point + matrix[:3, 3], expected)


def test_affine_matrix_agrees_with_ants():
    import ants

    linear = rigid((1, 0, 1), 6, (0, 0, 0))[:3, :3]
    transform = ants.create_ants_transform(
        transform_type="AffineTransform",
        dimension=3,
        matrix=linear,
        translation=(2.0, -1.0, 0.5),
        center=(5.0, 6.0, 7.0),
    )
    matrix = affine_matrix(transform.parameters, transform.fixed_parameters)
    point = (1.0, 2.0, 3.0)
    assert np.allclose(matrix[:3, :3] @ point + matrix[:3, 3], transform.apply_to_point(point), atol=1e-5)
