"""The default of every option, named once: the options, the context reader, the report and
the documentation all take them from here."""

from __future__ import annotations

from typing import Final

# The role-name prefix Batch Forge gives the roles it creates (TowerForge-<ceId>-...).
DEFAULT_FORGE_ROLE_PREFIX: Final = "TowerForge"
# Batch Forge's roles have no path: a role under a path is not admitted unless asked for.
DEFAULT_FORGE_ROLE_PATH: Final = "/"
# IAM's default quota of managed policies per role or user; it can be raised to 20.
DEFAULT_MAX_MANAGED_POLICIES: Final = 10
# The construct id the example app (app.py) gives the construct, which the doctor assumes
# unless told otherwise; stack names derive from it.
DEFAULT_CONSTRUCT_ID: Final = "TowerCrossAccount"
# Stack names: "<construct id>-Compute" and "<construct id>-Storage" unless named.
COMPUTE_STACK_SUFFIX: Final = "-Compute"
STORAGE_STACK_SUFFIX: Final = "-Storage"
# Lifecycle of the buckets the storage stack creates (None keeps forever): unfinished
# multipart uploads are aborted after a week, an object version that is no longer current is
# kept for 90 days (a deleted or overwritten object can be restored that long), and access
# logs are kept for a year. Current objects are never expired.
DEFAULT_ABORT_INCOMPLETE_UPLOADS_DAYS: Final = 7
DEFAULT_NONCURRENT_VERSIONS_EXPIRE_DAYS: Final = 90
DEFAULT_ACCESS_LOGS_EXPIRE_DAYS: Final = 365
# Keys the storage stack creates are found by this alias prefix and the bucket name.
KEY_ALIAS_PREFIX: Final = "alias/tower-cross-account/"

# Seqera Platform: Seqera Cloud's API, and the Batch Forge sizing of a new compute environment.
DEFAULT_API_URL: Final = "https://api.cloud.seqera.io"
DEFAULT_FORGE_TYPE: Final = "SPOT"
DEFAULT_MIN_CPUS: Final = 0
DEFAULT_MAX_CPUS: Final = 256
# Seqera Cloud assumes a customer's credentials role as this role; an Enterprise install
# assumes with a role of its own.
DEFAULT_PLATFORM_PRINCIPAL: Final = "arn:aws:iam::161471496260:role/SeqeraPlatformCloudAccessRole"
# The role the construct makes for Platform's credentials: "SeqeraPlatform-<environment name>".
CREDENTIALS_ROLE_PREFIX: Final = "SeqeraPlatform-"
# The custom resource's Lambda functions: their log groups keep a year (what the AWS Control
# Tower controls ask), and no concurrency is reserved (new accounts cannot spare any).
DEFAULT_LOG_RETENTION_DAYS: Final = 365
# The custom resource's log groups are named "<prefix><compute stack name>/<log>", so that the
# key that encrypts them can name them in its policy (the waiter's under Step Functions'
# "/aws/vendedlogs/states", which keeps CloudWatch Logs' resource policy small).
LOG_GROUP_PREFIX: Final = "/tower-cross-account/"
