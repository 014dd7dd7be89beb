"""``python -m ferroprop``: the ``ferroprop`` command line (see :mod:`ferroprop.cli`)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
