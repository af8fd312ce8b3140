"""Same as ``tfrec compare`` (for running from a checkout): ``python scripts/compare.py --help``."""

import sys

from tfrec.cli import main

if __name__ == "__main__":
    sys.exit(main(["compare", *sys.argv[1:]]))
