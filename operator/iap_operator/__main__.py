import sys

from iap_operator.cli import main

sys.exit(main())
