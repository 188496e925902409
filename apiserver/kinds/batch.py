"""batch/v1."""

from __future__ import annotations

from . import ResourceInfo, SimpleStrategy, status

RESOURCES = [
    ResourceInfo("batch", "v1", "cronjobs", "CronJob", True, short_names=("cj",), categories=("all",),
                 subresources=(status(),), strategy=SimpleStrategy(status=True, generation=True)),
    ResourceInfo("batch", "v1", "jobs", "Job", True, categories=("all",), subresources=(status(),),
                 strategy=SimpleStrategy(status=True, generation=True, fields=("status.successful",))),
]
