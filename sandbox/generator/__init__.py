"""The simulated company: `generate` a deterministic sandbox history and `advance` its clock."""

from sandbox.generator.build import advance, generate
from sandbox.generator.catalog import SCALES, Scale

__all__ = ["SCALES", "Scale", "advance", "generate"]
