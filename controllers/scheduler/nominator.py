"""Pods nominated to nodes by preemption (status.nominatedNodeName): their room is held for them."""

from __future__ import annotations

from .podinfo import PodInfo


class Nominator:
    def __init__(self) -> None:
        self._by_node: dict[str, dict[str, PodInfo]] = {}
        self._node_of: dict[str, str] = {}

    def set(self, pi: PodInfo, node: str) -> None:
        """Nominate (or, with ``node == ""``, un-nominate) a pending pod."""
        self.delete(pi.key)
        if node:
            self._by_node.setdefault(node, {})[pi.key] = pi
            self._node_of[pi.key] = node

    def update(self, pi: PodInfo) -> None:
        """A newer version of a pod: its status.nominatedNodeName wins unless nomination is cleared."""
        node = pi.nominated_node or self._node_of.get(pi.key, "")
        self.set(pi, node)

    def delete(self, key: str) -> None:
        node = self._node_of.pop(key, None)
        if node is not None:
            pods = self._by_node.get(node, {})
            pods.pop(key, None)
            if not pods:
                self._by_node.pop(node, None)

    def node_of(self, key: str) -> str:
        return self._node_of.get(key, "")

    def for_node(self, node: str) -> list[PodInfo]:
        return list(self._by_node.get(node, {}).values())

    def __bool__(self) -> bool:
        return bool(self._node_of)
