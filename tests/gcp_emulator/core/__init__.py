"""GCP emulator core: control API, faults, request log, seeds, IAM store, operations, CLI."""
