"""``python -m vmtui``."""

from vmtui.cli import main

raise SystemExit(main())
