import dataclasses
import math

import cv2
import numpy as np
import pytest

from calibration.camera import PinholeCamera
from edge.messages import (BIGE_COORDINATES, N_LANDMARKS, CameraCalibration, Cue, CueSeverity, FrameInfo,
                           Heartbeat, ImageEncoding, Kinematics, Pose, ProcessState, TargetMotion)
from edge.overlay import (POSE_CONNECTIONS, CycleEvent, GhostModel, Overlay, OverlayConfig, OutputMode,
                          Panel, SquatCycleConfig, SquatCycleDetector, draw_ghost, ghost_model_from_tree,
                          ghost_points_px, skeleton_ghost_model)
from edge.skeleton.bige_map import from_bige

W, H = 640, 480
BG = 90  # grey level of the synthetic camera image


class FakeClock:
    def __init__(self, t_ns: int = 10_000_000_000) -> None:
        self.t_ns = t_ns

    def __call__(self) -> int:
        return self.t_ns


def frame_msg(t_ns: int, level: int = BG, seq: int = 0, size=(W, H),
              encoding: ImageEncoding = ImageEncoding.BGR8) -> FrameInfo:
    img = np.full((size[1], size[0], 3), level, dtype=np.uint8)
    data = img.tobytes() if encoding is ImageEncoding.BGR8 else cv2.imencode(".jpg", img)[1].tobytes()
    return FrameInfo(seq, t_ns, seq, size[0], size[1], "synthetic", data, encoding)


def standing_landmarks() -> np.ndarray:
    """Normalised image landmarks of a person facing the camera, centred, knees slightly bent."""
    px = np.zeros((N_LANDMARKS, 2))
    px[0:11] = (320, 80)                      # face points
    px[[1, 2, 3, 7, 9]] += (8, 0)             # subject's left side of the face is image right
    px[[4, 5, 6, 8, 10]] -= (8, 0)
    px[11], px[12] = (360, 140), (280, 140)   # shoulders (left = image right)
    px[13], px[14] = (380, 210), (260, 210)   # elbows
    px[15], px[16] = (385, 270), (255, 270)   # wrists
    px[[17, 19, 21]] = (388, 285)
    px[[18, 20, 22]] = (252, 285)
    px[23], px[24] = (345, 260), (295, 260)   # hips
    px[25], px[26] = (350, 350), (290, 350)   # knees
    px[27], px[28] = (348, 440), (292, 440)   # ankles
    px[[29, 31]] = (352, 455)
    px[[30, 32]] = (288, 455)
    lm = np.zeros((N_LANDMARKS, 3), dtype=np.float32)
    lm[:, 0] = px[:, 0] / W
    lm[:, 1] = px[:, 1] / H
    return lm


def pose_msg(t_ns: int, detected: bool = True, visibility: np.ndarray | None = None) -> Pose:
    n = np.full((N_LANDMARKS, 3), np.nan, dtype=np.float32)
    vis = np.ones(N_LANDMARKS, dtype=np.float32) if visibility is None else visibility.astype(np.float32)
    if not detected:
        return Pose(0, t_ns, 0, False, n, n, np.full(N_LANDMARKS, np.nan, np.float32),
                    np.full(N_LANDMARKS, np.nan, np.float32))
    return Pose(0, t_ns, 0, True, standing_landmarks(), np.zeros((N_LANDMARKS, 3), np.float32), vis, vis)


def kin_msg(t_ns: int, knee_deg: float = 60.0, hip_deg: float = 70.0, seq: int = 0) -> Kinematics:
    q = np.zeros(len(BIGE_COORDINATES))
    for side in ("l", "r"):
        q[BIGE_COORDINATES.index(f"knee_angle_{side}")] = knee_deg
        q[BIGE_COORDINATES.index(f"hip_flexion_{side}")] = hip_deg
        q[BIGE_COORDINATES.index(f"ankle_angle_{side}")] = 20.0
    q[BIGE_COORDINATES.index("pelvis_tilt")] = -20.0
    return Kinematics(seq, t_ns, seq, True, q, marker_rms_m=0.012)


def headless(**kw) -> OverlayConfig:
    return OverlayConfig(output=OutputMode.HEADLESS, **kw)


def only(*panels: Panel, **kw) -> OverlayConfig:
    return headless(panels=frozenset(panels), **kw)


# --- squat cycles -----------------------------------------------------------------------------------

