"""Run steps concurrently, each as soon as the steps it depends on have finished."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

StepFn = Callable[[Mapping[str, Any]], Awaitable[Any]]


class DependencyFailed(Exception):
    def __init__(self, step: str, dependency: str) -> None:
        super().__init__(f"{step} waits for {dependency}")
        self.dependency = dependency


@dataclass
class Graph:
    steps: dict[str, tuple[StepFn, tuple[str, ...]]] = field(default_factory=dict)

    def add(self, name: str, fn: StepFn, *deps: str) -> None:
        unknown = [d for d in deps if d not in self.steps]
        if unknown:
            raise ValueError(f"{name} depends on unknown steps {unknown}")
        self.steps[name] = (fn, deps)

    async def run(self) -> dict[str, Any]:
        """Every step's value or exception; a step whose dependency failed gets DependencyFailed."""
        tasks: dict[str, asyncio.Task[Any]] = {}

        async def one(name: str) -> Any:
            fn, deps = self.steps[name]
            values: dict[str, Any] = {}
            for dep in deps:
                try:
                    values[dep] = await asyncio.shield(tasks[dep])
                except Exception as exc:
                    root = exc.dependency if isinstance(exc, DependencyFailed) else dep
                    raise DependencyFailed(name, root) from exc
            return await fn(values)

        for name in self.steps:
            tasks[name] = asyncio.ensure_future(one(name))
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        return {name: task.exception() or task.result() for name, task in tasks.items()}
