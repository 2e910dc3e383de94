"""The interfaces of robot_rl's node executables (setup.cfg's console scripts), declared without importing them.

Each entry mirrors the ``create_publisher`` / ``create_subscription`` calls of the node's ``__init__`` (the
module is named in the comment), with the parameter conditions the code has. Change both together:
tests/runtime/test_node_interfaces.py builds every node and fails on any difference.
"""

from __future__ import annotations

from collections.abc import Callable

from robot_rl.runtime.interfaces import FromParameter, NodeInterface, Parameters, publisher, subscription

CLOCK = "rosgraph_msgs/msg/Clock"
JOINT_STATE = "sensor_msgs/msg/JointState"
IMAGE = "sensor_msgs/msg/Image"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
POINT_CLOUD = "sensor_msgs/msg/PointCloud2"
JOY = "sensor_msgs/msg/Joy"
POSE = "geometry_msgs/msg/PoseStamped"
POSE_ARRAY = "geometry_msgs/msg/PoseArray"
TWIST = "geometry_msgs/msg/Twist"
TWIST_STAMPED = "geometry_msgs/msg/TwistStamped"
TRAJECTORY = "trajectory_msgs/msg/JointTrajectory"
STRING = "std_msgs/msg/String"
BOOL = "std_msgs/msg/Bool"
EMPTY = "std_msgs/msg/Empty"
HEADER = "std_msgs/msg/Header"
FLOAT32 = "std_msgs/msg/Float32"
FLOAT64_ARRAY = "std_msgs/msg/Float64MultiArray"
BYTES = "std_msgs/msg/UInt8MultiArray"
DIAGNOSTICS = "diagnostic_msgs/msg/DiagnosticArray"
TF = "tf2_msgs/msg/TFMessage"

EPISODE = "/robot_rl/episode"
EE_POSE = "/robot_rl/ee_pose"
SLOTS = "/robot_rl/slots"
OBJECT_POSES = "/robot_rl/sim/object_poses"
COLOR = "/camera/color/image_raw"
WEIGHTS = "/robot_rl/residual/weights"
PROGRESS = "/robot_rl/learner/progress"
LEARNER_TICK = "/robot_rl/learner/tick"


def _panda_urdf() -> str:
    from robot_rl.robot_model import default_urdf_path

    return str(default_urdf_path())


def _device(name: str) -> Callable[[Parameters], bool]:
    return lambda p: p["device"] == name


def _rendered(p: Parameters) -> bool:
    return p["render_camera"] is True


def _self_filtered(p: Parameters) -> bool:
    return p["segmenter"] == "rgbd_tabletop" and p["robot_description_file"] != ""


