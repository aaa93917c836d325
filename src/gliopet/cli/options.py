"""Options shared by the stage verbs (``preprocess``, ``quantify`` and every later stage).

Each alias is a ready ``Annotated`` type, so a stage command declares, for example,
``participant_label: ParticipantLabels = None`` and gets the same flag, help text and
validation as every other stage. Used by `preprocess_cmd` and `quant_cmd`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from gliopet.config import Config

ParticipantLabels = Annotated[list[str] | None, typer.Option(
    "--participant-label",
    help="Subject to process (with or without sub-); repeat for several. Default: all.")]
Jobs = Annotated[int | None, typer.Option(
    "--jobs", "-j",
    help="Sessions processed in parallel (joblib processes, >= 1). "
         "Default: the configuration's compute.jobs.")]
DaskScheduler = Annotated[str | None, typer.Option(
    "--dask-scheduler",
    help="Run the sessions on a Dask distributed cluster at this address (tcp://host:port, or "
         "tls://host:port with --dask-security). Only a scheduler you trust: its results are "
         "unpickled here, which runs whatever code it sends.")]
DaskSecurity = Annotated[Path | None, typer.Option(
    "--dask-security",
    help="TLS settings for a tls:// --dask-scheduler: a Dask configuration YAML with "
         "distributed.comm.tls.ca-file, client.cert and client.key (paths relative to the file). "
         "Default: the Dask configuration.")]
Force = Annotated[bool, typer.Option(
    "--force", help="Recompute sessions whose output is already complete.")]
ConfigFile = Annotated[Path | None, typer.Option(
    "--config", help="YAML file overriding any subset of the defaults (gliopet/data/config).")]


def resolve_jobs(config: Config, jobs: int | None) -> int:
    """The number of parallel jobs: ``--jobs`` when given, else the configuration's."""
    from gliopet.errors import ParameterError

    jobs = config.compute.jobs if jobs is None else jobs
    if jobs < 1:
        raise ParameterError("--jobs", jobs, "an integer >= 1")
    return jobs
