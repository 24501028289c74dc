import numpy as np
import pytest

from calibration.camera import PinholeCamera


def test_look_at_projects_target_to_principal_point_and_up_is_image_up():
    cam = PinholeCamera.look_at(np.array([3.0, 1.0, 0.5]), np.array([0.0, 1.0, 0.0]), 640, 480, 60.0)
    uv = cam.project(np.array([[0.0, 1.0, 0.0], [0.0, 1.5, 0.0]]))
    np.testing.assert_allclose(uv[0], [cam.cx, cam.cy], atol=1e-9)
    assert uv[1, 1] < uv[0, 1]  # a higher point appears higher in the image (smaller v)


def test_point_behind_camera_is_nan_and_resize_scales_pixels():
    cam = PinholeCamera.look_at(np.array([3.0, 1.0, 0.0]), np.zeros(3), 640, 480, 60.0)
    assert np.isnan(cam.project(np.array([5.0, 1.0, 0.0]))).all()
    small = cam.resized(320, 240)
    p = np.array([0.2, 1.3, -0.1])
    np.testing.assert_allclose((small.project(p) + 0.5) * 2, cam.project(p) + 0.5, atol=1e-9)


def test_bad_camera_parameters_are_rejected():
    with pytest.raises(ValueError, match="focal"):
        PinholeCamera(640, 480, -1.0, 500.0, 320.0, 240.0)
    with pytest.raises(ValueError, match="rotation"):
        PinholeCamera(640, 480, 500.0, 500.0, 320.0, 240.0, R_cw=np.ones((3, 3)))
    with pytest.raises(ValueError, match="field of view"):
        PinholeCamera.from_fov(640, 480, 200.0)