INTERFACES: dict[str, NodeInterface] = {
    # robot_rl/demo/nodes.py
    "demo_clock": NodeInterface("demo_clock", (publisher("/clock", CLOCK),)),
    "demo_joint_publisher": NodeInterface("demo_joint_publisher", (publisher("joint_states", JOINT_STATE),)),
    "demo_monitor": NodeInterface("demo_monitor", (subscription("joint_states", JOINT_STATE),)),
    # robot_rl/sim/node.py
    "sim_node": NodeInterface(
        "sim",
        (
            publisher("/clock", CLOCK),
            publisher("/joint_states", JOINT_STATE),
            publisher(EE_POSE, POSE),
            publisher(OBJECT_POSES, POSE_ARRAY),
            publisher("/robot_rl/reward", FLOAT32),
            publisher(EPISODE, STRING),
            publisher("/diagnostics", DIAGNOSTICS),
            publisher(COLOR, IMAGE, _rendered),
            publisher("/camera/color/camera_info", CAMERA_INFO, _rendered),
            publisher("/camera/aligned_depth_to_color/image_raw", IMAGE, _rendered),
            publisher("/camera/segmentation/image_raw", IMAGE, lambda p: _rendered(p) and p["publish_segmentation"]),
            subscription("/robot_rl/safe_command", TRAJECTORY),
            subscription(EPISODE, STRING),
            subscription(LEARNER_TICK, HEADER),
        ),
        {"render_camera": True, "publish_segmentation": True},
    ),
    # robot_rl/sim/expert_node.py
    "expert_node": NodeInterface(
        "expert",
        (
            publisher("/robot_rl/base_action", TRAJECTORY),
            publisher("/robot_rl/policy_action", TRAJECTORY),
            publisher("/diagnostics", DIAGNOSTICS),
            subscription(EE_POSE, POSE),
            subscription("/joint_states", JOINT_STATE),
            subscription(OBJECT_POSES, POSE_ARRAY),
            subscription(EPISODE, STRING),
        ),
    ),
    # robot_rl/sim/slot_source_node.py
    "sim_slots_node": NodeInterface(
        "sim_slots",
        (
            publisher(SLOTS, POINT_CLOUD),
            publisher("/diagnostics", DIAGNOSTICS),
            subscription(OBJECT_POSES, POSE_ARRAY),
            subscription(EE_POSE, POSE),
            subscription(EPISODE, STRING),
        ),
    ),
    # robot_rl/perception/node.py
    "perception_node": NodeInterface(
        "perception",
        (
            publisher(SLOTS, POINT_CLOUD),
            publisher("/diagnostics", DIAGNOSTICS),
            publisher("~/debug_image", IMAGE, lambda p: p["publish_debug_image"] is True),
            subscription(COLOR, IMAGE),
            subscription("/camera/aligned_depth_to_color/image_raw", IMAGE),
            subscription("/camera/color/camera_info", CAMERA_INFO),
            subscription("/camera/segmentation/image_raw", IMAGE, lambda p: p["segmenter"] == "sim_gt"),
            subscription(EPISODE, STRING),
            subscription("/joint_states", JOINT_STATE, _self_filtered),
        ),
        {"segmenter": "rgbd_tabletop", "publish_debug_image": False, "robot_description_file": _panda_urdf},
    ),
    # robot_rl/policies/base_node.py
    "base_policy_node": NodeInterface(
        "base_policy",
        (
            publisher("/robot_rl/base_action", TRAJECTORY),
            publisher("/robot_rl/policy_action", TRAJECTORY, lambda p: p["publish_policy_action"] is True),
            publisher("/diagnostics", DIAGNOSTICS),
            subscription(EPISODE, STRING),
            subscription(EE_POSE, POSE),
            subscription("/joint_states", JOINT_STATE),
            subscription(COLOR, IMAGE, lambda p: p["use_image"] is True),
            subscription(SLOTS, POINT_CLOUD),
        ),
        {"publish_policy_action": True, "use_image": False},
    ),
    # robot_rl/policies/residual_node.py
    "residual_node": NodeInterface(
        "residual",
        (
            publisher("/robot_rl/policy_action", TRAJECTORY),
            publisher("/robot_rl/residual", TRAJECTORY),
            publisher("/diagnostics", DIAGNOSTICS),
            subscription(WEIGHTS, BYTES),
            subscription(EPISODE, STRING),
            subscription(EE_POSE, POSE),
            subscription("/joint_states", JOINT_STATE),
            subscription(SLOTS, POINT_CLOUD),
            subscription("/robot_rl/base_action", TRAJECTORY),
        ),
    ),
    # robot_rl/policies/learner_node.py
    "learner_node": NodeInterface(
        "learner",
        (
            publisher(WEIGHTS, BYTES),
            publisher(PROGRESS, STRING),
            publisher(LEARNER_TICK, HEADER),
            publisher("/diagnostics", DIAGNOSTICS),
            subscription("/robot_rl/reward", FLOAT32),
            subscription(EPISODE, STRING),
            subscription(EE_POSE, POSE),
            subscription("/joint_states", JOINT_STATE),
            subscription(SLOTS, POINT_CLOUD),
            subscription("/robot_rl/base_action", TRAJECTORY),
            subscription("/robot_rl/intervention", BOOL),
            subscription("/robot_rl/safe_command", TRAJECTORY),
        ),
    ),
    # robot_rl/policies/training_driver.py (an EpisodeMonitor: its subscriptions first)
    "training_driver": NodeInterface(
        "training_driver",
        (
            subscription(EPISODE, STRING),
            subscription("/robot_rl/intervention", BOOL),
            subscription("/diagnostics", DIAGNOSTICS),
            subscription(OBJECT_POSES, POSE_ARRAY),
            subscription("/robot_rl/base_action", TRAJECTORY),
            subscription("/robot_rl/policy_action", TRAJECTORY),
            subscription("/robot_rl/safe_command", TRAJECTORY),
            subscription("/joint_states", JOINT_STATE),
            subscription(EE_POSE, POSE),
            publisher(EPISODE, STRING),
            subscription(PROGRESS, STRING),
        ),
    ),
    # robot_rl/intervention/node.py
    "intervention_node": NodeInterface(
        "intervention",
        (
            publisher("/robot_rl/command", TRAJECTORY),
            publisher("/robot_rl/intervention", BOOL),
            publisher("/robot_rl/teleop_action", TRAJECTORY),
            publisher(EPISODE, STRING),
            publisher("/diagnostics", DIAGNOSTICS),
            subscription("/robot_rl/policy_action", TRAJECTORY),
            subscription(EPISODE, STRING),
            subscription("/joy", JOY, _device("joy")),
            subscription("/spacenav/twist", TWIST, _device("spacemouse")),
            subscription("/spacenav/joy", JOY, _device("spacemouse")),
            subscription(EE_POSE, POSE, _device("simulated")),
            subscription("/joint_states", JOINT_STATE, _device("simulated")),
            subscription(OBJECT_POSES, POSE_ARRAY, _device("simulated")),
        ),
        {"device": "none"},
    ),
    # robot_rl/safety/node.py
    "safety_node": NodeInterface(
        "safety",
        (
            publisher("/robot_rl/safe_command", TRAJECTORY),
            publisher("/diagnostics", DIAGNOSTICS),
            subscription("/robot_rl/estop", BOOL),
            subscription("/robot_rl/estop_reset", EMPTY),
            subscription("/joint_states", JOINT_STATE),
            subscription(EE_POSE, POSE),
            subscription("/robot_rl/base_action", TRAJECTORY),
            subscription("/robot_rl/teleop_action", TRAJECTORY),
            subscription("/robot_rl/command", TRAJECTORY),
            subscription(EPISODE, STRING, lambda p: p["sim_episode_resets"] is True),
        ),
        {"sim_episode_resets": False},
    ),
    # robot_rl/data/recorder_node.py
    "recorder_node": NodeInterface(
        "recorder",
        (
            publisher("/diagnostics", DIAGNOSTICS),
            subscription(EE_POSE, POSE),
            subscription("/joint_states", JOINT_STATE),
            subscription(SLOTS, POINT_CLOUD),
            subscription(COLOR, IMAGE, lambda p: p["use_image"] is True),
            subscription("/robot_rl/base_action", TRAJECTORY),
            subscription("/robot_rl/policy_action", TRAJECTORY),
            subscription("/robot_rl/command", TRAJECTORY),
            subscription("/robot_rl/intervention", BOOL),
            subscription("/robot_rl/safe_command", TRAJECTORY),
            subscription("/robot_rl/reward", FLOAT32),
            subscription(EPISODE, STRING),
        ),
        {"use_image": False},
    ),
    # robot_rl/hardware/driver_node.py
    "driver_node": NodeInterface(
        "driver",
        (
            publisher("/servo_node/delta_twist_cmds", TWIST_STAMPED),
            publisher(FromParameter("gripper_command_topic"), FLOAT64_ARRAY),
            publisher("/joint_states", JOINT_STATE),
            publisher(EE_POSE, POSE),
            publisher("/diagnostics", DIAGNOSTICS),
            subscription("/robot_rl/safe_command", TRAJECTORY),
            subscription(FromParameter("joint_states_input_topic"), JOINT_STATE),
            subscription(FromParameter("ee_pose_input_topic"), POSE),
        ),
        {
            "gripper_command_topic": "/gripper_controller/commands",
            "joint_states_input_topic": "/franka/joint_states",
            "ee_pose_input_topic": "/franka_robot_state_broadcaster/current_pose",
        },
    ),
    # robot_rl/state_publisher_node.py (robot_state_publisher's topics, plus /diagnostics)
    "state_publisher_node": NodeInterface(
        "robot_state_publisher",
        (
            publisher("robot_description", STRING),
            publisher("/tf_static", TF),
            publisher("/tf", TF),
            publisher("/diagnostics", DIAGNOSTICS),
            subscription("joint_states", JOINT_STATE),
        ),
    ),
    # robot_rl/hardware/realsense_node.py
    "realsense_node": NodeInterface(
        "camera",
        (
            publisher(COLOR, IMAGE),
            publisher("/camera/color/camera_info", CAMERA_INFO),
            publisher("/camera/aligned_depth_to_color/image_raw", IMAGE, lambda p: p["align_depth"] is True),
            publisher("/camera/aligned_depth_to_color/camera_info", CAMERA_INFO, lambda p: p["align_depth"] is True),
            publisher("/camera/depth/image_rect_raw", IMAGE, lambda p: p["align_depth"] is False),
            publisher("/camera/depth/camera_info", CAMERA_INFO, lambda p: p["align_depth"] is False),
            publisher("/diagnostics", DIAGNOSTICS),
        ),
        {"align_depth": True},
    ),
}
