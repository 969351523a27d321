"""What a container kind asks for — ``Kind(image=..., command=[...], ...)`` — checked.

The settings are checked when the workflow file is read, so a typo fails ``run`` and
``check``, not the task (docs/containers.md, "Tasks in containers").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: ``memory=``: bytes, or a number with a unit (b, k, m, g), as podman and docker take it.
MEMORY = re.compile(r"[0-9]+[bkmgBKMG]?")
#: An environment variable's name, as a shell writes it.
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Mount:
    """A directory (or file) of this machine seen inside a task's container."""

    source: str  # relative to the workflow file's directory, or absolute
    target: str  # absolute, in the container
    read_only: bool = False

    @classmethod
    def parse(cls, text: object) -> Mount:
        """``"SOURCE:TARGET"`` or ``"SOURCE:TARGET:ro|rw"``; ValueError saying what is wrong."""
        if not isinstance(text, str):
            raise ValueError(f"mount {text!r} is not a SOURCE:TARGET[:ro] string")
        parts = text.split(":")
        if len(parts) not in (2, 3) or not all(parts[:2]):
            raise ValueError(f"mount {text!r} is not SOURCE:TARGET or SOURCE:TARGET:ro")
        mode = parts[2] if len(parts) == 3 else "rw"
        if mode not in ("ro", "rw"):
            raise ValueError(f"mount {text!r} ends in {mode!r}; expected ro or rw")
        if not parts[1].startswith("/"):
            raise ValueError(f"mount {text!r}: the target {parts[1]!r} must be an absolute "
                             "path in the container")
        return cls(parts[0], parts[1], mode == "ro")

    def __str__(self) -> str:
        return f"{self.source}:{self.target}{':ro' if self.read_only else ''}"


@dataclass(frozen=True, slots=True)
class Container:
    """A container kind's settings, checked (:meth:`of`)."""

    image: str
    command: tuple[str, ...]
    mounts: tuple[Mount, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    cpus: float | None = None
    memory: str | None = None
    network: str | None = None

    @classmethod
    def of(cls, image: object, command: object, mounts: object, env: object,
           cpus: object, memory: object, network: object) -> Container:
        """The settings as ``Kind(...)`` was given them, or ValueError saying which one
        is wrong and what it should be.

        >>> Container.of("debian", ["python3", "t.py"], ["out:/out"], {"N": "1"}, None, "1g",
        ...              None)  # doctest: +NORMALIZE_WHITESPACE
        Container(image='debian', command=('python3', 't.py'),
                  mounts=(Mount(source='out', target='/out', read_only=False),),
                  env=(('N', '1'),), cpus=None, memory='1g', network=None)
        >>> Container.of("debian", [], [], {}, None, None, None)
        Traceback (most recent call last):
        ValueError: command=[...] (what runs in the container, e.g. ["python3", ...]) is missing
        """
        if not isinstance(image, str) or not image.strip():
            raise ValueError(f"image={image!r} is not an image name (e.g. 'python:3.11-slim')")
        return cls(image, _command(command), _mounts(mounts), _env(env), _cpus(cpus),
                   _memory(memory), _network(network))

    def to_json(self) -> dict[str, Any]:
        """The ``Kind(...)`` keywords that give these settings back."""
        return {"image": self.image, "command": list(self.command),
                "mounts": [str(m) for m in self.mounts], "env": dict(self.env),
                "cpus": self.cpus, "memory": self.memory, "network": self.network}


def _command(command: object) -> tuple[str, ...]:
    if isinstance(command, str) or not isinstance(command, Sequence) or not command or \
            not all(isinstance(a, str) for a in command):
        shown = "missing" if not command else f"not a list of strings: {command!r}"
        raise ValueError('command=[...] (what runs in the container, e.g. ["python3", '
                         f'"task.py"]) is {shown}')
    return tuple(command)


def _mounts(mounts: object) -> tuple[Mount, ...]:
    if isinstance(mounts, str) or not isinstance(mounts, Sequence):
        raise ValueError(f"mounts={mounts!r} must be a list of SOURCE:TARGET[:ro] strings")
    return tuple(Mount.parse(m) for m in mounts)


def _env(env: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(env, Mapping):
        raise ValueError(f"env={env!r} must be a dict of name -> value")
    for name, value in env.items():
        if not isinstance(name, str) or not ENV_NAME.fullmatch(name) \
                or not isinstance(value, str):
            raise ValueError(f"env: {name!r}: {value!r} is not NAME (letters, digits, _) "
                             "-> a string")
    return tuple(env.items())


def _cpus(cpus: object) -> float | None:
    if cpus is None:
        return None
    if isinstance(cpus, bool) or not isinstance(cpus, int | float) or not cpus > 0:
        raise ValueError(f"cpus={cpus!r} is not a positive number of CPUs")
    return float(cpus)


def _memory(memory: object) -> str | None:
    if memory is None:
        return None
    if isinstance(memory, bool) or not isinstance(memory, int | str) or \
            not MEMORY.fullmatch(str(memory)):
        raise ValueError(f"memory={memory!r} is not bytes or a number with a unit "
                         "(e.g. '256m', '1g')")
    return str(memory)


def _network(network: object) -> str | None:
    if network is None:
        return None
    if not isinstance(network, str) or not network.strip():
        raise ValueError(f"network={network!r} is not a network's name (e.g. 'none')")
    return network


__all__ = ["ENV_NAME", "MEMORY", "Container", "Mount"]
