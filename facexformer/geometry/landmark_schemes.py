"""Landmark annotation schemes: point counts, horizontal-flip permutations and NME normalisation points.

Flip permutations: mmpose @ 759b39c ``configs/_base_/datasets/{300w,wflw,cofw,aflw}.py`` (keypoint swap
names), rewritten as index lists: ``flip_index[i]`` is the index point ``i`` takes after a horizontal flip.
Normalisation indices: STAR @ 9b12574 ``conf/alignment.py`` and ``lib/metric/nme.py``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LandmarkScheme:
    """One annotation scheme.

    ``ocular``: the two outer eye corners; ``pupils``: each pupil as the mean of these point groups.
    Either may be None where the scheme has no such points (AFLW-19 normalises by the face box).
    """

    name: str
    num_points: int
    flip_index: tuple[int, ...]
    ocular: tuple[int, int] | None
    pupils: tuple[tuple[int, ...], tuple[int, ...]] | None

    def __post_init__(self) -> None:
        if sorted(self.flip_index) != list(range(self.num_points)):
            raise ValueError(f"{self.name}: flip_index is not a permutation of {self.num_points} points")


_FLIP_68 = (
    16,
    15,
    14,
    13,
    12,
    11,
    10,
    9,
    8,
    7,
    6,
    5,
    4,
    3,
    2,
    1,
    0,
    26,
    25,
    24,
    23,
    22,
    21,
    20,
    19,
    18,
    17,
    27,
    28,
    29,
    30,
    35,
    34,
    33,
    32,
    31,
    45,
    44,
    43,
    42,
    47,
    46,
    39,
    38,
    37,
    36,
    41,
    40,
    54,
    53,
    52,
    51,
    50,
    49,
    48,
    59,
    58,
    57,
    56,
    55,
    64,
    63,
    62,
    61,
    60,
    67,
    66,
    65,
)
_FLIP_98 = (
    32,
    31,
    30,
    29,
    28,
    27,
    26,
    25,
    24,
    23,
    22,
    21,
    20,
    19,
    18,
    17,
    16,
    15,
    14,
    13,
    12,
    11,
    10,
    9,
    8,
    7,
    6,
    5,
    4,
    3,
    2,
    1,
    0,
    46,
    45,
    44,
    43,
    42,
    50,
    49,
    48,
    47,
    37,
    36,
    35,
    34,
    33,
    41,
    40,
    39,
    38,
    51,
    52,
    53,
    54,
    59,
    58,
    57,
    56,
    55,
    72,
    71,
    70,
    69,
    68,
    75,
    74,
    73,
    64,
    63,
    62,
    61,
    60,
    67,
    66,
    65,
    82,
    81,
    80,
    79,
    78,
    77,
    76,
    87,
    86,
    85,
    84,
    83,
    92,
    91,
    90,
    89,
    88,
    95,
    94,
    93,
    97,
    96,
)
_FLIP_29 = (1, 0, 3, 2, 6, 7, 4, 5, 9, 8, 11, 10, 14, 15, 12, 13, 17, 16, 19, 18, 20, 21, 23, 22, 24, 25, 26, 27, 28)
_FLIP_19 = (5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 14, 13, 12, 17, 16, 15, 18)

SCHEMES: dict[int, LandmarkScheme] = {
    68: LandmarkScheme("300w", 68, _FLIP_68, (36, 45), (tuple(range(36, 42)), tuple(range(42, 48)))),
    98: LandmarkScheme("wflw", 98, _FLIP_98, (60, 72), ((96,), (97,))),
    29: LandmarkScheme("cofw", 29, _FLIP_29, (8, 9), ((16,), (17,))),
    19: LandmarkScheme("aflw", 19, _FLIP_19, None, None),
}


def default_normalization(num_points: int) -> str:
    """The default NME normalisation of a scheme: ``"inter_ocular"`` (outer eye corners; 300W, WFLW, and
    COFW, whose STAR tables use ``"inter_pupil"``: set it on the task) where the scheme has eye corners,
    else ``"bbox"`` (AFLW-19, whose reader gives the csv box size as ``landmarks_norm``).
    """
    scheme = SCHEMES.get(num_points)
    return "inter_ocular" if scheme is not None and scheme.ocular else "bbox"


def scheme_for(num_points: int) -> LandmarkScheme:
    """The known scheme with ``num_points`` points; a clear error for other counts."""
    if num_points not in SCHEMES:
        raise KeyError(f"no landmark scheme with {num_points} points; known: {sorted(SCHEMES)}")
    return SCHEMES[num_points]
