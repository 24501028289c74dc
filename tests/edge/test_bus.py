"""Tests of edge.bus: real PUB/SUB over loopback TCP (free ports) and IPC sockets."""

from __future__ import annotations

import logging
import struct
import tempfile
import time
from collections import Counter

import numpy as np
import pytest
import zmq

from edge import topics
from edge.bus import BusConfig, BusError, Publisher, Subscriber, Transport
from edge.codec import MAGIC, CodecError, encode
from edge.messages import (
    N_COORDINATES,
    N_LANDMARKS,
    Cue,
    FrameInfo,
    Heartbeat,
    ImageEncoding,
    Kinematics,
    Pose,
    ProcessState,
)

ANY_PORT = "tcp://127.0.0.1:*"
ROOMY = BusConfig(sndhwm=1000, rcvhwm=1000)  # tests that need every message of a burst


@pytest.fixture
def ipc_dir():
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="bige-bus-") as d:  # short: ipc paths are <= 107 chars
        yield d


def pose(seq: int) -> Pose:
    xyz = np.full((N_LANDMARKS, 3), seq, np.float32)
    ones = np.ones(N_LANDMARKS, np.float32)
    return Pose(seq, time.monotonic_ns(), seq, True, xyz, xyz, ones, ones)


def cue(seq: int) -> Cue:
    return Cue(seq, time.monotonic_ns(), "knee_valgus_l", f"cue {seq}")


def probe(seq: int, process: str = "probe") -> Heartbeat:
    return Heartbeat(seq, time.monotonic_ns(), process, ProcessState.STARTING)


def sync(sub: Subscriber, send_probe, processes=("probe",), timeout_s: float = 10.0) -> None:
    """Send heartbeats until the subscriber hears every process (PUB/SUB slow joiner), then drain them."""
    heard: set[str] = set()
    seq = 0
    deadline = time.monotonic() + timeout_s
    while heard != set(processes):
        assert time.monotonic() < deadline, f"subscriber never connected; heard {heard}"
        for p in processes:
            send_probe(probe(seq, p))
        seq += 1
        msg = sub.recv(timeout_ms=20)
        while msg is not None:
            assert isinstance(msg, Heartbeat)
            heard.add(msg.process)
            msg = sub.recv(timeout_ms=20)


def non_heartbeats(sub: Subscriber, n: int, timeout_ms: int = 5000) -> list:
    out = []
    while len(out) < n:
        msg = sub.recv(timeout_ms)
        assert msg is not None, f"only {len(out)} of {n} messages arrived"
        if not isinstance(msg, Heartbeat):
            out.append(msg)
    return out


# --- configuration ---------------------------------------------------------------------------------------

def test_config_defaults_to_loopback_and_maps_topics_to_endpoints():
    cfg = BusConfig()
    assert cfg.host == "127.0.0.1"
    assert cfg.endpoint(topics.FRAME) == "tcp://127.0.0.1:5550"
    assert cfg.endpoint(topics.HEARTBEAT) == f"tcp://127.0.0.1:{5550 + topics.ALL_TOPICS.index(topics.HEARTBEAT)}"
    assert BusConfig(host="::1").endpoint(topics.POSE) == "tcp://[::1]:5551"
    assert BusConfig(transport=Transport.IPC, ipc_dir="/run/bige").endpoint(topics.CUE) == "ipc:///run/bige/cue.ipc"
    with pytest.raises(ValueError, match="unknown topic"):
        cfg.endpoint("poses")


@pytest.mark.parametrize("kwargs, text", [
    ({"host": ""}, "BusConfig.host"),
    ({"host": "tcp://x"}, "BusConfig.host"),
    ({"port_base": 0}, "BusConfig.port_base"),
    ({"port_base": 65534}, "BusConfig.port_base"),
    ({"ipc_dir": "relative/dir"}, "BusConfig.ipc_dir"),
    ({"sndhwm": 0}, "BusConfig.sndhwm"),
    ({"rcvhwm": 2.5}, "BusConfig.rcvhwm"),
    ({"max_message_bytes": 10}, "BusConfig.max_message_bytes"),
    ({"transport": "tcp"}, "BusConfig.transport"),
])
def test_config_rejects_bad_values(kwargs, text):
    with pytest.raises(ValueError, match=text):
        BusConfig(**kwargs)


