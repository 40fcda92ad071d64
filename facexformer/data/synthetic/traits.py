"""Random draw of everything a synthetic face is made of: identity, appearance, expression, pose and extras.

Each label the dataset returns is a function of these traits, and each trait has a visible cue in the render.
Distributions (all independent unless stated):

- pose: yaw ~ U(-75, 75) with probability 0.5, else N(0, 25) clipped to ±75; pitch ~ N(0, 13) clipped to ±40;
  roll ~ N(0, 10) clipped to ±30 (degrees). Face height ~ U(0.36, 0.56) of the image; centre shifted by
  U(-0.08, 0.08) of the image on each axis.
- gender: Bernoulli(0.5). age ~ U(1, 85) years. race: uniform over the 5 classes.
- expression: uniform over the 7 classes; shape parameters per class in ``EXPRESSION_SHAPES`` (``ExpressionShape``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

SKIN_TONES = np.array(
    [[238, 208, 190], [222, 178, 148], [196, 150, 108], [150, 100, 68], [92, 60, 42]], dtype=np.float64
)
# Probability of each skin tone per race, in the Race task's order (0 White, 1 Black, 2 Asian, 3 Indian, 4 Others).
ASIAN, INDIAN = 2, 3
_TONE_GIVEN_RACE = np.array(
    [
        [0.55, 0.45, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.2, 0.8],
        [0.1, 0.6, 0.3, 0.0, 0.0],
        [0.0, 0.0, 0.3, 0.7, 0.0],
        [0.0, 0.15, 0.7, 0.15, 0.0],
    ]
)
HAIR_COLOURS = {
    "black": (28, 24, 22),
    "brown": (96, 62, 36),
    "blond": (214, 178, 108),
    "gray": (168, 166, 162),
}


class ExpressionShape(NamedTuple):
    """How one expression class deforms and paints the face (face-frame mm unless stated).

    Sized to stay legible at 64 px, where 1 mm of the mean face is about 0.2 px: each class has a cue of at
    least ~8 mm (about 2 px) that no other class shares.
    """

    mouth_open: tuple[float, float]  # lower lip and jaw drop
    smile: tuple[float, float]  # mouth corners up (> 0) or down (< 0), unitless; > 0.3 is "Smiling"
    eye_open: tuple[float, float]  # upper lid height, 1 = the mean face's
    brow_raise: float  # whole brow up
    brow_inner: float  # inner brow ends up (> 0, sad/fearful) or down and together (< 0, frowning)
    lip_raise: float  # upper lip up (a sneer), uncovering the upper teeth
    stretch: float  # each mouth corner outwards (> 0) or inwards (< 0)
    teeth: str  # teeth shown in the open mouth: "none", "upper" or "both"


# Expression -> shape, in the Expression task's order. Distinct cues: 0 Neutral nothing; 1 Happiness a wide,
# upturned grin with the upper teeth showing; 2 Sadness corners well down and inner brows up; 3 Surprise a tall,
# narrow, dark open mouth, wide eyes and brows high; 4 Fear a wide, stretched open mouth with both rows of teeth,
# wide eyes, raised brows; 5 Disgust a sneer (upper lip raised over the upper teeth) and lowered brows; 6 Anger
# brows pulled down into a V over narrowed eyes.
EXPRESSION_SHAPES = {
    0: ExpressionShape((0.0, 0.0), (0.0, 0.0), (0.9, 1.1), 0.0, 0.0, 0.0, 0.0, "none"),
    1: ExpressionShape((4.0, 9.0), (0.9, 1.2), (0.55, 0.75), 0.0, 0.0, 0.0, 0.0, "upper"),
    2: ExpressionShape((0.0, 0.0), (-1.3, -0.9), (0.6, 0.75), -3.0, 10.0, 0.0, 0.0, "none"),
    3: ExpressionShape((18.0, 26.0), (0.0, 0.0), (1.35, 1.5), 13.0, 2.0, 0.0, -8.0, "none"),
    4: ExpressionShape((7.0, 11.0), (-0.4, -0.2), (1.3, 1.45), 7.0, 8.0, 0.0, 8.0, "both"),
    5: ExpressionShape((0.0, 0.0), (-0.4, -0.2), (0.5, 0.65), -5.0, -3.0, 7.0, 0.0, "upper"),
    6: ExpressionShape((0.0, 0.0), (-0.2, 0.0), (0.65, 0.8), -5.0, -12.0, 0.0, -2.0, "none"),
}


@dataclass
class Traits:
    """One synthetic face's parameters; lengths in mm of the mean face, angles in degrees."""

    pose: np.ndarray
    face_height: float
    centre: np.ndarray
    gender: int
    age: float
    race: int
    skin_tone: int
    skin: np.ndarray
    hair: str
    long_hair: bool
    bangs: bool
    wavy: bool
    receding: bool
    beard: str
    sideburns: bool
    lipstick: bool
    eyeshadow: bool
    glasses: str
    hat: bool
    earrings: bool
    necklace: bool
    rosy: bool
    bags: bool
    brow_thick: float
    brow_arch: float
    lip_scale: float
    nose_scale: float
    nose_point: float
    face_shape: str
    double_chin: bool
    expression: int
    mouth_open: float
    smile: float
    eye_open: float
    brow_raise: float
    brow_inner: float
    lip_raise: float
    stretch: float
    teeth: str
    blur: float
    occluder: str

    @property
    def bald(self) -> bool:
        """No head hair drawn."""
        return self.hair == "none"


