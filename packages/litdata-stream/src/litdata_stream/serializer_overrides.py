"""``StreamingDataset(serializers=...)``: decode some leaves with serializers of your own.

A dataset names the serializer of each leaf in ``index.json`` (``data_format``, e.g.
``"jpeg"``, ``"no_header_numpy:9"``, ``"video:mp4"``). ``serializers`` maps such names to
serializer objects that replace the built-in one of that name, or decode a name no
built-in knows. A name with an argument (``"video:mp4"``) is looked up first by its
argument (``"mp4"``), then by its name (``"video"``), as LitData does: this is how a
dataset of files of several kinds gets one decoder per file extension.

Two kinds of objects are accepted:

* LitData serializers (duck-typed: ``deserialize(bytes)``, optionally
  ``setup(data_format)``, ``serialize`` and ``can_serialize``). As in LitData, each
  ``data_format`` gets its own copy, set up with that name, and ``deserialize`` receives
  the leaf's bytes.
* :class:`litdata_format.Serializer` objects (``decoder(data_format, allow_pickle=...)``).

Names not in ``serializers`` keep the default registry (looked up at decode time, so
serializers registered with ``litdata_format.register_serializer`` still apply).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from litdata_format import REGISTRY, Serializer, SerializerRegistry
from litdata_format.serializers import Decoder


class LitDataSerializer(Serializer):
    """Wraps a LitData-style serializer object (``deserialize``/``setup``) as ours."""

    def __init__(self, name: str, wrapped: Any) -> None:
        self.name = name
        self.wrapped = wrapped

    def can_serialize(self, value: Any) -> bool:
        """Whether the wrapped serializer accepts ``value`` (False if it has no ``can_serialize``)."""
        check = getattr(self.wrapped, "can_serialize", None)
        return bool(check(value)) if callable(check) else False

    def serialize(self, value: Any) -> tuple[bytes, str]:
        """Encode ``value`` with the wrapped serializer; its data format defaults to this name."""
        data, data_format = self.wrapped.serialize(value)
        return data, data_format or self.name

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        """A function decoding one item stored as ``data_format``, by a copy of the wrapped serializer.

        ``allow_pickle`` is accepted for the interface and not used: the wrapped serializer decides.
        """
        # One set-up copy per data_format, as LitData's item loader makes: a serializer
        # may keep state from ``setup`` (the extension of ``file:ext``, a dtype, ...).
        serializer = copy.deepcopy(self.wrapped)
        setup = getattr(serializer, "setup", None)
        if callable(setup):
            setup(data_format)
        deserialize = serializer.deserialize
        return lambda data: deserialize(bytes(data))

    def __repr__(self) -> str:
        return f"LitDataSerializer({self.name!r}, {self.wrapped!r})"


def _as_serializer(name: Any, value: Any) -> Serializer:
    if not isinstance(name, str) or not name or ":" in name:
        raise ValueError(f"serializers: keys must be data format names without ':', got {name!r}")
    if isinstance(value, Serializer):
        return value
    if callable(getattr(value, "deserialize", None)):
        return LitDataSerializer(name, value)
    raise TypeError(
        f"serializers[{name!r}] must be a serializer (an object with deserialize(bytes), as LitData's, "
        f"or a litdata_format.Serializer), got {type(value).__name__}"
    )


class OverridingRegistry(SerializerRegistry):
    """The default registry, with some names decoded by the given serializers."""

    def __init__(self, overrides: Mapping[str, Serializer]) -> None:
        super().__init__()
        self.overrides = dict(overrides)

    def get(self, data_format: str) -> Serializer:
        """The serializer decoding ``data_format``.

        An override for the part after ``:`` (``jpeg`` in ``file:jpeg``) wins, then one for the
        name, then the default registry.
        """
        name, _, argument = data_format.partition(":")
        if argument and argument in self.overrides:
            return self.overrides[argument]
        if name in self.overrides:
            return self.overrides[name]
        return REGISTRY.get(data_format)

    def names(self) -> list[str]:
        """Every data format name known: the overrides first, then the default registry's."""
        return list(dict.fromkeys([*self.overrides, *REGISTRY.names()]))

    def __iter__(self):  # type: ignore[no-untyped-def]
        shadowed = set(self.overrides)
        return iter([*self.overrides.values(), *(s for s in REGISTRY if s.name not in shadowed)])


def serializer_registry(serializers: Mapping[str, Any] | None) -> SerializerRegistry | None:
    """The registry that decodes a dataset read with ``serializers`` (``None``: the default)."""
    if serializers is None:
        return None
    if not isinstance(serializers, Mapping):
        raise TypeError(f"serializers must be a dict of name -> serializer, got {type(serializers).__name__}")
    if not serializers:
        return None
    return OverridingRegistry({name: _as_serializer(name, value) for name, value in serializers.items()})
