"""Topic names of the message bus and the mapping topic <-> message class.

Every stream of the live pipeline travels on one topic; each topic carries exactly one message class
from ``edge.messages``. Code elsewhere refers to these constants, never to string literals. On the
wire a topic is the first ZeroMQ frame (ASCII). ZeroMQ subscriptions match by prefix, so no topic may
be a prefix of another (checked at import).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final, Mapping

from edge.messages import CameraCalibration, Cue, FrameInfo, Heartbeat, Kinematics, Pose, TargetMotion

FRAME: Final = "frame"
POSE: Final = "pose"
KINEMATICS: Final = "kinematics"
TARGET: Final = "target"
CUE: Final = "cue"
HEARTBEAT: Final = "heartbeat"
CALIBRATION: Final = "calibration"

ALL_TOPICS: Final[tuple[str, ...]] = (FRAME, POSE, KINEMATICS, TARGET, CUE, HEARTBEAT, CALIBRATION)

MESSAGE_CLASS: Final[Mapping[str, type]] = MappingProxyType({
    FRAME: FrameInfo,
    POSE: Pose,
    KINEMATICS: Kinematics,
    TARGET: TargetMotion,
    CUE: Cue,
    HEARTBEAT: Heartbeat,
    CALIBRATION: CameraCalibration,
})
"""Topic -> the message class it carries."""

TOPIC_OF_CLASS: Final[Mapping[type, str]] = MappingProxyType({cls: t for t, cls in MESSAGE_CLASS.items()})
"""Message class -> its topic."""



def _check_no_prefixes(topics: tuple[str, ...]) -> None:
    for a in topics:
        for b in topics:
            if a != b and b.startswith(a):
                raise AssertionError(f"topic {a!r} is a prefix of {b!r}: ZeroMQ prefix filtering would mix them")


_check_no_prefixes(ALL_TOPICS)


def topic_of(msg: object) -> str:
    """The topic a message travels on.

    Raises:
        TypeError: ``msg`` is not an instance of one of the message classes.
    """
    try:
        return TOPIC_OF_CLASS[type(msg)]
    except KeyError:
        raise TypeError(f"no topic for {type(msg).__name__}: not a message class of edge.messages") from None


def message_class(topic: str) -> type:
    """The message class carried on ``topic``.

    Raises:
        ValueError: ``topic`` is not one of ALL_TOPICS.
    """
    try:
        return MESSAGE_CLASS[topic]
    except (KeyError, TypeError):
        raise ValueError(f"unknown topic {topic!r}; known topics: {', '.join(ALL_TOPICS)}") from None
