"""`python -m pipeline` is the same as the `pipeline` console script."""

from __future__ import annotations

from pipeline.cli import main

if __name__ == "__main__":
    main()
