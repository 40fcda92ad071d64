import pytest
import torch

from facexformer.inference.mtcnn_boxes import (
    crop_ranges,
    non_maximum_suppression,
    proposal_boxes,
    pyramid_scales,
    scaled_size,
    shift_boxes,
    square_boxes,
)


def test_pyramid_scales_run_from_min_face_size_to_the_shorter_side():
    # 12 / 20 = 0.6: the shorter side 100 becomes 60, 42.5, 30.2, 21.4, 15.2 (then 10.7 < 12 stops)
    assert pyramid_scales(100, 200, 20, 0.709) == pytest.approx([0.6 * 0.709**k for k in range(5)])
    assert pyramid_scales(15, 300, 20, 0.709) == []  # smaller than the smallest face searched
    assert scaled_size(100, 200, 0.6 * 0.709) == (43, 86)


def test_proposal_boxes_map_cells_back_to_original_pixels():
    face_prob = torch.zeros(3, 4)
    face_prob[1, 2], face_prob[2, 0], face_prob[0, 0] = 0.9, 0.6, 0.59
    offsets = torch.arange(4 * 3 * 4, dtype=torch.float32).reshape(4, 3, 4)
    boxes, scores, shifts = proposal_boxes(offsets, face_prob, scale=0.5, threshold=0.6)
    # cell (row 1, col 2): x = 2, y = 1 -> (2 * 2 + 1) / 0.5 = 10, (2 * 1 + 1) / 0.5 = 6, ends + 11 / 0.5
    assert boxes.tolist() == [[10, 6, 32, 28], [2, 10, 24, 32]]
    assert scores.tolist() == pytest.approx([0.9, 0.6])
    assert shifts.tolist() == offsets[:, [1, 2], [2, 0]].T.tolist()
    empty = proposal_boxes(offsets, torch.zeros(3, 4), 0.5, 0.6)
    assert [tuple(t.shape) for t in empty] == [(0, 4), (0,), (0, 4)]


def test_shift_boxes_by_width_with_and_without_the_end_pixel():
    boxes, offsets = torch.tensor([[10.0, 20, 30, 60]]), torch.tensor([[0.1, -0.1, 0.2, 0.05]])
    assert shift_boxes(boxes, offsets, inclusive=False)[0].tolist() == pytest.approx([12, 16, 34, 62])
    assert shift_boxes(boxes, offsets, inclusive=True)[0].tolist() == pytest.approx([12.1, 15.9, 34.2, 62.05])


def test_square_boxes_keep_the_centre():
    squared = square_boxes(torch.tensor([[0.0, 0, 10, 20], [5, 5, 35, 15]]))
    assert squared.tolist() == [[-5, 0, 15, 20], [5, -5, 35, 25]]


def test_crop_ranges_truncate_and_clip_to_the_image():
    boxes = torch.tensor([[-3.7, 2.9, 50.2, 80.9], [10.5, 5.2, 20.9, 30.0], [50, 5, 70, 20]])
    ranges = crop_ranges(boxes, height=60, width=40)
    # (top, bottom, left, right): 1-based inclusive pixels -> slices; the third box lies right of the image
    assert ranges == [(1, 60, 0, 40), (4, 30, 9, 20), (4, 20, 49, 40)]


# A and B overlap (IoU 0.68); D lies inside A (IoU 0.25, but all of D is covered); C is apart
HAND_BOXES = torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 5, 5]])
HAND_SCORES = torch.tensor([0.9, 0.8, 0.7, 0.95])


@pytest.mark.parametrize(
    ("overlap", "threshold", "kept"),
    [("union", 0.5, [3, 0, 2]), ("union", 0.7, [3, 0, 1, 2]), ("min", 0.7, [3, 1, 2]), ("min", 0.6, [3, 2])],
)
def test_non_maximum_suppression_on_a_hand_made_case(overlap, threshold, kept):
    # "min" with +1 areas: A covers all 36 pixels of D (overlap 1); B covers 25 of D's 36 (0.69)
    assert non_maximum_suppression(HAND_BOXES, HAND_SCORES, threshold, overlap).tolist() == kept


def test_non_maximum_suppression_edge_cases():
    assert non_maximum_suppression(torch.zeros(0, 4), torch.zeros(0), 0.7, "min").tolist() == []
    assert non_maximum_suppression(torch.zeros(0, 4), torch.zeros(0), 0.7).tolist() == []
    # equal scores: the earlier box wins
    twins = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 10]])
    assert non_maximum_suppression(twins, torch.tensor([0.5, 0.5]), 0.7, "min").tolist() == [0]
    with pytest.raises(ValueError, match="overlap must be 'union' or 'min', got 'max'"):
        non_maximum_suppression(HAND_BOXES, HAND_SCORES, 0.5, "max")
