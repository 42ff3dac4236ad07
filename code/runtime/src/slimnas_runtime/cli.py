"""What every CLI shares: turning user errors into one line and exit code 2."""

from __future__ import annotations

import sys
from typing import Callable, NoReturn

from .errors import SlimnasError


def run_cli(main: Callable[[], object]) -> NoReturn:
    """Run ``main``; a :class:`SlimnasError` becomes ``error: <message>`` on stderr and exit code 2.

    Ctrl-C exits with 130 after whatever ``main`` already wrote (all writes are atomic).
    """
    try:
        main()
    except SlimnasError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: files written so far are kept", file=sys.stderr)
        sys.exit(130)
    sys.exit(0)
