"""Graph: steps run as soon as their dependencies finish; a failure reaches every step downstream."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from iap_operator.engine.graph import DependencyFailed, Graph


def value(result: Any) -> Any:
    async def step(_: Mapping[str, Any]) -> Any:
        return result

    return step


def failing(exc: Exception) -> Any:
    async def step(_: Mapping[str, Any]) -> Any:
        raise exc

    return step


async def test_values_flow_to_dependents() -> None:
    graph = Graph()
    graph.add("a", value(2))
    graph.add("b", value(3))

    async def total(values: Mapping[str, Any]) -> int:
        return int(values["a"]) + int(values["b"])

    graph.add("sum", total, "a", "b")

    assert await graph.run() == {"a": 2, "b": 3, "sum": 5}


async def test_a_failure_propagates_to_every_step_downstream_with_the_root() -> None:
    boom = RuntimeError("boom")
    ran: list[str] = []

    async def record(_: Mapping[str, Any]) -> str:
        ran.append("independent")
        return "ok"

    graph = Graph()
    graph.add("root", failing(boom))
    graph.add("child", value(1), "root")
    graph.add("grandchild", value(2), "child")
    graph.add("independent", record)

    results = await graph.run()

    assert results["root"] is boom
    assert isinstance(results["child"], DependencyFailed)
    assert results["child"].dependency == "root"
    assert isinstance(results["grandchild"], DependencyFailed)
    assert results["grandchild"].dependency == "root"  # the root cause, not the intermediate step
    assert results["independent"] == "ok"
    assert ran == ["independent"]


async def test_independent_steps_run_concurrently() -> None:
    barrier = asyncio.Barrier(3)

    async def meet(_: Mapping[str, Any]) -> str:
        await asyncio.wait_for(barrier.wait(), 5)
        return "met"

    graph = Graph()
    for name in ("x", "y", "z"):
        graph.add(name, meet)

    assert await graph.run() == {"x": "met", "y": "met", "z": "met"}


async def test_a_falsy_result_is_kept() -> None:
    graph = Graph()
    graph.add("none", value(None))
    graph.add("zero", value(0))

    assert await graph.run() == {"none": None, "zero": 0}


def test_unknown_dependencies_are_refused() -> None:
    graph = Graph()
    with pytest.raises(ValueError, match="unknown steps"):
        graph.add("a", value(1), "missing")
