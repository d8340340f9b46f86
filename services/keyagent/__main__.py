"""Entry point: ``python -m services.keyagent`` (init container command and systemd ExecStart)."""

import sys

from services.keyagent.cli import main

if __name__ == "__main__":
    sys.exit(main())
