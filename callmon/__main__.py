import sys

from callmon.cli import main

sys.exit(main())
