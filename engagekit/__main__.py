import sys

from engagekit.cli import main

sys.exit(main())
