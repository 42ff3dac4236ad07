"""``python -m slimnas.runtime``: the same command as ``slimnas-predict`` (see ``slimnas_runtime``)."""

from slimnas_runtime.__main__ import entry

if __name__ == "__main__":
    entry()
