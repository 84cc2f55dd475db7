"""Flatten items into leaves and back, with exactly the ``data_spec`` JSON LitData writes.

LitData stores an item's structure as PyTorch's pytree spec serialized to JSON:
``[1, node]`` where a node is ``{"type": ..., "context": ..., "children_spec": [...]}``.
A leaf is ``{"type": null, "context": null, "children_spec": []}``; a container names its
type (``builtins.dict``, ``builtins.list``, ``builtins.tuple``, ``collections.OrderedDict``,
``collections.defaultdict``, ``collections.deque``, ``collections.namedtuple``) and
carries its context as a JSON string (a dict's keys in order,
``"null"`` for lists and tuples). This module needs no torch.

``None`` is a leaf, as in torch (LitData stores it with the pickle serializer). A spec
is held as a :class:`TreeSpec`; :func:`compile_unflatten` turns one into a fast
function that rebuilds items from their leaves.
"""

from __future__ import annotations

import collections
import importlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .errors import FormatError

PROTOCOL = 1

DICT = "builtins.dict"
LIST = "builtins.list"
TUPLE = "builtins.tuple"
NONE = "builtins.NoneType"
ORDERED_DICT = "collections.OrderedDict"
DEFAULT_DICT = "collections.defaultdict"
DEQUE = "collections.deque"
NAMEDTUPLE = "collections.namedtuple"