def squat_knee_sequence(fps: float = 30.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """3 reps to 90 deg and one 25-deg fidget, standing pauses between, +-2.5 deg noise."""
    rng = np.random.default_rng(seed)
    parts = [np.full(30, 3.0)]
    for depth in (90.0, 25.0, 95.0, 85.0):
        phase = np.linspace(0, 2 * np.pi, int(2.4 * fps))
        parts += [3.0 + (depth - 3.0) * (1 - np.cos(phase)) / 2, np.full(25, 3.0)]
    knee = np.concatenate(parts) + rng.uniform(-2.5, 2.5, sum(map(len, parts)))
    return np.arange(len(knee)) / fps, knee


def test_cycle_detector_finds_three_reps_and_drops_the_fidget():
    det = SquatCycleDetector(SquatCycleConfig())
    t, knee = squat_knee_sequence()
    events = [e for ti, k in zip(t, knee) if (e := det.update(ti, k, 1.2 * k)) is not None]
    assert det.n_reps == 3
    S, E, D = CycleEvent.STARTED, CycleEvent.ENDED, CycleEvent.DISCARDED
    assert events == [S, E, S, D, S, E, S, E]
    traj = det.trajectory()  # the last rep, shown while standing
    assert traj[0, 0] == 0.0 and traj[0, 1] <= 12.0 and traj[-1, 1] < 12.0
    assert 80.0 < traj[:, 1].max() < 90.0
    np.testing.assert_allclose(traj[:, 2], 1.2 * traj[:, 1])


def test_cycle_detector_hysteresis_ignores_noise_around_one_threshold():
    det = SquatCycleDetector(SquatCycleConfig(start_knee_deg=20.0, end_knee_deg=12.0))
    seq = [3, 5, 22, 18, 23, 17, 40, 80, 60, 19, 21, 15, 13, 11, 21, 19, 5]
    events = [det.update(i / 30, float(k)) for i, k in enumerate(seq)]
    # one start at 22, dips to 17-19 never end it; end at 11; the bump to 21 starts a shallow one
    assert events.count(CycleEvent.STARTED) == 2
    assert events.count(CycleEvent.ENDED) == 1 and events.count(CycleEvent.DISCARDED) == 1
    assert det.n_reps == 1


def test_cycle_detector_ignores_nan_and_times_out():
    det = SquatCycleDetector(SquatCycleConfig(max_cycle_s=2.0))
    assert det.update(0.0, float("nan")) is None and not det.in_cycle
    assert det.update(0.0, 5.0) is None
    assert det.update(0.1, 50.0) is CycleEvent.STARTED
    assert det.update(1.0, float("nan")) is None and det.in_cycle
    assert det.update(3.0, 60.0) is CycleEvent.DISCARDED and not det.in_cycle
    assert det.n_reps == 0 and len(det.trajectory()) == 0


def test_cycle_config_validation():
    with pytest.raises(ValueError, match="end_knee_deg"):
        SquatCycleConfig(start_knee_deg=10.0, end_knee_deg=15.0)
    with pytest.raises(ValueError, match="min_depth_deg"):
        SquatCycleConfig(min_depth_deg=5.0)


# --- configuration ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw, match", [
    (dict(frame_size_px=(641, 480)), "even"),
    (dict(frame_size_px=(10, 10)), "frame_size_px"),
    (dict(mp4_path="out.avi"), "mp4_path"),
    (dict(snapshot_path="snap.jpg"), "snapshot_path"),
    (dict(ghost_alpha=1.5), "ghost_alpha"),
    (dict(mp4_fps=0.0), "mp4_fps"),
    (dict(panels=frozenset({"angles"})), "panels"),
])
def test_config_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        headless(**kw)


def test_colour_validation():
    from edge.overlay import OverlayColours
    with pytest.raises(ValueError, match="ghost"):
        OverlayColours(ghost=(0, 300, 0))


def test_connections_match_mediapipe():
    mp = pytest.importorskip("mediapipe")
    ours = {tuple(sorted(c)) for c in POSE_CONNECTIONS}
    assert ours == {tuple(sorted(c)) for c in mp.solutions.pose.POSE_CONNECTIONS}


# --- rendering --------------------------------------------------------------------------------------

