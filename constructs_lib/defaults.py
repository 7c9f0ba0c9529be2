"""The default of every option, named once: the options, the context reader, the report and
the documentation all take them from here."""

from __future__ import annotations

from typing import Final

# The role-name prefix Batch Forge gives the roles it creates (TowerForge-<ceId>-...).
DEFAULT_FORGE_ROLE_PREFIX: Final = "TowerForge"
# IAM's default quota of managed policies per role or user; it can be raised to 20.
DEFAULT_MAX_MANAGED_POLICIES: Final = 10
# Stack names: "<construct id>-Compute" and "<construct id>-Storage" unless named.
COMPUTE_STACK_SUFFIX: Final = "-Compute"
STORAGE_STACK_SUFFIX: Final = "-Storage"
# Keys the storage stack creates are found by this alias prefix and the bucket name.
KEY_ALIAS_PREFIX: Final = "alias/tower-cross-account/"

# Seqera Platform: Seqera Cloud's API, and the Batch Forge sizing of a new compute environment.
DEFAULT_API_URL: Final = "https://api.cloud.seqera.io"
DEFAULT_FORGE_TYPE: Final = "SPOT"
DEFAULT_MIN_CPUS: Final = 0
DEFAULT_MAX_CPUS: Final = 256
