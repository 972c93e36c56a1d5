"""The commands the test world adds to `iap-operator` (entry-point group `iap_operator.commands`).

Each entry is `(module, summary)`; the module, imported only when its command runs, exposes
`main(argv: list[str]) -> int`. This module stays import-light: `iap-operator --help` reads it.
"""

from __future__ import annotations

sandbox = ("iap_sandbox.sandbox", "run the operator on the embedded Kubernetes and GCP emulators")
gcp_emulator = ("iap_sandbox.emulators.gcp.server", "serve the GCP REST emulator")
kube_emulator = ("iap_sandbox.emulators.kube.server", "serve the emulated Kubernetes API")
