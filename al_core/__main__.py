import sys

from al_core.cli import main

sys.exit(main())
