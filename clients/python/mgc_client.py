"""A client for mgcd, the mgc genre daemon: its Unix socket of
newline-delimited JSON (daemon/PROTOCOL.md), from Python's standard library
alone.

    from mgc_client import Client

    with Client() as c:                      # /run/mgcd/mgcd.sock
        print(c.status()["decision"])
        for ev in c.events():                # reconnects if mgcd restarts
            if ev.name == "window" and ev.decision and ev.decision.genre:
                print(ev["t"], ev.decision.genre, ev.decision.confidence)

Command line: ``python3 -m mgc_client watch|status|version|reset [--socket PATH]``.
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import socket
import sys
import time
from typing import Any, Deque, Dict, Iterator, List, Optional, Tuple

__all__ = ["Client", "Event", "Decision", "MgcError", "DEFAULT_SOCKET"]
__version__ = "0.1.0"

DEFAULT_SOCKET = "/run/mgcd/mgcd.sock"
PROTOCOL = 1


class MgcError(Exception):
    """mgcd answered a command with an error, or could not be reached."""


@dataclasses.dataclass(frozen=True)
class Decision:
    """The rolling track-level genre (``decision`` in events and replies).
    ``genre`` is None while nothing voted, or when mgcd is not sure
    (``uncertain``; ``candidates`` then lists the likeliest)."""

    genre: Optional[str]
    confidence: float
    uncertain: bool
    probs: Dict[str, float]
    windows: int
    track: int
    candidates: List[Tuple[str, float]]

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Decision":
        return cls(
            genre=d.get("genre"),
            confidence=float(d.get("confidence") or 0.0),
            uncertain=bool(d.get("uncertain", False)),
            probs={k: float(v) for k, v in (d.get("probs") or {}).items()},
            windows=int(d.get("windows", 0)),
            track=int(d.get("track", 0)),
            candidates=[(str(g), float(p)) for g, p in d.get("candidates", [])],
        )


@dataclasses.dataclass(frozen=True)
class Event:
    """One line from mgcd: an event (``name`` is "window", "hello",
    "sound", ...) with all its fields; ``ev["t"]`` or ``ev.get("t")``."""

    name: str
    fields: Dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    @property
    def decision(self) -> Optional[Decision]:
        d = self.fields.get("decision")
        return Decision.from_json(d) if isinstance(d, dict) else None


class Client:
    """One connection to mgcd. Commands and events share the socket: a
    command's reply is matched by name and events that arrive meanwhile are
    kept for ``events()``. With ``reconnect`` (the default), a lost
    connection is retried with back-off from 0.2 s up to ``retry_max`` s and
    ``events()`` carries on with the new ``hello``."""

    def __init__(self, path: str = DEFAULT_SOCKET, *, timeout: float = 10.0, reconnect: bool = True,
                 retry_max: float = 10.0) -> None:
        self.path = path
        self.timeout = timeout
        self.reconnect = reconnect
        self.retry_max = retry_max
        self.hello: Optional[Event] = None
        self._sock: Optional[socket.socket] = None
        self._buf = b""
        self._pending: Deque[Event] = collections.deque()

    # -- connection --------------------------------------------------------

    def connect(self) -> Event:
        """Connect and read the hello; raises MgcError when mgcd is not there."""
        self.close()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self.path)
        except OSError as e:
            s.close()
            raise MgcError(f"cannot connect to {self.path}: {e.strerror or e}") from e
        self._sock, self._buf = s, b""
        first = self._read_line(self.timeout)
        if first is None:
            self.close()
            raise MgcError(f"{self.path}: mgcd closed the connection before its hello")
        if first.get("reply") == "error":
            self.close()
            raise MgcError(f"{self.path}: {first.get('error')}")
        if first.get("event") != "hello":
            self.close()
            raise MgcError(f"{self.path}: expected a hello, got {first!r}")
        self.hello = Event("hello", first)
        return self.hello

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None

    def __enter__(self) -> "Client":
        if self._sock is None:
            self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- commands ------------------------------------------------------------

    def command(self, name: str) -> Dict[str, Any]:
        """Send a command and return its reply (a dict); MgcError on an error reply."""
        if self._sock is None:
            self.connect()
        assert self._sock is not None
        self._sock.sendall(json.dumps({"command": name}).encode() + b"\n")
        deadline = time.monotonic() + self.timeout
        while True:
            obj = self._read_line(deadline - time.monotonic())
            if obj is None:
                raise MgcError(f"no reply to '{name}' from {self.path}")
            if "reply" in obj:
                if obj["reply"] == "error":
                    raise MgcError(str(obj.get("error")))
                if obj["reply"] == name:
                    return obj
            elif "event" in obj:
                self._pending.append(Event(str(obj["event"]), obj))

    def status(self) -> Dict[str, Any]:
        return self.command("status")

    def version(self) -> Dict[str, Any]:
        return self.command("version")

    def reset(self) -> int:
        """Start a new track now; returns its number."""
        return int(self.command("reset")["track"])

    def subscribe(self, on: bool = True) -> None:
        self.command("subscribe" if on else "unsubscribe")

    # -- events --------------------------------------------------------------

    def events(self, timeout: Optional[float] = None) -> Iterator[Event]:
        """Events as they come. With timeout, stops after that many seconds
        without one. After a reconnect the first event is the new hello."""
        while True:
            if self._pending:
                yield self._pending.popleft()
                continue
            if self._sock is None:
                yield self._reconnect()
                continue
            obj = self._read_line(timeout, eof_ok=True)
            if obj is None:
                if self._sock is not None:  # a timeout, not a hang-up
                    return
                if not self.reconnect:
                    return
                continue
            if "event" in obj:
                yield Event(str(obj["event"]), obj)

    def _reconnect(self) -> Event:
        wait = 0.2
        while True:
            try:
                return self.connect()
            except MgcError:
                if not self.reconnect:
                    raise
                time.sleep(wait)
                wait = min(wait * 2, self.retry_max)

    # -- line framing ----------------------------------------------------------

    def _read_line(self, timeout: Optional[float], eof_ok: bool = False) -> Optional[Dict[str, Any]]:
        """The next JSON line; None on timeout, or at EOF (the socket is then closed)."""
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        while b"\n" not in self._buf:
            if self._sock is None:
                return None
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(65536)
            except socket.timeout:
                return None
            except OSError:
                chunk = b""
            if not chunk:
                self.close()
                if not eof_ok:
                    raise MgcError(f"{self.path}: connection closed by mgcd")
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        obj = json.loads(line)
        if not isinstance(obj, dict):
            raise MgcError(f"{self.path}: not a JSON object: {line[:80]!r}")
        return obj


def _describe(ev: Event) -> Optional[str]:
    """One line for a human, or None for events not worth one."""
    if ev.name == "window":
        d = ev.decision
        if d is None or ev.get("sound") != "music":
            return f"{ev['t']:8.1f} s  {ev.get('sound', '')}"
        if d.genre is None:
            guess = ", ".join(f"{g} {p:.0%}" for g, p in d.candidates) or "nothing yet"
            return f"{ev['t']:8.1f} s  not sure ({guess})"
        return f"{ev['t']:8.1f} s  {d.genre} {d.confidence:.0%}  (track {d.track}, {d.windows} windows)"
    if ev.name == "hello":
        return f"connected to mgcd {ev.get('version')}: {ev.get('model')}, input {ev.get('input')}"
    if ev.name in ("new_track", "sound", "input_lost", "input_regained", "reloaded", "reload_failed", "end",
                   "stopping"):
        rest = {k: v for k, v in ev.fields.items() if k not in ("event", "time", "decision")}
        return f"{ev.name} {json.dumps(rest)}"
    return None


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m mgc_client", description="Talk to mgcd.")
    p.add_argument("command", choices=["watch", "status", "version", "reset"])
    p.add_argument("--socket", default=DEFAULT_SOCKET, help=f"mgcd's socket ({DEFAULT_SOCKET})")
    p.add_argument("--json", action="store_true", help="watch: print the events as JSON lines")
    p.add_argument("--windows", type=int, default=0, help="watch: stop after this many windows")
    a = p.parse_args(argv)
    try:
        with Client(a.socket, reconnect=a.command == "watch") as c:
            if a.command != "watch":
                print(json.dumps(c.command(a.command), indent=2))
                return 0
            if not a.json and c.hello is not None:
                print(_describe(c.hello), flush=True)
            seen = 0
            for ev in c.events():
                line = json.dumps(ev.fields) if a.json else _describe(ev)
                if line:
                    print(line, flush=True)
                seen += ev.name == "window"
                if a.windows and seen >= a.windows:
                    return 0
    except MgcError as e:
        print(f"mgc_client: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