def test_bad_endpoints_and_topics_are_rejected_up_front():
    with pytest.raises(ValueError, match="endpoint must be"):
        Publisher("udp://127.0.0.1:5000")
    with pytest.raises(ValueError, match="list of endpoints"):
        Subscriber("tcp://127.0.0.1:5000", [topics.POSE])
    with pytest.raises(ValueError, match="unknown topic"):
        Subscriber(["tcp://127.0.0.1:5000"], ["poses"])
    with pytest.raises(ValueError, match="at least one"):
        Subscriber([], [topics.POSE])


# --- lifecycle -------------------------------------------------------------------------------------------

def test_close_releases_the_port_and_closed_components_refuse_use():
    with Publisher(ANY_PORT) as pub:
        endpoint = pub.endpoint
        assert endpoint.startswith("tcp://127.0.0.1:") and not endpoint.endswith("*")
        with pytest.raises(BusError, match="address in use|Address already in use"):
            Publisher(endpoint).open()
    with pytest.raises(BusError, match="not open"):
        pub.publish(cue(0))
    again = Publisher(endpoint)
    deadline = time.monotonic() + 5
    while True:  # linger 0, but ZeroMQ closes the listener asynchronously: the port frees within ms
        try:
            again.open()
            break
        except BusError:
            assert time.monotonic() < deadline, f"{endpoint} still bound 5 s after close()"
            time.sleep(0.01)
    assert again.endpoint == endpoint
    with pytest.raises(BusError, match="already open"):
        again.open()
    again.close()
    again.close()  # idempotent
    sub = Subscriber([endpoint], [topics.CUE])
    with pytest.raises(BusError, match="not open"):
        sub.recv(0)


def test_publish_rejects_an_invalid_message_before_sending():
    with Publisher(ANY_PORT, BusConfig(max_message_bytes=4096)) as pub:
        with pytest.raises(CodecError, match="exceeds max_message_bytes=4096"):
            pub.publish(FrameInfo(0, 0, 0, 64, 64, "cam", bytes(64 * 64 * 3), ImageEncoding.BGR8))
        assert pub.published == 0


# --- delivery --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("transport", [Transport.TCP, Transport.IPC])
def test_delivery_in_order_over_tcp_and_ipc(transport, ipc_dir):
    cfg = BusConfig(transport=transport, ipc_dir=ipc_dir, sndhwm=1000, rcvhwm=1000)
    endpoint = ANY_PORT if transport is Transport.TCP else cfg.endpoint(topics.POSE)
    with Publisher(endpoint, cfg) as pub, Subscriber([pub.endpoint], [topics.POSE, topics.HEARTBEAT], cfg) as sub:
        assert pub.endpoint.startswith(transport.value + "://")
        sync(sub, pub.publish)
        for i in range(100):
            pub.publish(pose(i))
        got = non_heartbeats(sub, 100)
        assert [m.seq for m in got] == list(range(100))
        assert all(float(m.image_xyz[0, 0]) == m.seq for m in got)
        assert sub.stats.missed["pose"] == 0 and not sub.stats.rejected


def test_topic_filtering_delivers_only_subscribed_topics():
    with Publisher(ANY_PORT, ROOMY) as pub, Subscriber([pub.endpoint], [topics.POSE, topics.HEARTBEAT], ROOMY) as sub:
        sync(sub, pub.publish)
        for i in range(20):
            pub.publish(cue(i))
            pub.publish(pose(i))
        got = non_heartbeats(sub, 20)
        assert all(isinstance(m, Pose) for m in got)
        assert sub.recv(timeout_ms=100) is None  # no cue follows


