"""Tests of edge.topics and edge.codec: round trips of every message type, and rejection of bad input."""

from __future__ import annotations

import dataclasses
import json
import math
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from edge import topics
from edge.codec import DEFAULT_MAX_MESSAGE_BYTES, MAGIC, CodecError, Reason, decode, encode
from edge.messages import (
    MESSAGE_TYPES,
    N_COORDINATES,
    N_LANDMARKS,
    SCHEMA_VERSION,
    CameraCalibration,
    Cue,
    CueSeverity,
    FrameInfo,
    Heartbeat,
    ImageEncoding,
    Kinematics,
    Pose,
    ProcessState,
    TargetMotion,
)

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROUND_TRIP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- strategies ------------------------------------------------------------------------------------------

u63 = st.integers(0, 2**63 - 1)
text = st.text(max_size=40)
nonneg = st.floats(min_value=0, max_value=1e300, allow_nan=False, allow_infinity=False)


def f32(shape: tuple[int, ...], nan: bool) -> st.SearchStrategy[np.ndarray]:
    return arrays(np.float32, shape, elements=st.floats(width=32, allow_nan=nan, allow_infinity=False))


def f64(shape, nan: bool) -> st.SearchStrategy[np.ndarray]:
    return arrays(np.float64, shape, elements=st.floats(allow_nan=nan, allow_infinity=False))


@st.composite
def frame_infos(draw) -> FrameInfo:
    width, height = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    encoding = draw(st.sampled_from(ImageEncoding))
    if encoding is ImageEncoding.NONE:
        image = b""
    elif encoding is ImageEncoding.BGR8:
        image = draw(st.binary(min_size=width * height * 3, max_size=width * height * 3))
    else:
        image = b"\xff\xd8" + draw(st.binary(max_size=200))
    return FrameInfo(draw(u63), draw(u63), draw(u63), width, height, draw(text), image, encoding)


@st.composite
def poses(draw) -> Pose:
    detected = draw(st.booleans())
    nan = not detected
    return Pose(draw(u63), draw(u63), draw(u63), detected,
                draw(f32((N_LANDMARKS, 3), nan)), draw(f32((N_LANDMARKS, 3), nan)),
                draw(f32((N_LANDMARKS,), nan)), draw(f32((N_LANDMARKS,), nan)), draw(u63))


@st.composite
def kinematics(draw) -> Kinematics:
    valid = draw(st.booleans())
    rms = draw(st.one_of(nonneg, st.just(math.nan)))
    return Kinematics(draw(u63), draw(u63), draw(u63), valid, draw(f64((N_COORDINATES,), not valid)), rms, draw(u63))


@st.composite
def targets(draw) -> TargetMotion:
    n = draw(st.integers(1, 8))
    fps = draw(st.floats(min_value=1e-3, max_value=1e4))
    return TargetMotion(draw(u63), draw(u63), fps, draw(text), draw(f64((n, N_COORDINATES), False)))


cues = st.builds(Cue, u63, u63, text, text, st.sampled_from(CueSeverity))
heartbeats = st.builds(Heartbeat, u63, u63, text, st.sampled_from(ProcessState), text, nonneg,
                       st.dictionaries(text, nonneg, max_size=6))
calibrations = st.builds(CameraCalibration, u63, u63, st.integers(1, 4096), st.integers(1, 4096),
                         f64((4,), False), f64((3, 3), False), f64((3,), False))
messages = st.one_of(frame_infos(), poses(), kinematics(), targets(), cues, heartbeats, calibrations)


def assert_same(a, b) -> None:
    assert type(a) is type(b)
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert y.dtype == x.dtype and y.shape == x.shape, f.name
            assert y.tobytes() == x.tobytes(), f.name  # bit-exact, NaN included
        elif isinstance(x, float) and math.isnan(x):
            assert isinstance(y, float) and math.isnan(y), f.name
        else:
            assert y == x and type(y) is type(x), f.name


def a_pose(detected: bool = True, seq: int = 7) -> Pose:
    rng = np.random.default_rng(seq)
    fill = (lambda s: rng.random(s, dtype=np.float32)) if detected else (lambda s: np.full(s, np.nan, np.float32))
    return Pose(seq, 123_456_789, 42, detected, fill((N_LANDMARKS, 3)), fill((N_LANDMARKS, 3)),
                fill((N_LANDMARKS,)), fill((N_LANDMARKS,)), 1000)


