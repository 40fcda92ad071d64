"""The registered benchmark protocols: one file each; importing this package registers them all."""

from facexformer.evaluation.benchmarks import (  # noqa: F401  (each module registers its benchmark)
    aflw,
    aflw2000,
    biwi,
    celeba,
    celebamask_hq,
    cofw,
    cofw_visibility,
    fairface,
    lapa,
    rafdb,
    utkface,
    w300,
    wflw,
)
from facexformer.evaluation.protocol import BENCHMARKS

__all__ = ["BENCHMARKS"]
