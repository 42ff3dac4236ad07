#!/usr/bin/env python
"""Tucker-2 / CP / SVD decomposition of a checkpoint's convolutions, ranks by --rank_cfg or automatic.

Not implemented yet: it lands with issue 4. The flags below are the planned interface.
"""

import argparse
import sys


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.parse_known_args()
    print("decompose.py: not yet implemented (issue 4); see README for what works today", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    main()