def edit_header(frames: list[bytes], edit) -> list[bytes]:
    """Frames with the header's JSON changed by ``edit(doc)`` (prefix kept)."""
    n = struct.calcsize("<4sHB")
    doc = json.loads(frames[1][n:])
    edit(doc)
    return [frames[0], frames[1][:n] + json.dumps(doc).encode(), *frames[2:]]


def reason_of(frames, **kw) -> Reason:
    with pytest.raises(CodecError) as info:
        decode(frames, **kw)
    return info.value.reason


# --- topics ----------------------------------------------------------------------------------------------

def test_topics_map_one_to_one_onto_message_types():
    assert set(topics.MESSAGE_CLASS.values()) == set(MESSAGE_TYPES)
    assert len(set(topics.ALL_TOPICS)) == len(topics.ALL_TOPICS) == len(MESSAGE_TYPES)
    for t in topics.ALL_TOPICS:
        assert topics.TOPIC_OF_CLASS[topics.message_class(t)] == t
        assert all(t == u or not u.startswith(t) for u in topics.ALL_TOPICS)  # SUB filters by prefix
    assert topics.topic_of(a_pose()) == topics.POSE
    with pytest.raises(TypeError, match="no topic for str"):
        topics.topic_of("pose")
    with pytest.raises(ValueError, match="unknown topic 'poses'"):
        topics.message_class("poses")


# --- round trips -----------------------------------------------------------------------------------------

@ROUND_TRIP
@given(messages)
def test_round_trip_every_message_type(msg):
    frames = encode(msg)
    assert frames[0] == topics.topic_of(msg).encode()
    assert all(isinstance(f, bytes) for f in frames)
    out = decode(frames)
    assert_same(msg, out)
    for f in dataclasses.fields(out):
        value = getattr(out, f.name)
        if isinstance(value, np.ndarray):
            assert not value.flags.writeable  # messages are immutable


def test_round_trip_covers_nan_where_allowed():
    assert_same(a_pose(detected=False), decode(encode(a_pose(detected=False))))
    k = Kinematics(0, 1, 2, False, np.full(N_COORDINATES, np.nan))
    out = decode(encode(k))
    assert np.isnan(out.coordinates).all() and math.isnan(out.marker_rms_m)


def test_round_trip_accepts_numpy_scalars_and_decodes_to_python_types():
    msg = Cue(np.int64(3), np.uint64(10), "c", "t")
    out = decode(encode(msg))
    assert out.seq == 3 and type(out.seq) is int and type(out.t_capture_ns) is int


def test_frame_of_1280x720_bgr8_fits_the_default_limit_and_a_smaller_limit_rejects_it():
    img = bytes(1280 * 720 * 3)
    frame = FrameInfo(1, 2, 3, 1280, 720, "cam0", img, ImageEncoding.BGR8)
    frames = encode(frame)
    assert sum(map(len, frames)) < DEFAULT_MAX_MESSAGE_BYTES
    assert decode(frames).image == img
    with pytest.raises(CodecError) as info:
        encode(frame, max_message_bytes=1_000_000)
    assert info.value.reason is Reason.SIZE
    assert reason_of(frames, max_message_bytes=1_000_000) is Reason.SIZE


# --- encode rejects bad messages -------------------------------------------------------------------------

