"""The test world: the embedded Kubernetes and GCP emulators and the sandbox harness (never imported by
the operator itself)."""
