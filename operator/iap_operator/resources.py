"""Files shipped with the package: the CRDs (from the repository's crds/ folder)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

CRD_FILE = "iap-operator.dev_iapprotectedservices.yaml"
BALANCER_CRD_FILE = "iap-operator.dev_iaploadbalancers.yaml"


def crd_path(name: str = CRD_FILE) -> Path:
    """A CRD manifest: inside an installed wheel, else the source checkout's crds/ folder."""
    packaged = Path(str(resources.files("iap_operator"))) / "_data" / "crds" / name
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "crds" / name


def balancer_crd_path() -> Path:
    """The IapLoadBalancer CRD (docs/shared-balancer.md)."""
    return crd_path(BALANCER_CRD_FILE)