@pytest.mark.parametrize("msg, reason, text", [
    (Cue(-1, 0, "c", "t"), Reason.FIELD, "Cue.seq"),
    (Cue(True, 0, "c", "t"), Reason.FIELD, "Cue.seq: expected an int"),
    (Cue(0, 1.5, "c", "t"), Reason.FIELD, "Cue.t_capture_ns"),
    (Cue(0, 2**63, "c", "t"), Reason.FIELD, "Cue.t_capture_ns"),
    (Cue(0, 0, "c", "\ud800"), Reason.FIELD, "Cue.text"),
    (Cue(0, 0, "c", "t", "info"), Reason.FIELD, "Cue.severity"),
    (Heartbeat(0, 0, "p", ProcessState.RUNNING, fps=math.inf), Reason.FIELD, "Heartbeat.fps"),
    (Heartbeat(0, 0, "p", ProcessState.RUNNING, stage_ms={"a": math.nan}), Reason.FIELD, "stage_ms"),
    (Heartbeat(0, 0, "p", ProcessState.RUNNING, stage_ms={1: 1.0}), Reason.FIELD, "stage_ms key"),
    (Kinematics(0, 0, 0, True, np.full(N_COORDINATES, np.nan)), Reason.ARRAY, "when valid=True"),
    (Kinematics(0, 0, 0, False, np.full(N_COORDINATES, np.inf)), Reason.ARRAY, "inf not allowed"),
    (Kinematics(0, 0, 0, True, np.zeros(N_COORDINATES), marker_rms_m=-1.0), Reason.FIELD, "marker_rms_m"),
    (TargetMotion(0, 0, 30.0, "g", np.zeros((0, N_COORDINATES))), Reason.ARRAY, "T>=1"),
    (TargetMotion(0, 0, 30.0, "g", np.full((2, N_COORDINATES), np.nan)), Reason.ARRAY, "NaN or inf"),
    (FrameInfo(0, 0, 0, 4, 2, "s", bytes(23), ImageEncoding.BGR8), Reason.FIELD, "needs 24 bytes"),
    (FrameInfo(0, 0, 0, 4, 2, "s", b"abc", ImageEncoding.NONE), Reason.FIELD, "encoding NONE"),
    (FrameInfo(0, 0, 0, 4, 2, "s", b"abc", ImageEncoding.JPEG), Reason.FIELD, "SOI"),
    (FrameInfo(0, 0, 0, 0, 2, "s"), Reason.FIELD, "FrameInfo.width"),
    (FrameInfo(0, 0, 0, 4, 2, "s", bytearray(24), ImageEncoding.BGR8), Reason.FIELD, "expected bytes"),
    ("not a message", Reason.TYPE, "str"),
])
def test_encode_rejects_bad_messages_with_a_named_reason(msg, reason, text):
    with pytest.raises(CodecError, match=text) as info:
        encode(msg)
    assert info.value.reason is reason
    assert isinstance(info.value, ValueError)


def test_encode_rejects_nan_in_a_detected_pose():
    pose = a_pose()
    pose.image_xyz[3, 1] = np.nan
    with pytest.raises(CodecError, match="Pose.image_xyz: NaN or inf not allowed when detected=True"):
        encode(pose)


# --- decode rejects bad frames ---------------------------------------------------------------------------

