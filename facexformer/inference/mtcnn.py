"""MTCNN face detection as the released FaceXFormer ``inference.py`` runs it (facenet-pytorch 2.6.0's
``MTCNN(keep_all=True).detect``): same networks and weights, same thresholds, pyramid, resampling and
suppression, so the boxes agree with it (tests/inference/test_mtcnn.py compares them on real photos).

The cascade, per image:

1. Pyramid: the image is resized (area averaging, ``F.interpolate(mode="area")``) by
   ``12 / min_face_size * factor**k`` down to a 12-pixel shorter side. P-Net scores every 12x12 window
   (stride 2); windows with face probability >= ``thresholds[0]`` are kept, suppressed per level (IoU 0.5),
   then across levels (IoU 0.7), shifted by P-Net's offsets and made square.
2. Each box's pixels (clipped to the image, not padded) are resized to 24x24; R-Net keeps those scoring
   > ``thresholds[1]`` (IoU 0.7 suppression), shifts and squares them.
3. The same at 48x48 with O-Net (> ``thresholds[2]``), which also gives five landmarks; boxes are shifted
   (not squared) and suppressed by intersection over the smaller area (0.7).

Results are sorted largest box first, as facenet-pytorch does by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from facexformer.inference.mtcnn_boxes import (
    crop_ranges,
    non_maximum_suppression,
    proposal_boxes,
    pyramid_scales,
    scaled_size,
    shift_boxes,
    square_boxes,
)
from facexformer.inference.mtcnn_networks import pretrained_mtcnn_networks

PIXEL_CENTRE, PIXEL_SCALE = 127.5, 0.0078125
REFINE_SIZE, OUTPUT_SIZE = 24, 48
LEVEL_IOU, PROPOSAL_IOU, REFINE_IOU, OUTPUT_MIN_OVERLAP = 0.5, 0.7, 0.7, 0.7
CROP_BATCH = 512


@dataclass
class FaceDetections:
    """Faces found in one image, largest box first.

    ``boxes`` (K, 4) float32 ``(x0, y0, x1, y1)`` pixels (may reach outside the image); ``scores`` (K,)
    float32 O-Net face probabilities; ``landmarks`` (K, 5, 2) float32 pixels (x, y): the eye on the image's
    left, the other eye, nose tip, the mouth corner on the image's left, the other mouth corner.
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray

    def __len__(self) -> int:
        return len(self.boxes)


