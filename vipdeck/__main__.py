import sys

from vipdeck.cli import main

sys.exit(main())
