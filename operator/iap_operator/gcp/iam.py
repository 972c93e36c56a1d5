"""IAM policies of Cloud Run services (run.invoker) and of IAP web resources (httpsResourceAccessor)."""

from __future__ import annotations

from typing import Any

from google.cloud import iap_v1, run_v2

from iap_operator.engine.resources import IamTarget, IamTargetKind, Policy
from iap_operator.gcp import policies
from iap_operator.gcp.calls import Caller


class IamAdapter:
    def __init__(
        self,
        caller: Caller,
        run: run_v2.ServicesClient,
        iap: iap_v1.IdentityAwareProxyAdminServiceClient,
        timeout: float,
    ) -> None:
        self._call = caller
        self._run = run
        self._iap = iap
        self._timeout = timeout

    async def get_policy(self, target: IamTarget) -> Policy:
        service, client = self._route(target)
        message = await self._call(
            service,
            "getIamPolicy",
            client.get_iam_policy,
            request=policies.get_request(str(target)),
            retry=None,
            timeout=self._timeout,
        )
        return policies.from_message(message)

    async def set_policy(self, target: IamTarget, policy: Policy) -> Policy:
        """Write `policy` guarded by its etag; a concurrent change answers CONFLICT (redo the whole edit)."""
        service, client = self._route(target)
        message = await self._call(
            service,
            "setIamPolicy",
            client.set_iam_policy,
            request=policies.set_request(str(target), policy),
            retry=None,
            timeout=self._timeout,
        )
        return policies.from_message(message)

    def _route(self, target: IamTarget) -> tuple[str, Any]:
        if target.kind is IamTargetKind.CLOUD_RUN_SERVICE:
            return "run", self._run
        return "iap", self._iap
