"""``python -m tinyae.cli.bench``: the bench without the ``tinyae`` command (its worker processes run this)."""

from tinyae.cli.bench import main

raise SystemExit(main())
