"""A registry of named choices: the network kinds, the band methods and the input channels each
keep theirs in one (forecast.nets.kinds, forecast.bands.methods, forecast.inputs.channels).

A root module: it imports only forecast.errors, so every layer may hold a registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, Protocol, TypeVar

from forecast.errors import ConfigError


class Named(Protocol):
    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


class Registry(Generic[T]):
    """Choices by name, in the order they were registered.

    Args:
        what: what an entry is, for messages ("network kind").
        unknown: the `ConfigError` message for a name no entry has, given the name and the known names.
        aliases: older names that still mean an entry (read from old model folders).
        check: refuses an entry that cannot be registered (raises ValueError).
    """

    def __init__(self, what: str, unknown: Callable[[str, tuple[str, ...]], str],
                 aliases: dict[str, str] | None = None, check: Callable[[T], None] | None = None) -> None:
        self.what, self._unknown, self._check = what, unknown, check
        self.aliases = dict(aliases or {})
        self._entries: dict[str, T] = {}

    def register(self, entry: T) -> T:
        """Add an entry (its name must be new)."""
        if entry.name in self._entries:
            raise ValueError(f"{self.what} {entry.name!r} is already registered")
        if self._check is not None:
            self._check(entry)
        self._entries[entry.name] = entry
        return entry

    def unregister(self, name: str) -> None:
        """Remove an entry (for tests that register their own)."""
        self._entries.pop(name, None)

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def find(self, name: str) -> T | None:
        """The entry called `name` (or an alias of it), or None."""
        return self._entries.get(self.aliases.get(name, name))

    def get(self, name: str) -> T:
        """The entry called `name` (or an alias of it).

        Raises:
            ConfigError: no such entry, naming the ones there are.
        """
        entry = self.find(name)
        if entry is None:
            raise ConfigError(self._unknown(name, self.names()))
        return entry

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

