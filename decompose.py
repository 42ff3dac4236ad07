#!/usr/bin/env python
"""Tucker-2 / CP / SVD decomposition of a checkpoint's convolutions, ranks by --rank_cfg or automatic.

Not implemented yet: it lands with issue 4.
"""

from slimnas.cli import planned_command

if __name__ == "__main__":
    planned_command(__doc__, 4)
