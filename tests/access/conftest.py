"""One synthesis of each app for the whole test session, shared by the access test modules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from constructs_lib.config import AccessSettings
from tests.access.configs import Config
from tests.access.deployment import Deployment


@dataclass(frozen=True)
class Synthesized:
    """An app's cloud assembly, the settings its construct used, and its deployed policies."""

    outdir: Path
    settings: AccessSettings
    deployment: Deployment


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Config], Synthesized]:
    """Synthesize each app once per session, when first asked."""
    done: dict[str, Synthesized] = {}

    def of(config: Config) -> Synthesized:
        if config.name not in done:
            outdir = tmp_path_factory.mktemp(config.name)
            settings = config.synthesize(outdir)
            done[config.name] = Synthesized(
                outdir, settings, Deployment.from_assembly(outdir, settings)
            )
        return done[config.name]

    return of
