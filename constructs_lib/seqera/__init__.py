"""The Seqera Platform side: its settings, the custom resource, and the Lambda asset behind it.

``asset/`` is the Lambda function's code as Lambda runs it (standard library and boto3 only);
it is a plain directory, not a package of this library.
"""

from constructs_lib.seqera.settings import PlatformComputeEnvironment

__all__ = ["PlatformComputeEnvironment"]