def test_decode_rejects_each_kind_of_damage_with_its_reason():
    good = encode(a_pose())
    prefix = struct.Struct("<4sHB")
    body = good[1][prefix.size:]
    cases = {
        "not a list": (b"".join(good), Reason.FRAMES),
        "one frame": (good[:1], Reason.FRAMES),
        "missing frame": (good[:-1], Reason.FRAMES),
        "extra frame": (good + [b""], Reason.FRAMES),
        "too many frames": (good + [b""] * 10, Reason.FRAMES),
        "frame not bytes": ([good[0], good[1], "x", *good[3:]], Reason.FRAMES),
        "unknown topic": ([b"posex", *good[1:]], Reason.TOPIC),
        "topic of another type": ([topics.CUE.encode(), *good[1:]], Reason.TOPIC),
        "bad magic": ([good[0], prefix.pack(b"BIGF", SCHEMA_VERSION, 2) + body, *good[2:]], Reason.MAGIC),
        "old version": ([good[0], prefix.pack(MAGIC, SCHEMA_VERSION - 1, 2) + body, *good[2:]], Reason.VERSION),
        "newer version": ([good[0], prefix.pack(MAGIC, SCHEMA_VERSION + 1, 2) + body, *good[2:]], Reason.VERSION),
        "unknown type": ([good[0], prefix.pack(MAGIC, SCHEMA_VERSION, 99) + body, *good[2:]], Reason.TYPE),
        "short header": ([good[0], good[1][:5], *good[2:]], Reason.HEADER),
        "header not JSON": ([good[0], good[1][:-3], *good[2:]], Reason.HEADER),
        "header not UTF-8": ([good[0], good[1][:prefix.size] + b"\xff\xfe", *good[2:]], Reason.HEADER),
        "deeply nested JSON": ([good[0], good[1][:prefix.size] + b"[" * 60_000, *good[2:]], Reason.HEADER),
        "huge header": ([good[0], good[1] + b" " * 70_000, *good[2:]], Reason.SIZE),
        "truncated array": ([*good[:2], good[2][:-1], *good[3:]], Reason.ARRAY),
        "oversized array": ([*good[:2], good[2] + b"\0\0\0\0", *good[3:]], Reason.ARRAY),
        "empty array": ([*good[:2], b"", *good[3:]], Reason.ARRAY),
        "oversize message": (good[:2] + [bytes(DEFAULT_MAX_MESSAGE_BYTES)] + good[3:], Reason.SIZE),
        "negative seq": (edit_header(good, lambda d: d["f"].update(seq=-1)), Reason.FIELD),
        "NaN timestamp": (edit_header(good, lambda d: d["f"].update(t_capture_ns=math.nan)), Reason.FIELD),
        "inf timestamp": (edit_header(good, lambda d: d["f"].update(t_capture_ns=math.inf)), Reason.FIELD),
        "float timestamp": (edit_header(good, lambda d: d["f"].update(t_capture_ns=1.0)), Reason.FIELD),
        "huge int": (edit_header(good, lambda d: d["f"].update(seq=10**4000)), Reason.FIELD),
        "int as bool": (edit_header(good, lambda d: d["f"].update(detected=1)), Reason.FIELD),
        "missing field": (edit_header(good, lambda d: d["f"].pop("frame_index")), Reason.HEADER),
        "extra field": (edit_header(good, lambda d: d["f"].update(extra=1)), Reason.HEADER),
        "extra key": (edit_header(good, lambda d: d.update(x=1)), Reason.HEADER),
        "wire dtype f8": (edit_header(good, lambda d: d["a"]["presence"].__setitem__(0, "<f8")), Reason.ARRAY),
        "wire dtype big-endian": (edit_header(good, lambda d: d["a"]["presence"].__setitem__(0, ">f4")),
                                  Reason.ARRAY),
        "wire shape": (edit_header(good, lambda d: d["a"]["image_xyz"].__setitem__(1, [3, 33])), Reason.ARRAY),
        "wire shape not ints": (edit_header(good, lambda d: d["a"]["image_xyz"].__setitem__(1, [33.0, 3])),
                                Reason.HEADER),
        "array meta not a list": (edit_header(good, lambda d: d["a"].update(presence="x")), Reason.HEADER),
    }
    for name, (frames, reason) in cases.items():
        got = reason_of(frames)
        assert got is reason, f"{name}: expected {reason}, got {got}"


def test_decode_enforces_nan_rules_of_the_schema():
    lost = encode(a_pose(detected=False))
    claimed = edit_header(lost, lambda d: d["f"].update(detected=True))
    with pytest.raises(CodecError, match="Pose.image_xyz: NaN or inf not allowed when detected=True"):
        decode(claimed)
    inf = np.full((N_LANDMARKS, 3), np.inf, np.float32).tobytes()
    assert reason_of([*lost[:2], inf, *lost[3:]]) is Reason.ARRAY


def test_decode_rejects_a_float_field_too_large_for_a_float():
    frames = edit_header(encode(Heartbeat(0, 0, "p", ProcessState.RUNNING)), lambda d: d["f"].update(fps=10**400))
    with pytest.raises(CodecError, match="Heartbeat.fps: .* does not fit a float"):
        decode(frames)


def test_decode_rejects_an_unknown_enum_value_naming_the_allowed_ones():
    frames = edit_header(encode(Cue(0, 0, "c", "t")), lambda d: d["f"].update(severity="panic"))
    with pytest.raises(CodecError, match=r"Cue.severity: 'panic' is not a CueSeverity value.*'warning'"):
        decode(frames)


def test_decode_reads_variable_length_target_from_the_header_and_checks_it():
    msg = TargetMotion(1, 2, 30.0, "bige", np.arange(3 * N_COORDINATES, dtype=np.float64).reshape(3, -1))
    frames = encode(msg)
    assert decode(frames).coordinates.shape == (3, N_COORDINATES)
    assert reason_of(edit_header(frames, lambda d: d["a"]["coordinates"].__setitem__(1, [4, N_COORDINATES]))) \
        is Reason.ARRAY
    assert reason_of(edit_header(frames, lambda d: d["a"]["coordinates"].__setitem__(1, [2**62, 2**62]))) \
        is Reason.ARRAY


# --- fuzzing: any input gives a message or a CodecError, nothing else ------------------------------------

