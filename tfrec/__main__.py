"""``python -m tfrec`` runs the command line."""

import sys

from tfrec.cli import main

sys.exit(main())
