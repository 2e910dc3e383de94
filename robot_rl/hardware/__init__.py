"""Hardware: the RealSense camera (``realsense``: ROS-free core; ``realsense_node``: the ``camera`` node).

Nothing is imported here, so a module that needs one driver does not load another's
vendor library (``pyrealsense2`` is imported by ``robot_rl.hardware.realsense`` only).
"""
