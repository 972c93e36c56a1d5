"""What points kubectl, gcloud and `iap-operator status` at a running sandbox: files in one directory.

DIR/kubeconfig    the emulated cluster (written by the Kubernetes emulator)
DIR/gcloud/       a gcloud configuration directory (CLOUDSDK_CONFIG): every API the operator calls
                  sent to the GCP emulator, no credentials, the sandbox's project
DIR/env.sh        the exports, to `source` (also the variables `iap-operator status` reads)
DIR/operator.log  the operator's log
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path

from iap_operator.gcp.config import SERVICES

# gcloud's property sections; api_endpoint_overrides/<api> replaces the API's root URL.
_PATHS = {"compute": "compute/v1/"}


def gcloud_properties(url: str, project: str) -> str:
    """The `configurations/config_default` file: gcloud against the emulator, credentials off."""
    overrides = "\n".join(f"{api} = {url}/{_PATHS.get(api, '')}" for api in SERVICES)
    return (
        "# Written by `iap-operator sandbox`: gcloud against the GCP emulator (nothing reaches Google).\n"
        "[core]\n"
        f"project = {project}\n"
        "disable_usage_reporting = true\n"
        "check_gce_metadata = false\n"
        "[auth]\n"
        "disable_credentials = true\n"
        "[component_manager]\n"
        "disable_update_check = true\n"
        "[survey]\n"
        "disable_prompts = true\n"
        "[api_endpoint_overrides]\n"
        f"{overrides}\n"
    )


def write_gcloud_config(directory: Path, url: str, project: str) -> Path:
    """A gcloud configuration directory with one active configuration, `default`."""
    configurations = directory / "configurations"
    configurations.mkdir(parents=True, exist_ok=True)
    (directory / "active_config").write_text("default")
    (configurations / "config_default").write_text(gcloud_properties(url, project))
    return directory


def exports(kubeconfig: Path, gcloud: Path) -> list[str]:
    """The two lines a user pastes into another terminal."""
    return [
        f"export KUBECONFIG={shlex.quote(str(kubeconfig))}",
        f"export CLOUDSDK_CONFIG={shlex.quote(str(gcloud))}",
    ]


def status_variables(url: str) -> dict[str, str]:
    """What `iap-operator status` (and `iap-operator run`) read to use the emulator."""
    variables = {f"IAP_OPERATOR_ENDPOINT_{s.upper()}": url for s in SERVICES}
    variables["IAP_OPERATOR_ANONYMOUS_CREDENTIALS"] = "true"
    return variables


def write_env(path: Path, lines: list[str], variables: Mapping[str, str]) -> Path:
    body = [*lines, *(f"export {k}={shlex.quote(v)}" for k, v in variables.items())]
    path.write_text("# source this file to use the sandbox from a shell\n" + "\n".join(body) + "\n")
    return path
