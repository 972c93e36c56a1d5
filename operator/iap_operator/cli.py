"""The `iap-operator` command: each subcommand lives in its own module and is imported on use."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module, one-line help). Each module exposes `main(argv: list[str]) -> int`.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("iap_operator.wiring.main", "run the operator against a cluster and Google Cloud"),
    "sandbox": ("iap_operator.sandbox", "run the operator on the embedded Kubernetes and GCP emulators"),
    "gcp-emulator": ("iap_operator.emulators.gcp.server", "serve the GCP REST emulator"),
    "kube-emulator": ("iap_operator.emulators.kube.server", "serve the emulated Kubernetes API"),
}


def _usage() -> str:
    lines = ["usage: iap-operator COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<14} {text}" for name, (_, text) in SUBCOMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print(_usage())
        return 0
    name, rest = args[0], args[1:]
    if name not in SUBCOMMANDS:
        print(f"iap-operator: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(SUBCOMMANDS[name][0])
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in {"kmock", "celpy", "jsonschema"}:
            print(
                f"iap-operator {name}: needs the emulators: pip install 'iap-operator[emulators]'",
                file=sys.stderr,
            )
            return 2
        raise
    code: int = module.main(rest)
    return code


if __name__ == "__main__":
    sys.exit(main())
