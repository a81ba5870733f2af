"""`pipeline estimate JOB --pilot N`: a stratified sample of the job, run for real, and the whole job projected
from it."""

from __future__ import annotations
