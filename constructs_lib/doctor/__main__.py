"""``python -m constructs_lib.doctor``: the same as the ``cdk-tower-doctor`` command."""

import sys

from constructs_lib.doctor.cli import main

sys.exit(main())
