"""ZeroMQ PUB/SUB transport of the message bus.

Inputs: messages of ``edge.messages`` given to ``Publisher.publish``. Outputs: the same messages from
``Subscriber.recv`` (every message, in order) or ``Subscriber.latest`` (the newest per topic).
Frames are encoded by ``edge.codec``; endpoints are ``tcp://host:port`` or ``ipc:///path``.

Addressing: each producer binds one PUB socket and publishes its stream and its heartbeats on it;
``BusConfig.endpoint(topic)`` gives the conventional endpoint of the producer of ``topic``
(``port_base`` + the topic's index in ``edge.topics.ALL_TOPICS``, or ``ipc_dir/<topic>.ipc``).
Subscribers connect to the endpoints of the producers they read and subscribe to chosen topics.

Backpressure, the written-down choice:

- The publisher never blocks the caller. A ZeroMQ PUB socket with a small SNDHWM drops a message for
  one subscriber when that subscriber's queue is full, so a slow recorder never stalls the camera or
  the overlay. The publisher cannot see those drops; each subscriber counts them as gaps in ``seq``
  (``SubscriberStats.missed``, per topic; heartbeats per process).
- ZeroMQ's CONFLATE does not work with multipart messages, so subscribers use a small RCVHWM and
  ``latest()`` drains everything queued, keeping only the newest message per topic: a display never
  falls behind a queue. ZeroMQ drops the *newest* messages at a full queue, so after a long stall the
  first drain can still be stale; the next one is current. ``recv()`` returns every message in order,
  for consumers such as the recorder (give them a larger ``rcvhwm``).
- Malformed messages, oversize ones included, are counted by ``edge.codec.Reason`` and logged
  (rate-limited), never raised. ZMQ_MAXMSGSIZE is deliberately not set: libzmq treats a frame over it
  as a protocol error and drops that publisher for good, silently; our publishers cannot send
  oversize messages (``encode`` refuses them), and a small RCVHWM bounds what a foreign peer can queue.
- PUB/SUB drops messages published before a subscription reaches the publisher (ZeroMQ's slow
  joiner): the first messages after start-up may be lost; the pipeline is a stream, so that is fine.
"""

from __future__ import annotations

import enum
import logging
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import zmq

from edge import topics
from edge.codec import DEFAULT_MAX_MESSAGE_BYTES, CodecError, decode, encode
from edge.messages import Heartbeat, Message

_log = logging.getLogger(__name__)

_LOG_INTERVAL_S = 5.0  # at most one log line per rejection reason per interval
_MAX_DRAIN_MESSAGES = 10_000  # bound on one latest() drain, so it returns even under a flood
_SCHEMES = ("tcp://", "ipc://")


class BusError(RuntimeError):
    """A socket that cannot bind or connect, or a Publisher/Subscriber used while closed."""


class Transport(enum.Enum):
    TCP = "tcp"
    IPC = "ipc"


@dataclass(frozen=True)
class BusConfig:
    """Settings of the message bus.

    transport: TCP between machines or processes, IPC (Unix domain sockets) on one machine.
    host: address that producers bind and consumers connect to (TCP); loopback unless the station
        settings name another address (e.g. "0.0.0.0" to bind for a remote overlay).
    port_base: TCP port of the first topic's producer; topic i uses port_base + i.
    ipc_dir: folder of the IPC socket files (absolute).
    sndhwm / rcvhwm: ZeroMQ high-water marks in messages, per connection.
    max_message_bytes: largest message published or accepted (the codec's limit).
    """

    transport: Transport = Transport.TCP
    host: str = "127.0.0.1"
    port_base: int = 5550
    ipc_dir: str = "/tmp/bige-edge"
    sndhwm: int = 4
    rcvhwm: int = 4
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES

    def __post_init__(self) -> None:
        if not isinstance(self.transport, Transport):
            raise ValueError(f"BusConfig.transport: expected a Transport, got {self.transport!r}")
        if not isinstance(self.host, str) or not self.host or "/" in self.host or self.host != self.host.strip():
            raise ValueError(f"BusConfig.host: expected a host name or IP address, got {self.host!r}")
        if not isinstance(self.port_base, int) or not 1 <= self.port_base <= 65535 - len(topics.ALL_TOPICS):
            raise ValueError(f"BusConfig.port_base: must be in [1, {65535 - len(topics.ALL_TOPICS)}], "
                             f"got {self.port_base!r}")
        if not isinstance(self.ipc_dir, str) or not Path(self.ipc_dir).is_absolute():
            raise ValueError(f"BusConfig.ipc_dir: must be an absolute path, got {self.ipc_dir!r}")
        for name in ("sndhwm", "rcvhwm"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"BusConfig.{name}: must be an int >= 1, got {value!r}")
        if not isinstance(self.max_message_bytes, int) or not 1024 <= self.max_message_bytes <= 2**30:
            raise ValueError(f"BusConfig.max_message_bytes: must be in [1024, 2**30], got {self.max_message_bytes!r}")

    def endpoint(self, topic: str) -> str:
        """The endpoint where the producer of ``topic`` binds (and consumers of it connect).

        Raises:
            ValueError: unknown topic.
        """
        topics.message_class(topic)
        if self.transport is Transport.IPC:
            return f"ipc://{Path(self.ipc_dir) / topic}.ipc"
        host = f"[{self.host}]" if ":" in self.host else self.host  # IPv6 literal
        return f"tcp://{host}:{self.port_base + topics.ALL_TOPICS.index(topic)}"


