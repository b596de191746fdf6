"""`python -m portal`: the same as the `portal` command."""

from __future__ import annotations

from portal.cli import main

# Guarded: spawned worker processes import this module again under another name.
if __name__ == "__main__":
    main()
