"""Image-frame and pose geometry: the face crop (``CropWindow``) and Euler angles <-> rotation matrices."""

from facexformer.geometry.crop import CropSettings, CropWindow, crop_box, crop_faces, crop_points, uncrop_points
from facexformer.geometry.rotations import euler_to_matrix, flip_euler, matrix_to_euler

__all__ = [
    "CropSettings",
    "CropWindow",
    "crop_box",
    "crop_faces",
    "crop_points",
    "euler_to_matrix",
    "flip_euler",
    "matrix_to_euler",
    "uncrop_points",
]
