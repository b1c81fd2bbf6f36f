"""``python -m galmorph`` runs the command line."""
import sys

from galmorph.cli import main

if __name__ == "__main__":
    sys.exit(main())