def _check_endpoint(endpoint: object) -> str:
    if not isinstance(endpoint, str) or not endpoint.startswith(_SCHEMES) or len(endpoint) <= 6:
        raise ValueError(f"endpoint must be a tcp://host:port or ipc:///path string, got {endpoint!r}")
    return endpoint


class Publisher:
    """Binds a PUB socket and publishes messages without ever blocking the caller.

    Use it from one thread (ZeroMQ sockets are not thread-safe).

    Usage::

        with Publisher(config.endpoint(topics.POSE), config) as pub:
            pub.publish(pose)
    """

    def __init__(self, endpoint: str, config: BusConfig = BusConfig()) -> None:
        """Args:
            endpoint: where to bind; ``tcp://host:*`` binds a free port (see ``endpoint`` after open).
            config: bus settings (sndhwm, max_message_bytes).
        """
        self._requested = _check_endpoint(endpoint)
        self._config = config
        self._socket: zmq.Socket | None = None
        self._endpoint = ""
        self.published = 0
        """Messages handed to ZeroMQ since open."""

    def open(self) -> Publisher:
        """Bind the socket.

        Raises:
            BusError: already open, or the endpoint cannot be bound (e.g. address in use).
        """
        if self._socket is not None:
            raise BusError(f"Publisher on {self._endpoint} is already open")
        if self._requested.startswith("ipc://"):
            Path(self._requested[len("ipc://"):]).parent.mkdir(parents=True, exist_ok=True)
        sock = zmq.Context.instance().socket(zmq.PUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, self._config.sndhwm)
        try:
            sock.bind(self._requested)
        except zmq.ZMQError as e:
            sock.close(linger=0)
            raise BusError(f"cannot bind PUB socket to {self._requested}: {e}") from e
        self._endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self._socket = sock
        return self

    @property
    def endpoint(self) -> str:
        """The bound endpoint (with the actual port for a ``*`` port); empty before open."""
        return self._endpoint

    def publish(self, msg: Message) -> None:
        """Encode and send one message; returns at once (slow subscribers lose messages, see module doc).

        Raises:
            CodecError: the message breaks the codec's rules (a producer bug: fix the producer).
            BusError: the publisher is not open.
        """
        if self._socket is None:
            raise BusError(f"Publisher on {self._requested} is not open: call open() or use it as a context manager")
        frames = encode(msg, self._config.max_message_bytes)
        self._socket.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
        self.published += 1

    def close(self, linger_ms: int = 0) -> None:
        """Close the socket. Safe to call twice.

        Args:
            linger_ms: how long queued messages may still be sent (0: dropped at once). A producer's
                last messages at the end of a run need a short linger to reach their subscribers.

        ZeroMQ releases the bound address asynchronously, within milliseconds of the call.
        """
        if self._socket is not None:
            self._socket.close(linger=linger_ms)
            self._socket = None

    def __enter__(self) -> Publisher:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class SubscriberStats:
    """Counters of one Subscriber since open."""

    received: int = 0  # valid messages taken off the socket (including those latest() discarded)
    rejected: Counter[str] = field(default_factory=Counter)  # by edge.codec.Reason value
    stale_discarded: int = 0  # messages latest() drained in favour of a newer one of the same topic
    missed: Counter[str] = field(default_factory=Counter)  # seq gaps per topic: dropped on the way


