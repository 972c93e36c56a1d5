"""The `iap-operator` command: each subcommand lives in its own module and is imported on use.

`run` is the operator's own. The test world (`iap_sandbox`: `sandbox`, `gcp-emulator`, `kube-emulator`)
plugs its commands in through the `iap_operator.commands` entry-point group, so the operator never
imports it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points

from iap_operator.version import operator_version

ENTRY_POINT_GROUP = "iap_operator.commands"
EMULATOR_PACKAGES = frozenset({"kmock", "celpy", "jsonschema"})


@dataclass(frozen=True)
class Command:
    module: str  # exposes `main(argv: list[str]) -> int`
    summary: str


BUILTIN: dict[str, Command] = {
    "run": Command("iap_operator.wiring.main", "run the operator against a cluster and Google Cloud"),
    "status": Command(
        "iap_operator.wiring.status_tree", "one IapProtectedService's Google Cloud resources, as a tree"
    ),
}


def commands() -> dict[str, Command]:
    """The built-in commands, then those plugged in (a plugin never replaces a built-in)."""
    found = dict(BUILTIN)
    for point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: p.name):
        module, summary = point.load()  # a light (module, summary) pair; the module loads on use
        found.setdefault(point.name, Command(str(module), str(summary)))
    return found


def _usage(known: dict[str, Command]) -> str:
    lines = ["usage: iap-operator [--version] COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<14} {command.summary}" for name, command in known.items()]
    lines += ["", "`iap-operator COMMAND --help` lists a command's flags."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    known = commands()
    if not args or args[0] in {"-h", "--help"}:
        print(_usage(known))
        return 0
    if args[0] in {"-V", "--version"}:
        print(f"iap-operator {operator_version()}")
        return 0
    name, rest = args[0], args[1:]
    if name not in known:
        print(f"iap-operator: unknown command {name!r}\n\n{_usage(known)}", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(known[name].module)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in EMULATOR_PACKAGES:
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