def test_one_subscriber_reads_several_publishers_over_tcp_and_ipc(ipc_dir):
    with Publisher(ANY_PORT, ROOMY) as pose_pub, Publisher(f"ipc://{ipc_dir}/kin.ipc", ROOMY) as kin_pub, \
            Subscriber([pose_pub.endpoint, kin_pub.endpoint],
                       [topics.POSE, topics.KINEMATICS, topics.HEARTBEAT], ROOMY) as sub:
        def send_probe(hb):
            (pose_pub if hb.process == "pose" else kin_pub).publish(hb)

        sync(sub, send_probe, processes=("pose", "lifter"))
        pose_pub.publish(pose(0))
        kin_pub.publish(Kinematics(0, 1, 0, True, np.zeros(N_COORDINATES)))
        got = non_heartbeats(sub, 2)
        assert {type(m) for m in got} == {Pose, Kinematics}


def test_latest_returns_only_the_newest_per_topic_after_a_burst():
    with Publisher(ANY_PORT, ROOMY) as pub, \
            Subscriber([pub.endpoint], [topics.POSE, topics.CUE, topics.HEARTBEAT], ROOMY) as sub:
        sync(sub, pub.publish)
        for i in range(200):
            pub.publish(pose(i))
        pub.publish(cue(0))  # sentinel: sent after every pose on the same connection
        results = []
        while not results or topics.CUE not in results[-1]:
            r = sub.latest(timeout_ms=5000)
            assert r, "the burst did not arrive"
            results.append(r)
        pose_results = [r[topics.POSE].seq for r in results if topics.POSE in r]
        assert pose_results[-1] == 199
        assert pose_results == sorted(pose_results)
        assert len(pose_results) < 200  # draining: not one message per call
        assert sub.stats.stale_discarded == 200 - len(pose_results)
        assert sub.latest(timeout_ms=0) == {}


def test_seq_gaps_are_counted_as_missed_messages():
    with Publisher(ANY_PORT, ROOMY) as pub, Subscriber([pub.endpoint], [topics.CUE, topics.HEARTBEAT], ROOMY) as sub:
        sync(sub, pub.publish)
        for seq in (0, 1, 2, 5, 6, 0, 1):  # 3 and 4 lost; then the producer restarts at 0
            pub.publish(cue(seq))
        assert [m.seq for m in non_heartbeats(sub, 7)] == [0, 1, 2, 5, 6, 0, 1]
        assert sub.stats.missed == Counter({"cue": 2})


def test_bad_multiparts_are_counted_by_reason_logged_once_and_the_subscriber_keeps_working(caplog):
    ctx = zmq.Context.instance()
    raw = ctx.socket(zmq.PUB)
    raw.setsockopt(zmq.LINGER, 0)
    raw.bind(ANY_PORT)
    endpoint = raw.getsockopt_string(zmq.LAST_ENDPOINT)
    cfg = BusConfig(rcvhwm=100, max_message_bytes=64 * 1024)
    try:
        with Subscriber([endpoint], [topics.POSE, topics.HEARTBEAT], cfg) as sub, \
                caplog.at_level(logging.WARNING, logger="edge.bus"):
            sync(sub, lambda m: raw.send_multipart(encode(m)))
            good = encode(pose(1))
            prefix = struct.Struct("<4sHB")
            bad = [
                [b"pose", b"garbage"],  # magic
                [b"pose"],  # frames
                [good[0], prefix.pack(MAGIC, 99, 2) + good[1][prefix.size:], *good[2:]],  # version
                [*good[:2], good[2][:-4], *good[3:]],  # array
                [*good[:2], bytes(40_000), bytes(40_000), *good[4:]],  # size: 80 KB in frames under the limit
                [b"pose", b"garbage"], [b"pose", b"garbage"],  # magic again: counted, not logged again
            ]
            for frames in bad:
                raw.send_multipart(frames)
            raw.send_multipart(good)
            msg = sub.recv(timeout_ms=5000)
            assert isinstance(msg, Pose) and msg.seq == 1
            assert sub.stats.rejected == Counter({"magic": 3, "frames": 1, "version": 1, "array": 1, "size": 1})
            magic_logs = [r for r in caplog.records if "bad magic" in r.getMessage()]
            assert len(magic_logs) == 1 and magic_logs[0].levelno == logging.WARNING

            raw.send_multipart(encode(pose(2)))
            msg = sub.recv(timeout_ms=5000)
            assert isinstance(msg, Pose) and msg.seq == 2
    finally:
        raw.close(linger=0)
