"""``python -m campuspass``: the same as the ``campuspass`` command."""

from campuspass.cli import main

raise SystemExit(main())
