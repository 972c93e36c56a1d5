"""`setLabels` for the kinds that have labels (global addresses, global forwarding rules)."""

from __future__ import annotations

from collections.abc import Mapping

from google.cloud import compute_v1

from iap_operator.engine.resources import Marks, Observed, S
from iap_operator.gcp.compute.base import ComputeKind


class LabeledKind(ComputeKind[S]):
    """Marks are the description and the labels; `fingerprint` is the label fingerprint."""

    fingerprint_field = "label_fingerprint"

    async def unmark(self, project: str, observed: Observed[S], marks: Marks) -> Marks:
        """The labels only: compute cannot change the description of an address or forwarding rule
        (globalAddresses has no patch; globalForwardingRules.patch takes only networkTier)."""
        await self.set_labels(project, observed, marks.labels)
        return Marks(description=observed.marks.description, labels=dict(marks.labels))

    async def set_labels(self, project: str, observed: Observed[S], labels: Mapping[str, str]) -> None:
        key = observed.spec.key
        body = compute_v1.GlobalSetLabelsRequest(
            label_fingerprint=observed.fingerprint or "", labels=dict(labels)
        )
        request = {"project": project, "resource": key.name, "global_set_labels_request_resource": body}
        await self._mutate(project, key, "set_labels", request, request_id=False)
