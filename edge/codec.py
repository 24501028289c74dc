"""Binary codec of the message bus: typed message <-> ZeroMQ multipart frames (no pickle).

Inputs: a message of ``edge.messages`` (encode) or the frames of one received multipart message
(decode). Outputs: the frames, or the message.

Wire format of one message (all frames are plain bytes):

- frame 0: the topic (``edge.topics``), ASCII;
- frame 1: the header: ``struct "<4sHB"`` (magic ``b"BIGE"``, schema version
  ``edge.messages.SCHEMA_VERSION``, message type code) followed by UTF-8 JSON
  ``{"f": {scalar field: value}, "a": {array field: [dtype, shape]}}``; enums travel as their value;
- frames 2...: one frame per numpy array field, raw little-endian C-order bytes, in schema order, then
  one frame per bytes field (``FrameInfo.image``), always present, empty when there is no image.

Decoding trusts nothing on the wire: each array's dtype and fixed dimensions come from the schema
below; the dtype and shape in the header are only checked against it (a variable dimension, the T of
``TargetMotion``, is read from the header and checked against the frame length). Encoding and decoding
apply the same validation, so a producer learns of a bad message when it publishes it:

- every message: the exact frame count; total size <= ``max_message_bytes`` (default 8 MiB; a 1280x720
  BGR8 frame is 2.7 MiB); header <= 64 KiB; no missing or extra JSON keys;
- integers (seq, timestamps, indices, durations) are ints (not bools, not floats) in [0, 2**63);
  FrameInfo width/height >= 1;
- floats are finite, >= 0, except ``Kinematics.marker_rms_m`` which may be NaN; TargetMotion fps > 0;
- arrays never hold +-inf. NaN is allowed only where the schema says a value is absent: in every Pose
  array when ``detected`` is False, in ``Pose.presence`` always (the legacy MediaPipe API does not
  report it), and in ``Kinematics.coordinates`` when ``valid`` is False (before
  the first valid frame). TargetMotion has T >= 1 rows, all finite; CameraCalibration arrays are finite;
- strings must be valid Unicode (UTF-8 encodable); FrameInfo.image is empty for NONE, exactly
  width*height*3 bytes for BGR8, and starts with the JPEG SOI marker for JPEG.

Anything else raises ``CodecError`` (a ``ValueError``) with a ``reason`` for counting and a message
naming the field and value; ``decode`` raises nothing else for any input. Decoded arrays are read-only
views of the received bytes (messages are immutable).
"""

from __future__ import annotations

import enum
import json
import math
import numbers
import struct
from dataclasses import dataclass, fields
from typing import Any, Callable, Sequence

import numpy as np

from edge import topics
from edge.messages import (
    N_COORDINATES,
    CameraCalibration,
    N_LANDMARKS,
    SCHEMA_VERSION,
    Cue,
    CueSeverity,
    FrameInfo,
    Heartbeat,
    ImageEncoding,
    Kinematics,
    Message,
    Pose,
    ProcessState,
    TargetMotion,
)

MAGIC = b"BIGE"
DEFAULT_MAX_MESSAGE_BYTES = 8 * 1024 * 1024
MAX_HEADER_BYTES = 64 * 1024
_PREFIX = struct.Struct("<4sHB")  # magic, schema version, type code
_INT_LIMIT = 2**63
_JPEG_SOI = b"\xff\xd8"


class Reason(enum.Enum):
    """Why a message was rejected (the key subscribers count rejections by)."""

    FRAMES = "frames"  # not a list of bytes-like frames, or the wrong number of frames
    SIZE = "size"  # over max_message_bytes or the header limit
    TOPIC = "topic"  # unknown topic, or a topic that does not match the message type
    MAGIC = "magic"
    VERSION = "version"
    TYPE = "type"  # unknown type code, or not a message class on encode
    HEADER = "header"  # truncated header, JSON that does not parse or has missing/extra keys
    FIELD = "field"  # a scalar field of the wrong type or out of range
    ARRAY = "array"  # wrong dtype/shape/size, or NaN/inf where not allowed


