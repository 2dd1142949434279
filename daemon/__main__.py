"""`python -m daemon`: see daemon.cli."""

import sys

if sys.argv[1:2] == ["run"]:
    # Before the imports: a SIGTERM from here on ends a starting daemon with status 0.
    from daemon.app import early_stop

    early_stop.install()

from daemon.cli import main

raise SystemExit(main())
