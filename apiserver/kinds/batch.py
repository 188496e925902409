"""batch/v1."""

from __future__ import annotations

from typing import Any

from . import ResourceInfo, SimpleStrategy, status

#: the labels a Job's generated selector and pod template carry (batch/v1 constants, legacy ones included)
CONTROLLER_UID_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid")
JOB_NAME_LABELS = ("job-name", "batch.kubernetes.io/job-name")


class JobStrategy(SimpleStrategy):
    """Unless ``spec.manualSelector`` is true, a new Job's selector is generated: the template gets the
    job-name and controller-uid labels (legacy and prefixed; labels the user set are kept) and the
    selector matches ``batch.kubernetes.io/controller-uid``, as upstream's generateSelector. A Job without
    labels of its own gets the template's."""

    def prepare_for_create(self, obj: dict[str, Any]) -> None:
        super().prepare_for_create(obj)
        spec = obj.get("spec")
        if not isinstance(spec, dict) or spec.get("manualSelector") is True:
            return
        template = spec.get("template")
        if not isinstance(template, dict):
            return
        tmeta = template.get("metadata")
        if not isinstance(tmeta, dict):
            tmeta = template["metadata"] = {}
        labels = tmeta.get("labels")
        if not isinstance(labels, dict):
            labels = tmeta["labels"] = {}
        meta = obj["metadata"]
        for key in JOB_NAME_LABELS:
            labels.setdefault(key, meta.get("name", ""))
        for key in CONTROLLER_UID_LABELS:
            labels.setdefault(key, meta["uid"])
        selector = spec.get("selector")
        if not isinstance(selector, dict):
            selector = spec["selector"] = {}
        match = selector.get("matchLabels")
        if not isinstance(match, dict):
            match = selector["matchLabels"] = {}
        match.setdefault(CONTROLLER_UID_LABELS[1], meta["uid"])
        if not meta.get("labels"):
            # SetDefaults_Job copies the template's labels; upstream re-applies it when reading the stored
            # Job, so the generated labels show on the Job as well
            meta["labels"] = dict(labels)


RESOURCES = [
    ResourceInfo("batch", "v1", "cronjobs", "CronJob", True, short_names=("cj",), categories=("all",),
                 subresources=(status(),), strategy=SimpleStrategy(status=True, generation=True)),
    ResourceInfo("batch", "v1", "jobs", "Job", True, categories=("all",), subresources=(status(),),
                 strategy=JobStrategy(status=True, generation=True, fields=("status.successful",))),
]