@FUZZ
@given(st.lists(st.binary(max_size=200), max_size=9))
def test_random_frames_raise_codec_error(frames):
    with pytest.raises(CodecError):
        decode(frames)


@FUZZ
@given(st.sampled_from(topics.ALL_TOPICS), st.binary(max_size=300), st.lists(st.binary(max_size=300), max_size=5))
def test_random_header_after_a_valid_topic_raises_codec_error(topic, header, rest):
    with pytest.raises(CodecError):
        decode([topic.encode(), MAGIC + header, *rest])


@FUZZ
@given(messages, st.data())
def test_flipped_header_bytes_give_codec_error_or_a_valid_message(msg, data):
    frames = encode(msg)
    header = bytearray(frames[1])
    for _ in range(data.draw(st.integers(1, 4))):
        header[data.draw(st.integers(0, len(header) - 1))] ^= data.draw(st.integers(1, 255))
    try:
        out = decode([frames[0], bytes(header), *frames[2:]])
    except CodecError:
        return
    assert type(out) is type(msg)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@FUZZ
@given(messages, st.data())
def test_arbitrary_json_in_a_header_field_gives_codec_error_or_a_valid_message(msg, data):
    frames = encode(msg)
    section = data.draw(st.sampled_from(["f", "a"] if msg.__class__ in (Pose, Kinematics, TargetMotion) else ["f"]))

    def edit(doc):
        key = data.draw(st.sampled_from(sorted(doc[section])))
        doc[section][key] = data.draw(json_values)

    try:
        out = decode(edit_header(frames, edit))
    except CodecError:
        return
    assert type(out) is type(msg)


def _has_sized_payload(msg) -> bool:
    return not (isinstance(msg, FrameInfo) and msg.image_encoding is ImageEncoding.JPEG)  # JPEG: any length


@FUZZ
@given(messages.filter(_has_sized_payload), st.data())
def test_truncated_or_grown_payload_frames_raise_codec_error(msg, data):
    frames = encode(msg)
    if len(frames) == 2:
        frames = frames + [data.draw(st.binary(max_size=20))]  # a payload frame this type does not have
    else:
        i = data.draw(st.integers(2, len(frames) - 1))
        f = frames[i]
        cut = data.draw(st.integers(1, 16))
        frames[i] = f[:-cut] if len(f) >= cut and data.draw(st.booleans()) else f + bytes(cut)
    with pytest.raises(CodecError):
        decode(frames)


@FUZZ
@given(messages, st.data())
def test_dropped_or_duplicated_frames_raise_codec_error(msg, data):
    frames = encode(msg)
    if data.draw(st.booleans()):
        del frames[data.draw(st.integers(0, len(frames) - 1))]
    else:
        i = data.draw(st.integers(0, len(frames) - 1))
        frames.insert(i, frames[i])
    with pytest.raises(CodecError):
        decode(frames)


def test_pose_presence_may_be_nan_when_detected_because_the_legacy_backend_does_not_report_it():
    nan_presence = np.full(N_LANDMARKS, np.nan, dtype=np.float32)
    pose = Pose(seq=0, t_capture_ns=1, frame_index=0, detected=True,
                image_xyz=np.zeros((N_LANDMARKS, 3), np.float32), world_xyz=np.zeros((N_LANDMARKS, 3), np.float32),
                visibility=np.ones(N_LANDMARKS, np.float32), presence=nan_presence)
    back = decode(encode(pose))
    assert back.detected and np.isnan(back.presence).all()
    bad = Pose(seq=0, t_capture_ns=1, frame_index=0, detected=True,
               image_xyz=np.full((N_LANDMARKS, 3), np.nan, np.float32), world_xyz=np.zeros((N_LANDMARKS, 3), np.float32),
               visibility=np.ones(N_LANDMARKS, np.float32), presence=nan_presence)
    with pytest.raises(CodecError, match="image_xyz"):
        encode(bad)


def test_a_camera_calibration_with_nan_is_rejected():
    eye = np.eye(3)
    eye[0, 0] = np.nan
    bad = CameraCalibration(0, 1, 640, 480, np.array([500.0, 500.0, 320.0, 240.0]), eye, np.zeros(3))
    with pytest.raises(CodecError, match="rotation_cw") as info:
        encode(bad)
    assert info.value.reason is Reason.ARRAY
