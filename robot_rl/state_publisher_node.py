"""The robot state publisher: /robot_description and the robot's TF from /joint_states.

robot_rl's equivalent of ROS2's ``robot_state_publisher`` (ros/robot_state_publisher, Jazzy), with its
interface: node name ``robot_state_publisher``; parameters ``robot_description`` (the URDF text),
``publish_frequency`` (Hz), ``ignore_timestamp`` and ``frame_prefix``; subscribes ``joint_states``
(sensor_msgs/JointState, sensor-data QoS); publishes ``robot_description`` (std_msgs/String, once, transient
local), ``/tf_static`` (tf2_msgs/TFMessage, once, transient local: every fixed joint, stamped with the time at
startup) and ``/tf`` (tf2_msgs/TFMessage: for each moving joint a JointState names, its parent -> child
transform stamped with the JointState's stamp). Frame ids are the URDF link names with ``frame_prefix``.

As in robot_state_publisher: a JointState that names a joint absent from the URDF, or lacks some URDF joints,
gives the transforms of the URDF joints it has; one whose ``position`` is not one value per name is dropped;
a JointState is published only if its stamp is at least ``1 / publish_frequency`` (whole ms) after the last
published stamp of the joints it names (a joint never published counts as published at time 0), unless
``ignore_timestamp``; when the node's clock moves backwards, that memory is cleared. Added here: the
``robot_description_file`` parameter (read when ``robot_description`` is empty), non-finite positions drop the
message, and every dropped message is an ERROR on ``/diagnostics`` (robot_state_publisher logs it; an empty
``position`` only as a warning). Not here: a change of ``robot_description`` at run time; mimic and floating
joints (the URDF is refused).

Transforms come from :class:`robot_rl.robot_model.RobotModel` (yourdfpy): composed from ``base_link`` they
equal ``RobotModel.link_poses`` (tests/test_state_publisher_node.py). launch/stack.launch.yaml runs ROS2's own
``robot_state_publisher`` where ROS2 is installed and this node elsewhere; the in-process backend runs this node
in place of ``robot_state_publisher`` (robot_rl.runtime.executables.STAND_INS). See urdf/README.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.errors import MessageError, ParameterError, RobotModelError
from robot_rl.perception.geometry import quaternion_xyzw
from robot_rl.robot_model import RobotModel, default_urdf_path
from robot_rl.runtime import LATCHED, SENSOR_DATA, Node, NodeMain, diagnostics, msg

TF_MESSAGE = "tf2_msgs/msg/TFMessage"
TRANSFORM_STAMPED = "geometry_msgs/msg/TransformStamped"
TF_QOS_DEPTH = 100  # tf2_ros::DynamicBroadcasterQoS


def transform_stamped(stamp: Any, parent: str, child: str, pose: np.ndarray) -> Any:
    """A geometry_msgs/TransformStamped of ``pose`` (4x4 T_parent_child, m)."""
    t = msg.message_class(TRANSFORM_STAMPED)()
    t.header.stamp = stamp
    t.header.frame_id = parent
    t.child_frame_id = child
    t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = (float(v) for v in pose[:3, 3])
    rotation = t.transform.rotation
    rotation.x, rotation.y, rotation.z, rotation.w = quaternion_xyzw(pose[:3, :3])
    return t


class StatePublisherNode(Node):
    """robot_state_publisher's parameters and topics, with :class:`RobotModel`'s kinematics."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("robot_state_publisher", **kwargs)
        declare = self.declare_parameter
        description = declare("robot_description", "", "the robot's URDF text; '' = read robot_description_file").value
        description_file = declare(
            "robot_description_file",
            str(default_urdf_path()),
            "URDF file read when robot_description is empty (default: the package's urdf/panda.urdf)",
        ).value
        frequency_hz = declare("publish_frequency", 20.0, "most /tf updates per joint, Hz (0 < f <= 1000)").value
        self.ignore_timestamp = declare("ignore_timestamp", False, "publish every JointState, whatever its stamp").value
        self.frame_prefix = declare("frame_prefix", "", "prefix of every published frame id").value
        if not 0.0 < frequency_hz <= 1000.0:
            raise ParameterError(f"publish_frequency must be in (0, 1000] Hz, got {frequency_hz}")
        self.publish_interval_ns = int(1000.0 / frequency_hz) * 1_000_000  # whole ms, as robot_state_publisher
        if not description:
            if not description_file:
                raise RobotModelError("robot_description and robot_description_file are both empty")
            try:
                description = Path(description_file).read_text()
            except OSError as error:
                raise RobotModelError(f"{description_file}: cannot read the robot description: {error}") from None
            source = description_file
        else:
            source = "robot_description"
        self.model = RobotModel(source, xml=description)
        tf_message = msg.message_class(TF_MESSAGE)
        self.tf_message = tf_message
        self.last_published_ns: dict[str, int] = {}  # joint -> stamp of its last /tf, ns
        self.last_callback_ns = 0  # the node's clock at the last JointState, ns
        self.published = 0  # /tf messages published
        self.description_pub = self.create_publisher(msg.String, "robot_description", LATCHED)
        self.tf_static_pub = self.create_publisher(tf_message, "/tf_static", LATCHED)
        self.tf_pub = self.create_publisher(tf_message, "/tf", TF_QOS_DEPTH)
        self.report = diagnostics.Reporter(self)
        on_joint_state = self.report.guard(self.on_joint_state, (MessageError, RobotModelError), "dropped a JointState")
        self.create_subscription(msg.JointState, "joint_states", on_joint_state, SENSOR_DATA)
        self.description_pub.publish(msg.String(data=description))
        self.publish_fixed_transforms()
        self.get_logger().info(f"robot {self.model.name}: {len(self.model.joint_names)} moving joints")

    def publish_fixed_transforms(self) -> None:
        """Publish every fixed joint on /tf_static, stamped now (robot_state_publisher at startup)."""
        stamp = self.get_clock().now().to_msg()
        transforms = [
            transform_stamped(stamp, self.frame_prefix + parent, self.frame_prefix + child, pose)
            for _, (parent, child, pose) in sorted(self.model.fixed_joint_transforms().items())
        ]
        self.tf_static_pub.publish(self.tf_message(transforms=transforms))

    def on_joint_state(self, state: Any) -> None:
        """Publish the transforms of the moving joints that one JointState names.

        Raises:
            MessageError: If ``position`` is not one number per name (the guard reports it and drops it).
            RobotModelError: If a position of a URDF joint is not finite (likewise).
        """
        names = list(state.name)
        try:
            positions = np.asarray(state.position, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise MessageError("JointState position is not a sequence of numbers") from None
        if positions.size != len(names):
            raise MessageError(f"JointState has {len(names)} names but {positions.size} position values")
        now_ns = self.get_clock().now().nanoseconds
        if self.last_callback_ns > now_ns:  # time went backwards (a replayed bag): publish again from scratch
            self.last_published_ns.clear()
        self.last_callback_ns = now_ns
        stamp_ns = state.header.stamp.sec * 1_000_000_000 + state.header.stamp.nanosec
        last_ns = min([now_ns, *(self.last_published_ns.get(name, 0) for name in names)])
        if not (self.ignore_timestamp or stamp_ns >= last_ns + self.publish_interval_ns):
            return
        joints = self.model.joint_transforms(dict(zip(names, positions.tolist(), strict=True)))
        prefix = self.frame_prefix
        transforms = [
            transform_stamped(state.header.stamp, prefix + parent, prefix + child, pose)
            for _, (parent, child, pose) in sorted(joints.items())
        ]
        self.tf_pub.publish(self.tf_message(transforms=transforms))
        self.published += 1
        for name in names:
            self.last_published_ns[name] = stamp_ns


main = NodeMain(StatePublisherNode)