@dataclass(frozen=True)
class TreeSpec:
    """One node of an item's structure. ``type is None`` marks a leaf."""

    type: str | None
    context: str | None
    children: tuple[TreeSpec, ...] = ()

    @property
    def is_leaf(self) -> bool:
        """Whether this node is a leaf rather than a container."""
        return self.type is None

    @property
    def num_leaves(self) -> int:
        """How many leaves lie under this node (1 for a leaf)."""
        if self.is_leaf:
            return 1
        return sum(child.num_leaves for child in self.children)

    def to_node(self) -> dict[str, Any]:
        """This node as the nested dict of torch's serialized tree spec format."""
        return {"type": self.type, "context": self.context, "children_spec": [c.to_node() for c in self.children]}

    def to_json(self) -> str:
        """The ``data_spec`` string, byte-identical to what torch's ``treespec_dumps`` writes."""
        return json.dumps([PROTOCOL, self.to_node()])

    @classmethod
    def from_node(cls, node: Any) -> TreeSpec:
        """Rebuild a spec from one node dict of a ``data_spec``; FormatError when malformed."""
        if not isinstance(node, dict) or not {"type", "context", "children_spec"} <= node.keys():
            raise FormatError(f"data_spec: malformed node {node!r}")
        children = node["children_spec"]
        if not isinstance(children, list):
            raise FormatError(f"data_spec: children_spec must be a list, got {children!r}")
        return cls(node["type"], node["context"], tuple(cls.from_node(c) for c in children))

    @classmethod
    def from_json(cls, text: str) -> TreeSpec:
        """Parse a ``data_spec`` string, as written by :meth:`to_json` or torch.

        Args:
            text: The JSON list ``[protocol, node]``.

        Raises:
            FormatError: The text is not JSON, the protocol is unknown, or a node is malformed.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FormatError(f"data_spec is not valid JSON ({exc})") from None
        if not isinstance(data, list) or len(data) != 2:
            raise FormatError("data_spec must be a JSON list [protocol, node]")
        if data[0] != PROTOCOL:
            raise FormatError(f"data_spec protocol {data[0]!r} is not supported (known: {PROTOCOL})")
        return cls.from_node(data[1])


LEAF = TreeSpec(None, None, ())


def _qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _is_namedtuple(value: Any) -> bool:
    return isinstance(value, tuple) and hasattr(type(value), "_fields")


def flatten(item: Any) -> tuple[list[Any], TreeSpec]:
    """Return the leaves of ``item`` in order and its structure.

    Dicts, OrderedDicts, defaultdicts, lists, tuples, deques and named tuples are containers;
    anything else (subclasses of them included) is a leaf.

    Args:
        item: The value to flatten.

    Returns:
        The leaves in depth-first order, and the spec that :func:`unflatten` needs.
    """
    leaves: list[Any] = []
    spec = _flatten_into(item, leaves)
    return leaves, spec


def _flatten_into(value: Any, leaves: list[Any]) -> TreeSpec:
    kind = type(value)
    if kind is dict or kind is collections.OrderedDict:
        children = tuple(_flatten_into(v, leaves) for v in value.values())
        type_name = DICT if kind is dict else ORDERED_DICT
        return TreeSpec(type_name, json.dumps(list(value.keys())), children)
    if kind is list:
        return TreeSpec(LIST, "null", tuple(_flatten_into(v, leaves) for v in value))
    if kind is tuple:
        return TreeSpec(TUPLE, "null", tuple(_flatten_into(v, leaves) for v in value))
    if kind is collections.defaultdict:
        factory = value.default_factory
        context = {
            "default_factory_module": getattr(factory, "__module__", None),
            "default_factory_name": getattr(factory, "__qualname__", None),
            "dict_context": list(value.keys()),
        }
        return TreeSpec(DEFAULT_DICT, json.dumps(context), tuple(_flatten_into(v, leaves) for v in value.values()))
    if kind is collections.deque:
        return TreeSpec(DEQUE, json.dumps(value.maxlen), tuple(_flatten_into(v, leaves) for v in value))
    if _is_namedtuple(value):
        return TreeSpec(NAMEDTUPLE, json.dumps(_qualified_name(kind)), tuple(_flatten_into(v, leaves) for v in value))
    leaves.append(value)
    return LEAF


def _import_qualified(name: str | None) -> Any:
    if not name or "." not in name:
        return None
    module_name, _, attr = name.rpartition(".")
    while module_name:
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
            return obj
        except (ImportError, AttributeError):
            module_name, _, head = module_name.rpartition(".")
            attr = f"{head}.{attr}"
    return None


Builder = Callable[[Iterator[Any]], Any]


def compile_unflatten(spec: TreeSpec) -> Callable[[list[Any]], Any]:
    """Return a function that rebuilds an item of shape ``spec`` from its leaves."""
    if spec.is_leaf:
        return lambda leaves: leaves[0]
    build = _builder(spec)
    return lambda leaves: build(iter(leaves))


def unflatten(leaves: list[Any], spec: TreeSpec) -> Any:
    """Rebuild an item from its leaves and spec (the inverse of :func:`flatten`).

    Args:
        leaves: The leaves, in the order :func:`flatten` returned them.
        spec: The item's structure.

    Returns:
        The rebuilt item; a named tuple whose class cannot be imported comes back as a tuple.
    """
    return compile_unflatten(spec)(leaves)


def _context(spec: TreeSpec) -> Any:
    try:
        return json.loads(spec.context) if spec.context is not None else None
    except json.JSONDecodeError:
        raise FormatError(f"data_spec: the context of a {spec.type} node is not JSON: {spec.context!r}") from None


def _builder(spec: TreeSpec) -> Builder:
    if spec.is_leaf:
        return next
    children = [_builder(child) for child in spec.children]
    kind = spec.type
    if kind in (DICT, ORDERED_DICT):
        keys = _context(spec)
        if not isinstance(keys, list) or len(keys) != len(children):
            raise FormatError(f"data_spec: a {kind} node has {len(children)} children but keys {keys!r}")
        pairs = list(zip(keys, children))
        if kind == DICT:
            return lambda it: {key: build(it) for key, build in pairs}
        return lambda it: collections.OrderedDict((key, build(it)) for key, build in pairs)
    if kind == LIST:
        return lambda it: [build(it) for build in children]
    if kind == TUPLE:
        return lambda it: tuple(build(it) for build in children)
    if kind == NONE:
        return lambda it: None
    if kind == DEQUE:
        maxlen = _context(spec)
        return lambda it: collections.deque((build(it) for build in children), maxlen)
    if kind == DEFAULT_DICT:
        context = _context(spec) or {}
        keys = context.get("dict_context", [])
        factory = _import_qualified(f"{context.get('default_factory_module')}.{context.get('default_factory_name')}")
        if context.get("default_factory_module") == "builtins":
            factory = getattr(__import__("builtins"), context.get("default_factory_name") or "", None)
        pairs = list(zip(keys, children))
        return lambda it: collections.defaultdict(factory, ((key, build(it)) for key, build in pairs))
    if kind == NAMEDTUPLE:
        cls = _import_qualified(_context(spec))
        if isinstance(cls, type) and issubclass(cls, tuple) and hasattr(cls, "_fields"):
            return lambda it: cls(*(build(it) for build in children))
        # The class cannot be imported here: the values still come back, as a plain tuple.
        return lambda it: tuple(build(it) for build in children)
    raise FormatError(f"data_spec: unknown container type {kind!r}")
