"""Calibration data: camera intrinsics, hand-eye extrinsics and workspace limits (files under ``calibration/``)."""

from robot_rl.calibration.files import (
    DISTORTION_COEFFICIENT_COUNTS,
    QUATERNION_NORM_TOLERANCE,
    CameraIntrinsics,
    HandEyeCalibration,
    WorkspaceLimits,
    calibration_file,
    from_camera_info_msg,
    load_camera_info,
    load_hand_eye,
    load_workspace_limits,
    save_camera_info,
    save_hand_eye,
    save_workspace_limits,
    to_camera_info_msg,
)

__all__ = [
    "DISTORTION_COEFFICIENT_COUNTS",
    "QUATERNION_NORM_TOLERANCE",
    "CameraIntrinsics",
    "HandEyeCalibration",
    "WorkspaceLimits",
    "calibration_file",
    "from_camera_info_msg",
    "load_camera_info",
    "load_hand_eye",
    "load_workspace_limits",
    "save_camera_info",
    "save_hand_eye",
    "save_workspace_limits",
    "to_camera_info_msg",
]
