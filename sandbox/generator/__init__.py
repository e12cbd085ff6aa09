"""The simulated company: `generate` a deterministic sandbox history and `advance` its clock."""

from sandbox.generator.build import advance, generate
from sandbox.generator.catalog import SCALES, Scale
from sandbox.generator.profile import Profile, ProfileError, load_profile, profile_names

__all__ = [
    "SCALES",
    "Profile",
    "ProfileError",
    "Scale",
    "advance",
    "generate",
    "load_profile",
    "profile_names",
]
