"""Deterministic chance for the offline pictures: BLAKE2b streams that every drawing choice is keyed on.

The same request must give byte-identical pictures in any process, on any machine, under any Python: Python's
``hash()`` is salted per process and ``random``/numpy promise no stable streams across versions, so every choice the
composer and the painters make comes from here instead.
"""

from __future__ import annotations

import hashlib


def digest(*parts: object) -> bytes:
    """Key a decision on ``repr`` of plain values, so it never depends on the process or the platform."""
    h = hashlib.blake2b(digest_size=32)
    for part in parts:
        h.update(part if isinstance(part, bytes) else repr(part).encode("utf-8"))
        h.update(b"\x1f")
    return h.digest()


class Stream:
    """A counter-mode BLAKE2b stream of floats in [0, 1), keyed on ``parts``."""

    def __init__(self, *parts: object) -> None:
        self._key = digest(*parts)
        self._counter = 0
        self._buffer = b""

    def unit(self) -> float:
        if len(self._buffer) < 8:
            block = hashlib.blake2b(self._counter.to_bytes(8, "little"), key=self._key).digest()
            self._counter += 1
            self._buffer += block
        chunk, self._buffer = self._buffer[:8], self._buffer[8:]
        return (int.from_bytes(chunk, "little") >> 11) / float(1 << 53)

    def between(self, low: float, high: float) -> float:
        return low + (high - low) * self.unit()

    def pick(self, count: int) -> int:
        return min(count - 1, int(self.unit() * count))

    def sign(self) -> int:
        return 1 if self.unit() < 0.5 else -1


def noise_bytes(count: int, *parts: object) -> bytes:
    """``count`` uniformly random bytes keyed on ``parts`` (BLAKE2b in counter mode), for textures and grain."""
    key = digest("noise", *parts)
    blocks = [hashlib.blake2b(k.to_bytes(8, "little"), key=key).digest() for k in range((count + 63) // 64)]
    return b"".join(blocks)[:count]