class CodecError(ValueError):
    """A message that cannot be encoded or decoded; ``reason`` classifies it."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class _Kind(enum.Enum):
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    STR = "str"
    ENUM = "enum"
    FLOAT_MAP = "float_map"  # dict[str, float], values finite and >= 0


@dataclass(frozen=True)
class _Scalar:
    name: str
    kind: _Kind
    minimum: int = 0  # INT and FLOAT
    nan_ok: bool = False  # FLOAT
    enum_cls: type[enum.Enum] | None = None  # ENUM


@dataclass(frozen=True)
class _Array:
    name: str
    dtype: np.dtype  # little-endian wire dtype
    shape: tuple[int, ...]  # -1: variable length >= 1, read from the header
    nan_unless: str | None  # NaN allowed when this bool field is False; None: never
    nan_always: bool = False  # NaN allowed at any time (a value the backend may not report)


@dataclass(frozen=True)
class _Schema:
    cls: type
    code: int
    scalars: tuple[_Scalar, ...]
    arrays: tuple[_Array, ...] = ()
    blobs: tuple[str, ...] = ()
    check: Callable[[dict[str, Any]], None] | None = None  # cross-field checks on constructor kwargs

    @property
    def topic(self) -> str:
        return topics.TOPIC_OF_CLASS[self.cls]

    @property
    def n_frames(self) -> int:
        return 2 + len(self.arrays) + len(self.blobs)


def _ints(*names: str) -> tuple[_Scalar, ...]:
    return tuple(_Scalar(n, _Kind.INT) for n in names)


def _check_frame_image(kw: dict[str, Any]) -> None:
    encoding, image = kw["image_encoding"], kw["image"]
    if encoding is ImageEncoding.NONE and image:
        raise CodecError(Reason.FIELD, f"FrameInfo.image: encoding NONE but {len(image)} image bytes")
    if encoding is ImageEncoding.BGR8 and len(image) != kw["width"] * kw["height"] * 3:
        raise CodecError(Reason.FIELD, f"FrameInfo.image: BGR8 {kw['width']}x{kw['height']} needs "
                                       f"{kw['width'] * kw['height'] * 3} bytes, got {len(image)}")
    if encoding is ImageEncoding.JPEG and not image.startswith(_JPEG_SOI):
        raise CodecError(Reason.FIELD, "FrameInfo.image: encoding JPEG but the bytes do not start with "
                                       "the JPEG SOI marker FF D8")


def _check_target_fps(kw: dict[str, Any]) -> None:
    if not kw["fps"] > 0:
        raise CodecError(Reason.FIELD, f"TargetMotion.fps: must be > 0, got {kw['fps']}")


_F4 = np.dtype("<f4")
_F8 = np.dtype("<f8")
_SCHEMAS: tuple[_Schema, ...] = (
    _Schema(FrameInfo, 1,
            _ints("seq", "t_capture_ns", "frame_index")
            + (_Scalar("width", _Kind.INT, minimum=1), _Scalar("height", _Kind.INT, minimum=1),
               _Scalar("source", _Kind.STR), _Scalar("image_encoding", _Kind.ENUM, enum_cls=ImageEncoding)),
            blobs=("image",), check=_check_frame_image),
    _Schema(Pose, 2,
            _ints("seq", "t_capture_ns", "frame_index", "inference_ns", "image_width_px", "image_height_px",
                  "t_source_ns")
            + (_Scalar("detected", _Kind.BOOL),),
            arrays=(_Array("image_xyz", _F4, (N_LANDMARKS, 3), "detected"),
                    _Array("world_xyz", _F4, (N_LANDMARKS, 3), "detected"),
                    _Array("visibility", _F4, (N_LANDMARKS,), "detected"),
                    _Array("presence", _F4, (N_LANDMARKS,), "detected", nan_always=True))),
    _Schema(Kinematics, 3,
            _ints("seq", "t_capture_ns", "frame_index", "solve_ns", "t_source_ns")
            + (_Scalar("valid", _Kind.BOOL), _Scalar("marker_rms_m", _Kind.FLOAT, nan_ok=True)),
            arrays=(_Array("coordinates", _F8, (N_COORDINATES,), "valid"),)),
    _Schema(TargetMotion, 4,
            _ints("seq", "t_capture_ns") + (_Scalar("fps", _Kind.FLOAT), _Scalar("generator", _Kind.STR)),
            arrays=(_Array("coordinates", _F8, (-1, N_COORDINATES), None),), check=_check_target_fps),
    _Schema(Cue, 5,
            _ints("seq", "t_capture_ns")
            + (_Scalar("code", _Kind.STR), _Scalar("text", _Kind.STR),
               _Scalar("severity", _Kind.ENUM, enum_cls=CueSeverity))),
    _Schema(Heartbeat, 6,
            _ints("seq", "t_capture_ns")
            + (_Scalar("process", _Kind.STR), _Scalar("state", _Kind.ENUM, enum_cls=ProcessState),
               _Scalar("detail", _Kind.STR), _Scalar("fps", _Kind.FLOAT),
               _Scalar("stage_ms", _Kind.FLOAT_MAP))),
    _Schema(CameraCalibration, 7,
            _ints("seq", "t_capture_ns")
            + (_Scalar("width", _Kind.INT, minimum=1), _Scalar("height", _Kind.INT, minimum=1)),
            arrays=(_Array("intrinsics", _F8, (4,), None), _Array("rotation_cw", _F8, (3, 3), None),
                    _Array("translation_cw_m", _F8, (3,), None))),
)
_BY_CLASS = {s.cls: s for s in _SCHEMAS}
_BY_CODE = {s.code: s for s in _SCHEMAS}
_BY_TOPIC = {s.topic.encode("ascii"): s for s in _SCHEMAS}
_MAX_FRAMES = max(s.n_frames for s in _SCHEMAS)


def _check_schemas_cover_messages() -> None:
    for s in _SCHEMAS:
        declared = {f.name for f in fields(s.cls)}
        covered = {x.name for x in s.scalars} | {a.name for a in s.arrays} | set(s.blobs)
        if declared != covered:
            raise AssertionError(f"codec schema of {s.cls.__name__} is out of date with edge.messages: "
                                 f"fields {sorted(declared ^ covered)}")
    if set(_BY_CLASS) != set(topics.MESSAGE_CLASS.values()):
        raise AssertionError("codec schemas and edge.topics.MESSAGE_CLASS list different message classes")


_check_schemas_cover_messages()


# --- scalar validation: one function per direction, shared checks ------------------------------------

def _int(value: Any, minimum: int, where: str) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_)):
        raise CodecError(Reason.FIELD, f"{where}: expected an int, got {type(value).__name__} {value!r:.60}")
    v = int(value)
    if not minimum <= v < _INT_LIMIT:
        raise CodecError(Reason.FIELD, f"{where}: must be in [{minimum}, 2**63), got {v!r:.60}")
    return v


def _float(value: Any, nan_ok: bool, where: str) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        raise CodecError(Reason.FIELD, f"{where}: expected a float, got {type(value).__name__} {value!r:.60}")
    try:
        v = float(value)
    except OverflowError:
        raise CodecError(Reason.FIELD, f"{where}: {value!r:.60} does not fit a float") from None
    if math.isnan(v):
        if not nan_ok:
            raise CodecError(Reason.FIELD, f"{where}: NaN is not allowed")
    elif math.isinf(v) or v < 0:
        raise CodecError(Reason.FIELD, f"{where}: must be finite and >= 0, got {v}")
    return v


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise CodecError(Reason.FIELD, f"{where}: expected a str, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise CodecError(Reason.FIELD, f"{where}: not valid Unicode (lone surrogate) in {value!r:.60}") from None
    return value


def _float_map(value: Any, where: str) -> dict[str, float]:
    if not isinstance(value, dict):
        raise CodecError(Reason.FIELD, f"{where}: expected a dict of str -> float, got {type(value).__name__}")
    return {_str(k, f"{where} key"): _float(v, False, f"{where}[{k!r:.40}]") for k, v in value.items()}


def _scalar_to_wire(spec: _Scalar, value: Any, where: str) -> Any:
    if spec.kind is _Kind.ENUM:
        assert spec.enum_cls is not None
        if not isinstance(value, spec.enum_cls):
            raise CodecError(Reason.FIELD, f"{where}: expected {spec.enum_cls.__name__}, got {value!r:.60}")
        return value.value
    return _scalar_value(spec, value, where)


def _scalar_from_wire(spec: _Scalar, raw: Any, where: str) -> Any:
    if spec.kind is _Kind.ENUM:
        assert spec.enum_cls is not None
        try:
            return spec.enum_cls(raw)
        except (ValueError, TypeError):
            raise CodecError(Reason.FIELD, f"{where}: {raw!r:.60} is not a {spec.enum_cls.__name__} value; "
                                           f"expected one of {[e.value for e in spec.enum_cls]}") from None
    return _scalar_value(spec, raw, where)


def _scalar_value(spec: _Scalar, value: Any, where: str) -> Any:
    if spec.kind is _Kind.INT:
        return _int(value, spec.minimum, where)
    if spec.kind is _Kind.FLOAT:
        return _float(value, spec.nan_ok, where)
    if spec.kind is _Kind.BOOL:
        if not isinstance(value, (bool, np.bool_)):
            raise CodecError(Reason.FIELD, f"{where}: expected a bool, got {type(value).__name__} {value!r:.60}")
        return bool(value)
    if spec.kind is _Kind.STR:
        return _str(value, where)
    return _float_map(value, where)


# --- arrays -------------------------------------------------------------------------------------------

def _check_shape(spec: _Array, shape: Sequence[int], where: str) -> None:
    if len(shape) != len(spec.shape) or any(
            (want == -1 and got < 1) or (want != -1 and got != want) for want, got in zip(spec.shape, shape)):
        pattern = tuple("T>=1" if d == -1 else d for d in spec.shape)
        raise CodecError(Reason.ARRAY, f"{where}: expected shape {pattern}, got {tuple(shape)}")


def _check_values(spec: _Array, arr: np.ndarray, kw: dict[str, Any], where: str) -> None:
    if not spec.nan_always and (spec.nan_unless is None or kw[spec.nan_unless]):
        if not np.isfinite(arr).all():
            when = "" if spec.nan_unless is None else f" when {spec.nan_unless}=True"
            raise CodecError(Reason.ARRAY, f"{where}: NaN or inf not allowed{when}")
    elif np.isinf(arr).any():
        raise CodecError(Reason.ARRAY, f"{where}: inf not allowed (NaN marks a missing value)")


def _check_consistency(schema: _Schema, kw: dict[str, Any]) -> None:
    name = schema.cls.__name__
    for a in schema.arrays:
        _check_values(a, kw[a.name], kw, f"{name}.{a.name}")
    if schema.check is not None:
        schema.check(kw)


# --- public API ---------------------------------------------------------------------------------------

def encode(msg: Message, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> list[bytes]:
    """Encode a message as the frames of one ZeroMQ multipart message.

    Args:
        msg: an instance of one of the message classes of ``edge.messages``.
        max_message_bytes: limit on the total size of all frames.

    Returns:
        ``[topic, header, *array frames, *bytes frames]``.

    Raises:
        CodecError: not a message, a field that breaks the rules in the module docstring, or too large.
    """
    schema = _BY_CLASS.get(type(msg))
    if schema is None:
        raise CodecError(Reason.TYPE, f"cannot encode {type(msg).__name__}: not a message class of edge.messages")
    name = schema.cls.__name__
    kw: dict[str, Any] = {}
    wire_fields: dict[str, Any] = {}
    for s in schema.scalars:
        value = getattr(msg, s.name)
        wire_fields[s.name] = _scalar_to_wire(s, value, f"{name}.{s.name}")
        kw[s.name] = value if s.kind is _Kind.ENUM else wire_fields[s.name]  # normalised (e.g. np.int64 -> int)
    wire_arrays: dict[str, list[Any]] = {}
    payload: list[bytes] = []
    for a in schema.arrays:
        arr = getattr(msg, a.name)
        where = f"{name}.{a.name}"
        if not isinstance(arr, np.ndarray) or arr.dtype != a.dtype:
            got = arr.dtype if isinstance(arr, np.ndarray) else type(arr).__name__
            raise CodecError(Reason.ARRAY, f"{where}: expected a numpy array of {a.dtype}, got {got}")
        _check_shape(a, arr.shape, where)
        kw[a.name] = arr
        wire_arrays[a.name] = [a.dtype.str, list(arr.shape)]
        payload.append(arr.tobytes(order="C"))  # dtype is the little-endian wire dtype
    for b in schema.blobs:
        blob = getattr(msg, b)
        if not isinstance(blob, bytes):
            raise CodecError(Reason.FIELD, f"{name}.{b}: expected bytes, got {type(blob).__name__}")
        kw[b] = blob
        payload.append(blob)
    _check_consistency(schema, kw)
    body = json.dumps({"f": wire_fields, "a": wire_arrays}, separators=(",", ":")).encode("utf-8")
    header = _PREFIX.pack(MAGIC, SCHEMA_VERSION, schema.code) + body
    if len(header) > MAX_HEADER_BYTES:
        raise CodecError(Reason.SIZE, f"{name}: header of {len(header)} bytes exceeds {MAX_HEADER_BYTES}")
    frames = [schema.topic.encode("ascii"), header, *payload]
    total = sum(len(f) for f in frames)
    if total > max_message_bytes:
        raise CodecError(Reason.SIZE, f"{name}: {total} bytes exceeds max_message_bytes={max_message_bytes}")
    return frames


def decode(frames: Sequence[bytes], max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> Message:
    """Decode the frames of one received multipart message.

    Args:
        frames: the frames (bytes, bytearray or memoryview), as from ``socket.recv_multipart()``.
        max_message_bytes: limit on the total size of all frames.

    Returns:
        The message (arrays are read-only views of the frames).

    Raises:
        CodecError: for anything malformed (see the module docstring); never any other exception.
    """
    if not isinstance(frames, (list, tuple)):
        raise CodecError(Reason.FRAMES, f"expected a list of frames, got {type(frames).__name__}")
    if not 2 <= len(frames) <= _MAX_FRAMES:
        raise CodecError(Reason.FRAMES, f"expected 2 to {_MAX_FRAMES} frames (topic, header, payload), "
                                        f"got {len(frames)}")
    views = []
    for i, f in enumerate(frames):
        try:
            views.append(memoryview(f).cast("B"))
        except (TypeError, ValueError):
            raise CodecError(Reason.FRAMES, f"frame {i} is not a contiguous bytes-like object: "
                                            f"{type(f).__name__}") from None
    total = sum(v.nbytes for v in views)
    if total > max_message_bytes:
        raise CodecError(Reason.SIZE, f"{total} bytes exceeds max_message_bytes={max_message_bytes}")
    topic = bytes(views[0])
    if topic not in _BY_TOPIC:
        raise CodecError(Reason.TOPIC, f"unknown topic {topic[:40]!r}; known: {', '.join(topics.ALL_TOPICS)}")
    header = views[1]
    if header.nbytes < _PREFIX.size:
        raise CodecError(Reason.HEADER, f"header of {header.nbytes} bytes is shorter than its "
                                        f"{_PREFIX.size}-byte prefix")
    if header.nbytes > MAX_HEADER_BYTES:
        raise CodecError(Reason.SIZE, f"header of {header.nbytes} bytes exceeds {MAX_HEADER_BYTES}")
    magic, version, code = _PREFIX.unpack_from(header)
    if magic != MAGIC:
        raise CodecError(Reason.MAGIC, f"bad magic {magic!r}, expected {MAGIC!r}")
    if version != SCHEMA_VERSION:
        raise CodecError(Reason.VERSION, f"schema version {version}, this build speaks {SCHEMA_VERSION}")
    schema = _BY_CODE.get(code)
    if schema is None:
        raise CodecError(Reason.TYPE, f"unknown message type code {code}")
    if _BY_TOPIC[topic] is not schema:
        raise CodecError(Reason.TOPIC, f"topic {topic.decode()!r} carries {_BY_TOPIC[topic].cls.__name__}, "
                                       f"but the header says {schema.cls.__name__}")
    name = schema.cls.__name__
    if len(frames) != schema.n_frames:
        raise CodecError(Reason.FRAMES, f"{name}: expected {schema.n_frames} frames (topic, header, "
                                        f"{len(schema.arrays)} arrays, {len(schema.blobs)} bytes), got {len(frames)}")
    try:
        doc = json.loads(bytes(header[_PREFIX.size:]).decode("utf-8"))
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise CodecError(Reason.HEADER, f"{name}: header is not valid UTF-8 JSON ({type(e).__name__})") from None
    if not isinstance(doc, dict) or set(doc) != {"f", "a"}:
        raise CodecError(Reason.HEADER, f"{name}: header must be a JSON object with keys 'f' and 'a'")
    raw_fields, raw_arrays = doc["f"], doc["a"]
    _check_keys(raw_fields, [s.name for s in schema.scalars], f"{name} fields")
    _check_keys(raw_arrays, [a.name for a in schema.arrays], f"{name} arrays")
    kw: dict[str, Any] = {s.name: _scalar_from_wire(s, raw_fields[s.name], f"{name}.{s.name}")
                          for s in schema.scalars}
    for a, view in zip(schema.arrays, views[2:]):
        kw[a.name] = _array_from_wire(a, raw_arrays[a.name], view, f"{name}.{a.name}")
    for b, i in zip(schema.blobs, range(2 + len(schema.arrays), len(frames))):
        kw[b] = frames[i] if type(frames[i]) is bytes else bytes(views[i])
    _check_consistency(schema, kw)
    try:
        return schema.cls(**kw)
    except (TypeError, ValueError) as e:  # the message's own checks; the codec's are stricter
        raise CodecError(Reason.FIELD, f"{name}: {e}") from None


def _check_keys(obj: Any, expected: list[str], where: str) -> None:
    if not isinstance(obj, dict):
        raise CodecError(Reason.HEADER, f"{where}: expected a JSON object, got {type(obj).__name__}")
    missing, extra = set(expected) - set(obj), set(obj) - set(expected)
    if missing or extra:
        raise CodecError(Reason.HEADER, f"{where}: missing {sorted(missing)}, extra {sorted(extra)[:10]}")


def _array_from_wire(spec: _Array, meta: Any, view: memoryview, where: str) -> np.ndarray:
    if (not isinstance(meta, list) or len(meta) != 2 or not isinstance(meta[1], list)
            or not all(isinstance(d, int) and not isinstance(d, bool) for d in meta[1])):
        raise CodecError(Reason.HEADER, f"{where}: array header must be [dtype, [int, ...]], got {meta!r:.80}")
    dtype, shape = meta
    if dtype != spec.dtype.str:
        raise CodecError(Reason.ARRAY, f"{where}: dtype {dtype!r:.20} on the wire, schema says {spec.dtype.str}")
    _check_shape(spec, shape, where)
    expected = math.prod(shape) * spec.dtype.itemsize
    if view.nbytes != expected:
        raise CodecError(Reason.ARRAY, f"{where}: {view.nbytes} bytes, shape {tuple(shape)} needs {expected} "
                                       f"({'truncated' if view.nbytes < expected else 'oversized'})")
    native = spec.dtype.newbyteorder("=")
    return np.frombuffer(view, dtype=spec.dtype).reshape(shape).astype(native, copy=False)
