"""`python -m daemon`: see daemon.cli."""

from daemon.cli import main

raise SystemExit(main())
