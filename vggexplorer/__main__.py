"""``python -m vggexplorer``: the command line (``vggexplorer/cli/main.py``)."""

from vggexplorer.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
