"""Which node this is, and how many there are.

A launcher (a Ray job, SLURM, a shell loop over ssh, Lightning) runs the same
``optimize()`` call on every machine and tells each one its place through the
environment; each node then converts its share and node 0 merges. Both spellings that
LitData reads are accepted: ``DATA_OPTIMIZER_NUM_NODES`` / ``DATA_OPTIMIZER_NODE_RANK``
(checked first) and ``NUM_NODES`` / ``NODE_RANK``.

Node 0 merges, so it waits for the other nodes' partial indexes. It cannot tell a slow
node from a dead one by its chunks (one chunk can take minutes), so every other node
rewrites ``.checkpoints/node-{n}.alive`` every few seconds while it runs, and node 0
gives up on a node whose partial indexes are missing and whose record has not changed
for ``LITDATA_NODE_WAIT_TIMEOUT`` seconds (default 1800; a node never seen counts from
when node 0 started waiting). Every node reads the same variable, and beats at a quarter
of it (at most every 30 s), so set it alike on all nodes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .heartbeat import seconds_from_env
from .names import CHECKPOINT_PREFIX

NUM_NODES_VARS = ("DATA_OPTIMIZER_NUM_NODES", "NUM_NODES")
NODE_RANK_VARS = ("DATA_OPTIMIZER_NODE_RANK", "NODE_RANK")
NODE_WAIT_TIMEOUT_ENV = "LITDATA_NODE_WAIT_TIMEOUT"
DEFAULT_NODE_WAIT_TIMEOUT = 1800.0
MAX_HEARTBEAT_INTERVAL = 30.0


def node_wait_timeout() -> float:
    """Seconds of silence after which node 0 stops waiting for a node (see the module docstring)."""
    return seconds_from_env(NODE_WAIT_TIMEOUT_ENV, DEFAULT_NODE_WAIT_TIMEOUT)


def heartbeat_interval() -> float:
    """Seconds between a node's heartbeats: a quarter of the node wait timeout, at most 30."""
    return min(MAX_HEARTBEAT_INTERVAL, node_wait_timeout() / 4)


def alive_key(node_rank: int) -> str:
    """The record a running node rewrites so node 0 knows it is still at work."""
    return f"{CHECKPOINT_PREFIX}node-{node_rank}.alive"


@dataclass(frozen=True)
class NodeInfo:
    """How many nodes run this call and which one this process runs on (node 0 merges)."""

    num_nodes: int
    node_rank: int

    @property
    def is_main(self) -> bool:
        """True on node 0, the node that merges the partial indexes and publishes ``index.json``."""
        return self.node_rank == 0


def _read_int(names: tuple[str, ...]) -> tuple[str, int] | None:
    for name in names:
        value = os.environ.get(name)
        if value is None or value.strip() == "":
            continue
        try:
            return name, int(value)
        except ValueError:
            raise ValueError(f"environment variable {name}={value!r} is not an integer") from None
    return None


def node_info(num_nodes: int | None = None) -> NodeInfo:
    """The node count (the argument wins over the environment) and this node's rank."""
    if num_nodes is None:
        found = _read_int(NUM_NODES_VARS)
        num_nodes = found[1] if found else 1
    if isinstance(num_nodes, bool) or not isinstance(num_nodes, int) or num_nodes < 1:
        raise ValueError(f"num_nodes must be a positive int, got {num_nodes!r}")
    rank = _read_int(NODE_RANK_VARS)
    if rank is None:
        if num_nodes > 1:
            raise ValueError(
                f"num_nodes={num_nodes} but this node's rank is unknown: set NODE_RANK "
                "(or DATA_OPTIMIZER_NODE_RANK) to 0..num_nodes-1 on each node"
            )
        return NodeInfo(num_nodes, 0)
    name, node_rank = rank
    if not 0 <= node_rank < num_nodes:
        raise ValueError(f"{name}={node_rank} is out of range for num_nodes={num_nodes}")
    return NodeInfo(num_nodes, node_rank)