def test_render_size_and_skeleton_pixels():
    clock = FakeClock()
    ov = Overlay(only(Panel.SKELETON), clock_ns=clock)
    t = clock.t_ns - 40_000_000
    ov.update(frame_msg(t))
    ov.update(pose_msg(t))
    img = ov.render()
    assert img.shape == (H, W, 3) and img.dtype == np.uint8
    lm = standing_landmarks()
    for k in (11, 12, 23, 24, 25, 26, 27, 28):
        x, y = round(lm[k, 0] * W), round(lm[k, 1] * H)
        assert np.abs(img[y, x].astype(int) - BG).max() > 40, f"landmark {k} not drawn"
    # midpoint of the right thigh bone
    x, y = round((lm[24, 0] + lm[26, 0]) / 2 * W), round((lm[24, 1] + lm[26, 1]) / 2 * H)
    assert np.abs(img[y, x].astype(int) - BG).max() > 40
    assert (img[5, 5] == BG).all() and (img[470, 10] == BG).all()  # background untouched
    assert ov.timer.p50_ms()["capture_to_overlay"] == pytest.approx(40.0)


def test_low_visibility_landmarks_are_hidden_and_faded():
    vis = np.ones(N_LANDMARKS)
    vis[27] = 0.05  # left ankle: hidden, so is the left shin
    vis[25] = 0.4   # left knee: faded
    ov = Overlay(only(Panel.SKELETON, min_visibility=0.3), clock_ns=FakeClock())
    ov.update(frame_msg(1))
    ov.update(pose_msg(1, visibility=vis))
    img = ov.render().astype(int)
    lm = standing_landmarks()
    ankle = round(lm[27, 0] * W), round(lm[27, 1] * H)
    assert (img[ankle[1], ankle[0]] == BG).all()
    knee = round(lm[25, 0] * W), round(lm[25, 1] * H)
    hip = round(lm[23, 0] * W), round(lm[23, 1] * H)
    assert img[knee[1], knee[0]].max() < img[hip[1], hip[0]].max()  # dimmer than a fully visible joint


