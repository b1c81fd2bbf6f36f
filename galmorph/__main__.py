"""``python -m galmorph`` runs the command line."""
import sys

from galmorph.cli import console_main

if __name__ == "__main__":
    sys.exit(console_main())
