"""``python -m tinyae`` is the same as the ``tinyae`` command."""

from tinyae.cli import main

raise SystemExit(main())
