"""The process graph of the live pipeline, in one place.

Each worker process binds at most one publisher endpoint (that of its primary output topic) and
publishes all its outputs and its heartbeats there; consumers connect to the endpoints of the
producers of the topics they read. The orchestrator starts the workers from this table, and the
table is checked at import: every topic read has exactly one producer.

    camera ──frame, pose──▶ lifter ──kinematics──▶ overlay, recorder
                              └──calibration (its camera, for the ghost)──▶ overlay, recorder
       └────frame, pose──────────────────────────▶ overlay, recorder (pose)
    (generator: target, cue — a later stage; overlay and recorder already read them)
"""

from __future__ import annotations

from dataclasses import dataclass

from edge import topics


@dataclass(frozen=True)
class Node:
    """One worker process: the topics it writes (first = primary, names its endpoint) and reads."""

    name: str
    writes: tuple[str, ...]
    reads: tuple[str, ...]
    optional_reads: tuple[str, ...] = ()  # read when some worker produces them


GRAPH: tuple[Node, ...] = (
    Node("camera", writes=(topics.POSE, topics.FRAME, topics.HEARTBEAT), reads=()),
    Node("lifter", writes=(topics.KINEMATICS, topics.CALIBRATION, topics.HEARTBEAT), reads=(topics.POSE,)),
    Node("recorder", writes=(), reads=(topics.POSE, topics.KINEMATICS, topics.CALIBRATION, topics.HEARTBEAT),
         optional_reads=(topics.TARGET, topics.CUE)),
    Node("overlay", writes=(), reads=(topics.FRAME, topics.POSE, topics.KINEMATICS, topics.CALIBRATION,
                                      topics.HEARTBEAT),
         optional_reads=(topics.TARGET, topics.CUE)),
)


def producers() -> dict[str, str]:
    """Topic -> name of the worker that produces it (heartbeats excluded: every producer sends them)."""
    out: dict[str, str] = {}
    for node in GRAPH:
        for topic in node.writes:
            if topic != topics.HEARTBEAT:
                out[topic] = node.name
    return out


def upstream(node: Node) -> tuple[str, ...]:
    """Names of the workers whose endpoints ``node`` connects to, in graph order."""
    made_by = producers()
    wanted = {made_by[t] for t in node.reads + node.optional_reads if t in made_by}
    return tuple(n.name for n in GRAPH if n.name in wanted)


def node(name: str) -> Node:
    for n in GRAPH:
        if n.name == name:
            return n
    raise KeyError(f"no worker named {name!r} in the process graph; known: {[n.name for n in GRAPH]}")


def _check() -> None:
    made_by: dict[str, list[str]] = {}
    for n in GRAPH:
        for t in n.writes:
            if t not in topics.ALL_TOPICS:
                raise ValueError(f"process graph: {n.name} writes unknown topic {t!r}")
            if t != topics.HEARTBEAT:
                made_by.setdefault(t, []).append(n.name)
    for t, names in made_by.items():
        if len(names) > 1:
            raise ValueError(f"process graph: topic {t!r} has several producers {names}")
    for n in GRAPH:
        for t in n.reads:
            if t != topics.HEARTBEAT and t not in made_by:
                raise ValueError(f"process graph: {n.name} reads {t!r}, which nothing produces")


_check()