def _pick(rng: np.random.Generator, options: dict[str, float]) -> str:
    keys = list(options)
    weights = np.array([options[k] for k in keys])
    return keys[int(rng.choice(len(keys), p=weights / weights.sum()))]


def _hair(rng: np.random.Generator, gender: int, age: float, race: int) -> str:
    if gender == 0 and rng.random() < 0.08 + 0.25 * max(age - 30.0, 0.0) / 55.0:
        return "none"
    if age > 45 and rng.random() < 1.0 / (1.0 + np.exp(-(age - 60.0) / 6.0)):
        return "gray"
    if race in (1, 2, 3):
        return _pick(rng, {"black": 0.85, "brown": 0.15})
    return _pick(rng, {"black": 0.3, "brown": 0.4, "blond": 0.3})


def sample_traits(rng: np.random.Generator) -> Traits:
    """Draw one face's traits from ``rng`` (see the module docstring for the distributions)."""
    yaw = rng.uniform(-75, 75) if rng.random() < 0.5 else float(np.clip(rng.normal(0, 25), -75, 75))
    pose = np.array([np.clip(rng.normal(0, 13), -40, 40), yaw, np.clip(rng.normal(0, 10), -30, 30)])
    gender = int(rng.random() < 0.5)
    age = float(rng.uniform(1, 85))
    adult = age >= 18
    race = int(rng.integers(5))
    tone = int(rng.choice(5, p=_TONE_GIVEN_RACE[race]))
    skin = SKIN_TONES[tone] * rng.uniform(0.94, 1.04) + rng.normal(0, 4, 3)
    if race == ASIAN:
        skin = skin + np.array([4.0, 2.0, -10.0])
    hair = _hair(rng, gender, age, race)
    beard = "none"
    if gender == 0 and age >= 17:
        beard = _pick(rng, {"none": 0.45, "stubble": 0.2, "goatee": 0.1, "mustache": 0.1, "full": 0.15})
    expression = int(rng.integers(7))
    shape = EXPRESSION_SHAPES[expression]
    mouth_open = rng.uniform(*shape.mouth_open)
    if expression == 0 and rng.random() < 0.2:
        mouth_open = rng.uniform(3.5, 6.0)
    eye_open = rng.uniform(*shape.eye_open) * (0.72 if race == ASIAN else 1.0)
    if expression in (0, 1, 2) and rng.random() < 0.08:
        eye_open = 0.0
    female_adult = gender == 1 and adult
    lipstick = female_adult and rng.random() < 0.5
    return Traits(
        pose=pose,
        face_height=float(rng.uniform(0.36, 0.56)),
        centre=rng.uniform(-0.08, 0.08, 2),
        gender=gender,
        age=age,
        race=race,
        skin_tone=tone,
        skin=np.clip(skin, 30, 250),
        hair=hair,
        long_hair=hair != "none" and rng.random() < (0.85 if gender == 1 else 0.1),
        bangs=hair != "none" and rng.random() < 0.25,
        wavy=hair != "none" and rng.random() < (0.6 if race == 1 else 0.3),
        receding=gender == 0 and hair != "none" and age > 30 and rng.random() < 0.35,
        beard=beard,
        sideburns=beard == "full" or (gender == 0 and adult and rng.random() < 0.1),
        lipstick=lipstick,
        eyeshadow=lipstick and rng.random() < 0.6,
        glasses=_pick(rng, {"none": 0.78, "clear": 0.15, "sun": 0.07}),
        hat=rng.random() < 0.1,
        earrings=female_adult and rng.random() < 0.35,
        necklace=female_adult and rng.random() < 0.2,
        rosy=rng.random() < 0.12,
        bags=rng.random() < 0.05 + 0.5 * max(age - 40.0, 0.0) / 45.0,
        brow_thick=float(rng.uniform(3.5, 8.0) if gender == 0 else rng.uniform(2.5, 5.5)),
        brow_arch=float(rng.uniform(0.0, 5.0) if gender == 1 else rng.uniform(0.0, 3.0)),
        lip_scale=float(rng.uniform(0.8, 1.5) if race == 1 else rng.uniform(0.75, 1.3)),
        nose_scale=float(rng.uniform(0.85, 1.3) if race in (1, INDIAN) else rng.uniform(0.8, 1.2)),
        nose_point=float(rng.uniform(-4.0, 8.0)),
        face_shape=_pick(rng, {"regular": 0.6, "round": 0.2, "oval": 0.2}),
        double_chin=age > 30 and rng.random() < 0.15,
        expression=expression,
        mouth_open=float(mouth_open),
        smile=float(rng.uniform(*shape.smile)),
        eye_open=float(eye_open),
        brow_raise=float(shape.brow_raise + rng.normal(0, 0.7)),
        brow_inner=float(shape.brow_inner + rng.normal(0, 0.7)),
        lip_raise=float(shape.lip_raise),
        stretch=float(shape.stretch),
        teeth=shape.teeth,
        blur=float(rng.uniform(1.5, 3.0)) if rng.random() < 0.1 else 0.0,
        occluder=_pick(rng, {"none": 0.7, "hand": 0.1, "mask": 0.1, "bars": 0.1}),
    )
