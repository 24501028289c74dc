"""MediaPipe BlazePose landmark indices and their markers on the skeletal model.

The marker names are those of pose2sim's ``Markers_BlazePose.xml`` (the marker set of the product's
model); MediaPipe landmarks without a marker (eye inner/outer corners, ears, mouth) are not used by
the lifter.
"""

from __future__ import annotations

NOSE = 0
LEFT_EYE = 2
RIGHT_EYE = 5
LEFT_SHOULDER, RIGHT_SHOULDER = 11, 12
LEFT_ELBOW, RIGHT_ELBOW = 13, 14
LEFT_WRIST, RIGHT_WRIST = 15, 16
LEFT_PINKY, RIGHT_PINKY = 17, 18
LEFT_INDEX, RIGHT_INDEX = 19, 20
LEFT_THUMB, RIGHT_THUMB = 21, 22
LEFT_HIP, RIGHT_HIP = 23, 24
LEFT_KNEE, RIGHT_KNEE = 25, 26
LEFT_ANKLE, RIGHT_ANKLE = 27, 28
LEFT_HEEL, RIGHT_HEEL = 29, 30
LEFT_FOOT_INDEX, RIGHT_FOOT_INDEX = 31, 32

LANDMARK_TO_MARKER: dict[int, str] = {
    NOSE: "Nose", LEFT_EYE: "LEye", RIGHT_EYE: "REye",
    LEFT_SHOULDER: "LShoulder", RIGHT_SHOULDER: "RShoulder",
    LEFT_ELBOW: "LElbow", RIGHT_ELBOW: "RElbow",
    LEFT_WRIST: "LWrist", RIGHT_WRIST: "RWrist",
    LEFT_PINKY: "LPinky", RIGHT_PINKY: "RPinky",
    LEFT_INDEX: "LIndex", RIGHT_INDEX: "RIndex",
    LEFT_THUMB: "LThumb", RIGHT_THUMB: "RThumb",
    LEFT_HIP: "LHip", RIGHT_HIP: "RHip",
    LEFT_KNEE: "LKnee", RIGHT_KNEE: "RKnee",
    LEFT_ANKLE: "LAnkle", RIGHT_ANKLE: "RAnkle",
    LEFT_HEEL: "LHeel", RIGHT_HEEL: "RHeel",
    LEFT_FOOT_INDEX: "LBigToe", RIGHT_FOOT_INDEX: "RBigToe",
}
"""MediaPipe landmark index -> marker name on the model (25 markers)."""

SKELETON_CONNECTIONS: tuple[tuple[int, int], ...] = (
    (LEFT_SHOULDER, RIGHT_SHOULDER), (LEFT_HIP, RIGHT_HIP),
    (LEFT_SHOULDER, LEFT_HIP), (RIGHT_SHOULDER, RIGHT_HIP),
    (LEFT_SHOULDER, LEFT_ELBOW), (LEFT_ELBOW, LEFT_WRIST),
    (RIGHT_SHOULDER, RIGHT_ELBOW), (RIGHT_ELBOW, RIGHT_WRIST),
    (LEFT_HIP, LEFT_KNEE), (LEFT_KNEE, LEFT_ANKLE), (LEFT_ANKLE, LEFT_HEEL),
    (LEFT_HEEL, LEFT_FOOT_INDEX), (LEFT_ANKLE, LEFT_FOOT_INDEX),
    (RIGHT_HIP, RIGHT_KNEE), (RIGHT_KNEE, RIGHT_ANKLE), (RIGHT_ANKLE, RIGHT_HEEL),
    (RIGHT_HEEL, RIGHT_FOOT_INDEX), (RIGHT_ANKLE, RIGHT_FOOT_INDEX),
)
"""Landmark pairs drawn as the body skeleton (face and hands omitted)."""