class Subscriber:
    """Connects a SUB socket to one or more publishers and receives chosen topics.

    Use it from one thread (ZeroMQ sockets are not thread-safe).

    Usage::

        with Subscriber([config.endpoint(topics.FRAME), config.endpoint(topics.POSE)],
                        [topics.FRAME, topics.POSE], config) as sub:
            newest = sub.latest(timeout_ms=30)  # {topic: message}
    """

    def __init__(self, endpoints: Sequence[str], topic_names: Iterable[str], config: BusConfig = BusConfig()) -> None:
        """Args:
            endpoints: publisher endpoints to connect to (ZeroMQ reconnects by itself if one restarts).
            topic_names: topics to receive (constants of ``edge.topics``).
            config: bus settings (rcvhwm, max_message_bytes).

        Raises:
            ValueError: no endpoints, a malformed endpoint, no topics or an unknown topic.
        """
        if isinstance(endpoints, str):
            raise ValueError(f"endpoints must be a list of endpoints, got the string {endpoints!r}")
        self._endpoints = tuple(_check_endpoint(e) for e in endpoints)
        self._topics = tuple(dict.fromkeys(topic_names))
        if not self._endpoints or not self._topics:
            raise ValueError(f"Subscriber needs at least one endpoint and one topic, got {self._endpoints} "
                             f"and {self._topics}")
        for t in self._topics:
            topics.message_class(t)
        self._config = config
        self._socket: zmq.Socket | None = None
        self._stats = SubscriberStats()
        self._last_seq: dict[tuple[str, str], int] = {}
        self._last_log_s: dict[str, float] = {}
        self._suppressed: Counter[str] = Counter()

    def open(self) -> Subscriber:
        """Create the socket, subscribe and connect.

        Raises:
            BusError: already open, or an endpoint ZeroMQ refuses.
        """
        if self._socket is not None:
            raise BusError(f"Subscriber of {self._endpoints} is already open")
        sock = zmq.Context.instance().socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, self._config.rcvhwm)
        for t in self._topics:
            sock.setsockopt(zmq.SUBSCRIBE, t.encode("ascii"))
        try:
            for e in self._endpoints:
                sock.connect(e)
        except zmq.ZMQError as err:
            sock.close(linger=0)
            raise BusError(f"cannot connect SUB socket to {e}: {err}") from err
        self._socket = sock
        self._stats = SubscriberStats()
        self._last_seq.clear()
        return self

    @property
    def stats(self) -> SubscriberStats:
        """A snapshot of the counters."""
        s = self._stats
        return SubscriberStats(s.received, Counter(s.rejected), s.stale_discarded, Counter(s.missed))

    def recv(self, timeout_ms: int) -> Message | None:
        """The next valid message, waiting up to ``timeout_ms`` (0: only what is already queued).

        Malformed messages are counted and skipped.

        Returns:
            The message, or None when none arrived in time.

        Raises:
            BusError: the subscriber is not open.
            ValueError: negative timeout_ms.
        """
        sock = self._require_open()
        if timeout_ms < 0:
            raise ValueError(f"timeout_ms must be >= 0, got {timeout_ms}")
        deadline_ns = time.monotonic_ns() + int(timeout_ms * 1_000_000)
        while True:
            remaining_ms = max(0, math.ceil((deadline_ns - time.monotonic_ns()) / 1_000_000))
            if not sock.poll(remaining_ms, zmq.POLLIN):
                return None
            frames = sock.recv_multipart(zmq.NOBLOCK)
            try:
                msg = decode(frames, self._config.max_message_bytes)
            except CodecError as err:
                self._reject(err)
                continue
            self._stats.received += 1
            self._track_seq(msg)
            return msg

    def latest(self, timeout_ms: int) -> dict[str, Message]:
        """Wait up to ``timeout_ms`` for a message, then drain the queue; keep the newest per topic.

        Heartbeats of several processes share one topic: only the newest of them is kept; read them
        with ``recv`` where every process's heartbeat matters.

        Returns:
            ``{topic: newest message}`` for the topics that had messages; empty when none arrived.

        Raises:
            BusError: the subscriber is not open.
            ValueError: negative timeout_ms.
        """
        newest: dict[str, Message] = {}
        msg = self.recv(timeout_ms)
        for _ in range(_MAX_DRAIN_MESSAGES):
            if msg is None:
                break
            topic = topics.topic_of(msg)
            if topic in newest:
                self._stats.stale_discarded += 1
            newest[topic] = msg
            msg = self.recv(0)
        return newest

    def close(self) -> None:
        """Close the socket at once (linger 0). Safe to call twice."""
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    def __enter__(self) -> Subscriber:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _require_open(self) -> zmq.Socket:
        if self._socket is None:
            raise BusError(f"Subscriber of {self._endpoints} is not open: call open() or use it as a context manager")
        return self._socket

    def _track_seq(self, msg: Message) -> None:
        topic = topics.topic_of(msg)
        key = (topic, msg.process if isinstance(msg, Heartbeat) else "")
        last = self._last_seq.get(key)
        if last is not None and msg.seq > last + 1:
            self._stats.missed[topic] += msg.seq - last - 1
        self._last_seq[key] = msg.seq  # a lower seq means the producer restarted: start counting afresh

    def _reject(self, err: CodecError) -> None:
        reason = err.reason.value
        self._stats.rejected[reason] += 1
        now_s = time.monotonic()
        last_s = self._last_log_s.get(reason)
        if last_s is not None and now_s - last_s < _LOG_INTERVAL_S:
            self._suppressed[reason] += 1
            return
        more = self._suppressed.pop(reason, 0)
        _log.warning("rejected a message from %s: %s%s", ", ".join(self._endpoints), err,
                     f" ({more} more of this kind since the last report)" if more else "")
        self._last_log_s[reason] = now_s
