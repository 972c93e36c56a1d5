"""Files shipped with the package: the CRD (from the repository's crds/ folder)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

CRD_FILE = "iap-operator.dev_iapprotectedservices.yaml"


def crd_path() -> Path:
    """The CRD manifest: inside an installed wheel, else the source checkout's crds/ folder."""
    packaged = Path(str(resources.files("iap_operator"))) / "_data" / "crds" / CRD_FILE
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "crds" / CRD_FILE