class MTCNNFaceDetector:
    """MTCNN (P/R/O-Net cascade) with facenet-pytorch's weights and defaults.

    ``min_face_size``: smallest face side searched, pixels; ``thresholds``: face-probability cut of each
    stage; ``factor``: pyramid step; ``device``: where the networks run. Calling it gives the boxes only,
    ``(H, W, 3) uint8 RGB -> (K, 4) float32``, the detector protocol of ``facexformer.inference.detect``;
    :meth:`detect` gives scores and landmarks too.
    """

    def __init__(
        self,
        min_face_size: float = 20,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        factor: float = 0.709,
        device: str | torch.device = "cpu",
    ):
        if min_face_size <= 0 or not 0 < factor < 1 or len(thresholds) != 3:
            raise ValueError(
                f"MTCNN needs min_face_size > 0, 0 < factor < 1 and three thresholds; got {min_face_size}, "
                f"{factor}, {thresholds}"
            )
        self.min_face_size, self.factor = float(min_face_size), float(factor)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.device = torch.device(device)
        self.pnet, self.rnet, self.onet = (net.to(self.device) for net in pretrained_mtcnn_networks())

    def __call__(self, image: Any) -> np.ndarray:
        return self.detect(image).boxes

    @torch.inference_mode()
    def detect(self, image: Any) -> FaceDetections:
        """Faces in ``image``: (H, W, 3) uint8 RGB array or a PIL image; (H, W) / (H, W, 1) grey is
        repeated, (H, W, 4) RGBA loses its alpha."""
        pixels = torch.tensor(rgb_uint8(image), device=self.device).permute(2, 0, 1)[None].float()
        boxes, scores = self._propose(pixels)
        boxes, scores = self._refine(pixels, boxes)
        boxes, scores, landmarks = self._output(pixels, boxes)
        order = np.argsort(-_areas(boxes), kind="stable")
        return FaceDetections(boxes[order], scores[order], landmarks[order])

    def _propose(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        height, width = pixels.shape[-2:]
        found_boxes, found_scores = [], []
        for scale in pyramid_scales(height, width, self.min_face_size, self.factor):
            level = F.interpolate(pixels, size=scaled_size(height, width, scale), mode="area")
            offsets, face_prob = self.pnet(_normalise(level))
            boxes, scores, shifts = proposal_boxes(offsets[0], face_prob[0], scale, self.thresholds[0])
            keep = non_maximum_suppression(boxes, scores, LEVEL_IOU)
            found_boxes.append(torch.cat([boxes[keep], shifts[keep]], dim=1))
            found_scores.append(scores[keep])
        if not found_boxes:
            return pixels.new_zeros(0, 4), pixels.new_zeros(0)
        candidates, scores = torch.cat(found_boxes), torch.cat(found_scores)
        keep = non_maximum_suppression(candidates[:, :4], scores, PROPOSAL_IOU)
        candidates, scores = candidates[keep], scores[keep]
        return square_boxes(shift_boxes(candidates[:, :4], candidates[:, 4:], inclusive=False)), scores

    def _refine(self, pixels: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        boxes, crops = _crops(pixels, boxes, REFINE_SIZE)
        if len(boxes) == 0:
            return boxes, pixels.new_zeros(0)
        offsets, scores = _in_batches(self.rnet, crops)
        passed = scores > self.thresholds[1]
        boxes, scores, offsets = boxes[passed], scores[passed], offsets[passed]
        keep = non_maximum_suppression(boxes, scores, REFINE_IOU)
        return square_boxes(shift_boxes(boxes[keep], offsets[keep], inclusive=True)), scores[keep]

    def _output(self, pixels: torch.Tensor, boxes: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        boxes, crops = _crops(pixels, boxes, OUTPUT_SIZE)
        if len(boxes) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
        offsets, points, scores = _in_batches(self.onet, crops)
        passed = scores > self.thresholds[2]
        boxes, scores, offsets, points = boxes[passed], scores[passed], offsets[passed], points[passed]
        size = boxes[:, 2:] - boxes[:, :2] + 1
        landmarks = torch.stack(
            [
                size[:, None, 0] * points[:, :5] + boxes[:, None, 0] - 1,
                size[:, None, 1] * points[:, 5:] + boxes[:, None, 1] - 1,
            ],
            dim=2,
        )
        boxes = shift_boxes(boxes, offsets, inclusive=True)
        keep = non_maximum_suppression(boxes, scores, OUTPUT_MIN_OVERLAP, overlap="min")
        return boxes[keep].cpu().numpy(), scores[keep].cpu().numpy(), landmarks[keep].cpu().numpy()


def rgb_uint8(image: Any) -> np.ndarray:
    """A PIL image or uint8 (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) array -> (H, W, 3) uint8 RGB."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    if not isinstance(image, np.ndarray):
        raise TypeError(f"MTCNN takes a PIL image or a uint8 numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"MTCNN takes uint8 pixels (0-255), got an array of {image.dtype}")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"MTCNN takes an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) image, got {image.shape}")
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


def _normalise(pixels: torch.Tensor) -> torch.Tensor:
    return (pixels - PIXEL_CENTRE) * PIXEL_SCALE


def _crops(pixels: torch.Tensor, boxes: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each box's pixels (clipped to the image) area-resized to (size, size) and normalised, (N, 3, size,
    size); boxes that lie wholly outside the image are dropped. Returns the kept boxes and their crops."""
    height, width = pixels.shape[-2:]
    kept, crops = [], []
    for index, (top, bottom, left, right) in enumerate(crop_ranges(boxes, height, width)):
        if bottom > top and right > left:
            kept.append(index)
            crops.append(F.interpolate(pixels[:, :, top:bottom, left:right], size=(size, size), mode="area"))
    if not kept:
        return boxes[:0], pixels.new_zeros(0, 3, size, size)
    return boxes[kept], _normalise(torch.cat(crops))


def _in_batches(network: torch.nn.Module, crops: torch.Tensor) -> tuple[torch.Tensor, ...]:
    outputs = [network(crops[start : start + CROP_BATCH]) for start in range(0, len(crops), CROP_BATCH)]
    return tuple(torch.cat(parts) for parts in zip(*outputs, strict=True))


def _areas(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
