"""Regenerate the bundled sample (run from the repository root): python sample_geo/generate.py"""
from pathlib import Path

from gridplan.sample import write_sample

print("\n".join(f"{name}: {path}" for name, path in write_sample(Path(__file__).resolve().parent).items()))