def test_letterboxes_a_frame_of_another_aspect():
    ov = Overlay(only(), clock_ns=FakeClock())
    ov.update(frame_msg(1, level=200, size=(1280, 480)))  # 8:3 into 4:3 -> bars top and bottom
    img = ov.render()
    assert img.shape == (H, W, 3)
    assert (img[H // 2, W // 2] == 200).all() and (img[5, W // 2] == 0).all()


def test_jpeg_frames_and_bad_frames():
    ov = Overlay(only(), clock_ns=FakeClock())
    ov.update(frame_msg(1, level=150, encoding=ImageEncoding.JPEG))
    assert abs(int(ov.render()[H // 2, W // 2, 0]) - 150) <= 2
    with pytest.raises(ValueError, match="bytes"):
        ov.update(FrameInfo(0, 2, 0, W, H, "synthetic", b"\x00" * 100, ImageEncoding.BGR8))
    ov.update(FrameInfo(1, 3, 1, W, H, "synthetic", b"not a jpeg", ImageEncoding.JPEG))
    with pytest.raises(ValueError, match="JPEG"):
        ov.render()
    with pytest.raises(TypeError, match="not a pipeline message"):
        ov.update("hello")  # type: ignore[arg-type]


def test_frame_is_synchronised_to_the_pose():
    ov = Overlay(only(), clock_ns=FakeClock())
    ov.update(frame_msg(100, level=50))
    ov.update(frame_msg(200, level=150))
    ov.update(pose_msg(100))
    assert (ov.render()[5, 5] == 50).all()  # the frame the pose was detected in
    ov = Overlay(only(sync_frame_to_pose=False), clock_ns=FakeClock())
    for m in (frame_msg(100, level=50), frame_msg(200, level=150), pose_msg(100)):
        ov.update(m)
    assert (ov.render()[5, 5] == 150).all()


def banner_region(ov: Overlay, img: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = ov.layout.banner
    return img[y0:y1, x0:x1].astype(int)


def test_no_person_banner():
    clock = FakeClock()
    ov = Overlay(only(Panel.BANNER), clock_ns=clock)
    ov.update(frame_msg(clock.t_ns))
    ov.update(pose_msg(clock.t_ns, detected=True))
    assert ov.banner() is None
    clean = banner_region(ov, ov.render())
    assert (clean == BG).all()
    ov.update(pose_msg(clock.t_ns, detected=False))
    assert "No person" in ov.banner()[0]
    with_banner = banner_region(ov, ov.render())
    assert (np.abs(with_banner - clean).max(axis=2) > 30).mean() > 0.3  # shaded strip with text


def test_state_banners_order_and_staleness():
    clock = FakeClock()
    ov = Overlay(only(Panel.BANNER), clock_ns=clock)
    assert "Waiting" in ov.banner()[0]
    ov.update(frame_msg(clock.t_ns))
    ov.update(pose_msg(clock.t_ns))
    assert ov.banner() is None
    clock.t_ns += 1_500_000_000  # 1.5 s without a frame
    assert "No video" in ov.banner()[0]
    ov.update(frame_msg(clock.t_ns))
    ov.update(Heartbeat(0, clock.t_ns, "camera", ProcessState.RECONNECTING))
    assert "Reconnecting" in ov.banner()[0]
    ov.update(Heartbeat(1, clock.t_ns, "camera", ProcessState.SOURCE_UNAVAILABLE, detail="/dev/video0"))
    assert ov.banner()[0] == "Camera lost: /dev/video0"
    ov.update(Heartbeat(0, clock.t_ns, "pose", ProcessState.ENDED))
    assert ov.banner()[0] == "Session ended"


def test_panels_draw_in_their_regions():
    clock = FakeClock()
    ov = Overlay(headless(), clock_ns=clock)
    t = clock.t_ns - 30_000_000
    ov.update(frame_msg(t))
    ov.update(pose_msg(t))
    for i, knee in enumerate([5, 30, 60, 90, 60, 30, 5]):
        ov.update(kin_msg(t - (7 - i) * 300_000_000, knee_deg=knee, hip_deg=knee * 1.1, seq=i))
    ov.update(Heartbeat(0, t, "pose", ProcessState.RUNNING, fps=29.5, stage_ms={"infer": 21.0}))
    ov.update(Cue(0, t, "knee_valgus_l", "Push your left knee out", CueSeverity.WARNING))
    img = ov.render().astype(int)
    assert ov.cycles.n_reps == 1
    for name in ("timing", "angles", "curves", "cues"):
        x0, y0, x1, y1 = getattr(ov.layout, name)
        region = img[y0:y1, x0:x1]
        assert (np.abs(region - BG).max(axis=2) > 0).mean() > 0.2, f"{name} panel not drawn"
    # the cue expires
    x0, y0, x1, y1 = ov.layout.cues
    clock.t_ns += 10_000_000_000
    ov.update(frame_msg(clock.t_ns))
    ov2 = ov.render().astype(int)[y0:y1, x0:x1]
    assert (ov2 == BG).mean() > 0.9


# --- ghost --------------------------------------------------------------------------------------------

def front_camera() -> PinholeCamera:
    # 3 m in front of the subject (world +x is the subject's forward), at hip height.
    return PinholeCamera.look_at(np.array([3.0, 1.0, 0.0]), np.array([0.0, 1.0, 0.0]), W, H, 60.0)


def test_ghost_projection_lands_at_expected_pixels():
    cam = front_camera()
    f = 0.5 * W / math.tan(math.radians(30))
    pts = np.array([[0.0, 1.0, 0.0], [0.0, 1.5, 0.0], [0.0, 1.0, 0.5], [0.0, 1.0, -0.5]])
    uv = ghost_points_px(cam, pts)
    cx, cy = (W - 1) / 2, (H - 1) / 2
    np.testing.assert_allclose(uv[0], [cx, cy], atol=1e-9)
    np.testing.assert_allclose(uv[1], [cx, cy - f * 0.5 / 3], atol=1e-9)  # up is image up
    np.testing.assert_allclose(uv[2], [cx - f * 0.5 / 3, cy], atol=1e-9)  # subject's right: image left
    shifted = ghost_points_px(cam, pts, anchor_px=(100.0, 200.0), anchor_index=(2, 3))
    np.testing.assert_allclose((shifted[2] + shifted[3]) / 2, [100.0, 200.0], atol=1e-9)
    np.testing.assert_allclose(shifted - uv, np.broadcast_to(shifted[0] - uv[0], uv.shape), atol=1e-9)
    with pytest.raises(ValueError, match="anchor_index"):
        ghost_points_px(cam, pts, anchor_px=(1.0, 1.0), anchor_index=7)
    with pytest.raises(ValueError, match="joint_centres_world_m"):
        ghost_points_px(cam, pts[:, :2])
    behind = ghost_points_px(cam, np.array([[5.0, 1.0, 0.0]]))
    assert np.isnan(behind).all()


def test_draw_ghost_is_translucent_and_local():
    img = np.full((H, W, 3), 100, np.uint8)
    pts = np.array([[100.0, 100.0], [100.0, 300.0], [np.nan, np.nan]])
    draw_ghost(img, pts, [(0, 1), (1, 2)], colour=(0, 255, 0), alpha=0.5, thickness=4)
    mid = img[200, 100].astype(int)
    assert mid[1] == pytest.approx(178, abs=2) and mid[0] == pytest.approx(50, abs=2)  # half-blended
    assert (img[200, 300] == 100).all() and (img[400, 100] == 100).all()


def simple_ghost_model() -> GhostModel:
    """A planar stick figure from hip and knee flexion: pelvis, hips, knees, ankles (sagittal)."""
    i_hip, i_knee = BIGE_COORDINATES.index("hip_flexion_r"), BIGE_COORDINATES.index("knee_angle_r")
    i_ty = BIGE_COORDINATES.index("pelvis_ty")

    def joint_centres(q: np.ndarray) -> np.ndarray:
        hip, knee = np.radians(q[:, i_hip]), np.radians(q[:, i_knee])
        pelvis = np.stack([np.zeros(len(q)), q[:, i_ty], np.zeros(len(q))], axis=1)
        out = []
        for z in (0.1, -0.1):
            h = pelvis + (0.0, 0.0, z)
            k = h + 0.45 * np.stack([np.sin(hip), -np.cos(hip), np.zeros(len(q))], axis=1)
            a = k + 0.45 * np.stack([np.sin(hip - knee), -np.cos(hip - knee), np.zeros(len(q))], axis=1)
            out += [h, k, a]
        return np.stack([pelvis, *out], axis=1)  # (T, 7, 3)

    return GhostModel(joint_centres, ((0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6)), (1, 4))


def test_ghost_model_from_body_tree():
    names = ("pelvis", "femur_r", "tibia_r", "femur_l", "tibia_l", "torso")
    g = ghost_model_from_tree(lambda q: np.zeros((len(q), 6, 3)), (-1, 0, 1, 0, 3, 0), names)
    assert set(g.connections) == {(0, 1), (1, 2), (0, 3), (3, 4), (0, 5)}
    assert g.hip_indices == (1, 3)
    with pytest.raises(ValueError, match="femur_l"):
        ghost_model_from_tree(lambda q: q, (-1, 0), ("pelvis", "femur_r"))
    with pytest.raises(ValueError, match="parent index"):
        ghost_model_from_tree(lambda q: q, (-1, 5), ("femur_r", "femur_l"))


def test_overlay_draws_anchored_ghost_from_target():
    clock = FakeClock()
    cam = front_camera()
    ov = Overlay(only(Panel.GHOST), camera=cam, ghost=simple_ghost_model(), clock_ns=clock)
    t = clock.t_ns
    ov.update(frame_msg(t))
    ov.update(pose_msg(t))
    before = ov.render().astype(int)
    assert (before == BG).all()
    q = np.zeros((10, len(BIGE_COORDINATES)))
    q[:, BIGE_COORDINATES.index("pelvis_ty")] = 1.0
    ov.update(TargetMotion(0, t, 30.0, "test", q))
    after = ov.render().astype(int)
    changed = np.abs(after - BG).max(axis=2) > 10
    lm = standing_landmarks()
    hip_mid = ((lm[23, :2] + lm[24, :2]) / 2 * (W, H)).round().astype(int)
    assert changed[hip_mid[1], hip_mid[0] - 3: hip_mid[0] + 4].any()  # ghost pelvis on the user's hips
    ys, xs = np.nonzero(changed)
    # straight legs 0.9 m long, 3 m away: ~ f * 0.9 / 3 px below the hip midpoint
    f = 0.5 * W / math.tan(math.radians(30))
    assert ys.max() == pytest.approx(hip_mid[1] + f * 0.9 / 3, abs=8)


def test_the_ghost_waits_for_the_lifters_camera_calibration():
    """In the pipeline the camera comes from the lifter (a CameraCalibration message), after the ghost
    model: until it arrives the target is kept but not drawn."""
    clock = FakeClock()
    ov = Overlay(only(Panel.GHOST), ghost=simple_ghost_model(), clock_ns=clock)
    t = clock.t_ns
    q = np.zeros((10, len(BIGE_COORDINATES)))
    q[:, BIGE_COORDINATES.index("pelvis_ty")] = 1.0
    for msg in (frame_msg(t), pose_msg(t), TargetMotion(0, t, 30.0, "test", q)):
        ov.update(msg)
    assert (ov.render().astype(int) == BG).all()
    cam = front_camera()
    ov.update(CameraCalibration.of_camera(0, t, cam))
    changed = np.abs(ov.render().astype(int) - BG).max(axis=2) > 10
    f = 0.5 * W / math.tan(math.radians(30))
    lm = standing_landmarks()
    hip_y = (lm[23, 1] + lm[24, 1]) / 2 * H
    assert np.nonzero(changed)[0].max() == pytest.approx(hip_y + f * 0.9 / 3, abs=8)  # the same ghost as above


def test_skeleton_ghost_model_is_the_models_body_tree():
    from edge.skeleton.fk import joint_centres
    from edge.skeleton.model import load_default
    from edge.synthetic.squat_motion import SquatMotionConfig, squat_motion

    model = load_default()
    ghost = skeleton_ghost_model(model)
    _, coords = squat_motion(SquatMotionConfig(reps=1, fps=5.0))
    joints = ghost.joint_centres(coords[:4])
    assert joints.shape == (4, len(model.bodies), 3)
    np.testing.assert_allclose(joints, joint_centres(model, from_bige(model, coords[:4])))
    assert len(ghost.connections) == len(model.bodies) - 1  # one bone per body but the root
    assert [model.bodies[i].name for i in ghost.hip_indices] == ["femur_r", "femur_l"]


# --- output -------------------------------------------------------------------------------------------

def test_headless_mp4_reopens_with_all_frames(tmp_path):
    path = tmp_path / "overlay.mp4"
    snap = tmp_path / "snap.png"
    clock = FakeClock()
    n = 12
    with Overlay(headless(mp4_path=path, snapshot_path=snap, frame_size_px=(320, 240)),
                 clock_ns=clock) as ov:
        for i in range(n):
            clock.t_ns += 33_000_000
            ov.update(frame_msg(clock.t_ns, level=20 * i % 255, seq=i))
            ov.update(pose_msg(clock.t_ns))
            ov.update(kin_msg(clock.t_ns, knee_deg=5 + 5 * i, seq=i))
            img = ov.render() if i != 5 else np.zeros((100, 150, 3), np.uint8)  # one odd-sized frame
            assert ov.emit(img)
        assert ov.frames_written == n
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened()
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == n
    frames = []
    while True:
        ok, fr = cap.read()
        if not ok:
            break
        frames.append(fr)
    cap.release()
    assert len(frames) == n and frames[0].shape == (240, 320, 3)
    still = cv2.imread(str(snap))
    assert still is not None and still.shape == (240, 320, 3)


def test_output_errors(tmp_path, monkeypatch):
    with pytest.raises(RuntimeError, match="open"):
        Overlay(headless()).emit(np.zeros((H, W, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match="mp4_path"):
        Overlay(headless(mp4_path=tmp_path / "missing" / "a.mp4")).open()
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(RuntimeError, match="display"):
        Overlay(dataclasses.replace(headless(), output=OutputMode.WINDOW)).open()
    with Overlay(headless()) as ov:
        with pytest.raises(ValueError, match="uint8"):
            ov.emit(np.zeros((H, W), np.uint8))


def test_ghost_plays_the_target_in_time_and_loops():
    clock = FakeClock()
    ov = Overlay(only(Panel.GHOST), camera=front_camera(), ghost=simple_ghost_model(), clock_ns=clock)
    q = np.zeros((2, len(BIGE_COORDINATES)))
    q[:, BIGE_COORDINATES.index("pelvis_ty")] = 1.0
    q[1, BIGE_COORDINATES.index("hip_flexion_r")] = 90.0  # legs point at the camera: short in the image
    t0 = clock.t_ns
    ov.update(TargetMotion(0, t0, 10.0, "test", q))

    def ghost_height_px(t_ns: int) -> int:
        ov.update(frame_msg(t_ns))
        ys = np.nonzero(np.abs(ov.render().astype(int) - BG).max(axis=2) > 10)[0]
        return int(ys.max() - ys.min())

    tall, short, looped = ghost_height_px(t0), ghost_height_px(t0 + 100_000_000), ghost_height_px(t0 + 200_000_000)
    assert tall > 100 and short < tall / 2 and looped == tall
