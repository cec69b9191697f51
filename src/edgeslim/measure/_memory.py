"""Peak activation memory from tensor lifetimes in execution order (no planner, no reuse).

Step ``i`` is the execution of node ``i``. A tensor is live from the step that produces it to
the step of its last consumer, inclusive, so a node's inputs and outputs are live together.
Graph inputs are live from step 0, graph outputs until the last step; initializers are not
activations and are excluded. The live bytes at each step form the curve; its maximum is what a
runtime needs if every tensor gets its own buffer for exactly its lifetime. A memory planner
that packs buffers into one arena can only need as much or more (fragmentation); in-place ops
can need less.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeslim._core.errors import ModelError
from edgeslim._core.records import Metric, Provenance
from edgeslim.ir.graph import Graph
from edgeslim.measure._tensors import nbytes


@dataclass(frozen=True, slots=True)
class ActivationProfile:
    """Live activation bytes per step of one graph at one batch size."""

    batch: int
    curve: tuple[int, ...]  # live bytes while node i runs
    nodes: tuple[str, ...]  # node names, aligned with ``curve``
    peak_bytes: int
    peak_step: int  # index of the first step reaching the peak (-1 for a graph without nodes)
    live_at_peak: tuple[str, ...]  # tensors live at the peak step, in order of production

    def metrics(self) -> tuple[Metric, ...]:
        context = "" if self.batch == 1 else f"b{self.batch}"
        return (
            Metric("peak_activation_bytes", self.peak_bytes, "B", Provenance.COMPUTED, context),
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "batch": self.batch,
            "curve": list(self.curve),
            "nodes": list(self.nodes),
            "peak_bytes": self.peak_bytes,
            "peak_step": self.peak_step,
            "live_at_peak": list(self.live_at_peak),
        }


def tensor_lifetimes(graph: Graph) -> dict[str, tuple[int, int]]:
    """``{tensor: (first step, last step)}`` for every activation (initializers excluded)."""
    last = len(graph.nodes) - 1
    life: dict[str, list[int]] = {}
    for t in graph.inputs:
        if t.name not in graph.initializers:
            life[t.name] = [0, 0]
    for i, node in enumerate(graph.nodes):
        for name in node.inputs:
            if name in life:
                life[name][1] = max(life[name][1], i)
        for name in node.outputs:
            if name:
                life.setdefault(name, [i, i])
    for t in graph.outputs:
        if t.name in life:
            life[t.name][1] = max(last, 0)
    return {k: (v[0], v[1]) for k, v in life.items()}


def peak_activation_memory(graph: Graph, batch: int = 1) -> ActivationProfile:
    """Live-bytes curve and its peak for ``graph`` with symbolic dimensions set to ``batch``.

    ``profile.metrics()`` gives the ``peak_activation_bytes`` metric (unit ``B``, provenance
    ``computed``). Raises :class:`ModelError` naming a tensor whose type or shape is unknown.
    """
    if batch < 1:
        raise ModelError(f"parameter batch of peak_activation_memory must be >= 1; got {batch}")
    life = tensor_lifetimes(graph)
    sizes = {name: nbytes(graph, name, batch) for name in life}
    steps = max(len(graph.nodes), 1)
    delta = [0] * (steps + 1)
    for name, (start, end) in life.items():
        delta[start] += sizes[name]
        delta[end + 1] -= sizes[name]
    curve, running = [], 0
    for i in range(steps):
        running += delta[i]
        curve.append(running)
    peak = max(curve) if curve else 0
    peak_step = curve.index(peak)
    live = tuple(n for n, (s, e) in life.items() if s <= peak_step <= e)
    if not graph.nodes:
        return ActivationProfile(batch, (peak,), (), peak, -1, live)
    return ActivationProfile(
        batch, tuple(curve), tuple(n.name for n in graph.nodes), peak, peak_step, live
    )
