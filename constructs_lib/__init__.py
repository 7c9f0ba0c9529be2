"""Cross-account S3 access for Seqera Platform (Tower) compute environments, as CDK constructs."""

from constructs_lib.config import (
    AccessOptions,
    BucketGrant,
    ComputeAccount,
    ConfigError,
    OrganizationGrant,
)
from constructs_lib.cross_account import CrossAccountBucketAccess, CrossAccountBucketAccessStage
from constructs_lib.seqera import PlatformComputeEnvironment

__version__ = "0.1.0"

__all__ = [
    "AccessOptions",
    "BucketGrant",
    "ComputeAccount",
    "ConfigError",
    "CrossAccountBucketAccess",
    "CrossAccountBucketAccessStage",
    "OrganizationGrant",
    "PlatformComputeEnvironment",
]
