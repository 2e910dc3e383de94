"""The intervention node: a teleop device plus the arbiter, between the policy and the safety gate.

Subscribes ``/robot_rl/policy_action`` (JointTrajectory, the policy's action of this tick; its
arrival runs the tick) and ``/robot_rl/episode`` (an episode start hands control back to the
policy; one whose ``"mode"`` is ``"eval"``, which ``robot-rl train-residual`` sends for its evaluation episodes,
leaves the policy alone for the whole episode, so an evaluation measures the policy, not the person). The
device's inputs, by the ``device`` parameter:

- ``none``: no person; the policy's action passes through (the flag is always false);
- ``keyboard``: pynput's listener (needs an X display);
- ``joy``: ``/joy`` (sensor_msgs/Joy from ROS's joy_node);
- ``spacemouse``: ``/spacenav/twist`` (geometry_msgs/Twist) and ``/spacenav/joy`` (buttons) from spacenav;
- ``simulated``: the scripted expert as a person (sim only): ``/robot_rl/ee_pose``, ``/joint_states``
  and ``/robot_rl/sim/object_poses``.

Publishes, every tick: ``/robot_rl/command`` (the person's action while they intervene, else the
policy's) and ``/robot_rl/intervention`` (std_msgs/Bool); while the person drives also
``/robot_rl/teleop_action``, the same message with the same ``header.stamp``, published before the command: the
safety gate knows a person's command by it. Episode keys go to ``/robot_rl/episode`` as
``{"event": "success" | "failure" | "rerecord" | "stop", "source": "human"}``; ``stop`` also ends
the session. On a real robot (``publish_episode_starts``) this node also starts the episodes: one at
its first tick and a new one after each success, failure or rerecord key. When the policy falls
silent for ``policy_timeout_s``, a timer keeps running the tick so a person can still drive; with
nobody intervening nothing is sent and the safety gate holds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from robot_rl.action_space import actions_to_trajectory, trajectory_to_actions
from robot_rl.episode_events import parse_episode_event
from robot_rl.errors import InterventionError, MessageError
from robot_rl.intervention.arbiter import Arbiter, InterventionMode
from robot_rl.intervention.devices import (
    JoyConfig,
    JoyDevice,
    KeyboardConfig,
    KeyboardDevice,
    SpaceMouseConfig,
    SpaceMouseDevice,
    TeleopDevice,
)
from robot_rl.intervention.simulated_human import SimulatedHuman, SimulatedHumanConfig
from robot_rl.runtime import Node, NodeMain, diagnostics, msg
from robot_rl.sim.experts import make_expert

DEVICES = ("none", "keyboard", "joy", "spacemouse", "simulated")
TAKEOVER_PREFIX = "the person takes over ("  # the /diagnostics report of a takeover: "<prefix><reason>)"
NS_PER_S = 1e9


class InterventionNode(Node):
    """Thin ROS wrapper around a :class:`TeleopDevice` and the :class:`Arbiter`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("intervention", **kwargs)
        param = self.declare_parameter
        device = param("device", "none", f"teleop device: {', '.join(DEVICES)}").value
        mode = InterventionMode.parse(param("mode", "hold", "hold (deadman button) or toggle").value)
        self.period_s = param("control_period_s", 0.05, "control tick, s").value
        self.policy_timeout_s = param("policy_timeout_s", 0.1, "a policy action older than this is stale, s").value
        scale = tuple(param("scale", [0.5, 0.5, 0.5, 0.3, 0.3, 0.3], "device action at full input, dx..dyaw").value)
        timeout_s = param("device_timeout_s", 0.5, "joy / spacemouse input older than this reads as released, s").value
        joy_axes = tuple(param("joy_axes", list(JoyConfig().axes), "joy: Joy axis of dx..dyaw (-1 = unused)").value)
        joy_button = param("joy_intervene_button", JoyConfig().intervene_button, "joy: intervention button").value
        self.publish_starts = param(
            "publish_episode_starts", False, "real robot: start an episode at the first tick and after each episode key"
        ).value
        human_config = self._declare_simulated_human()
        if not (self.period_s > 0 and self.policy_timeout_s > 0):
            raise InterventionError("control_period_s and policy_timeout_s must be > 0")
        self.arbiter = Arbiter(mode)
        self.device_name = device
        self.device: TeleopDevice | None = None
        self.human: SimulatedHuman | None = None
        self.evaluating = False  # an evaluation episode (train-residual): nobody takes over
        self.episode_request: int | None = None  # the reset request id of the running episode, from its start
        self.policy_action: np.ndarray | None = None
        self.policy_time_ns: int | None = None
        self.ticks = 0
        self.episodes_started = 0  # episodes this node started (publish_episode_starts)
        self.intervention_ticks = 0
        self.interventions = 0  # takeovers (rising edges of the flag)
        self.command_pub = self.create_publisher(msg.JointTrajectory, "/robot_rl/command", 10)
        self.flag_pub = self.create_publisher(msg.Bool, "/robot_rl/intervention", 10)
        self.teleop_pub = self.create_publisher(msg.JointTrajectory, "/robot_rl/teleop_action", 10)
        self.episode_pub = self.create_publisher(msg.String, "/robot_rl/episode", 10)
        self.report = diagnostics.Reporter(self)
        self.create_subscription(msg.JointTrajectory, "/robot_rl/policy_action", self.on_policy_action, 10)
        self.create_subscription(msg.String, "/robot_rl/episode", self.on_episode, 10)
        if device == "none":
            pass
        elif device == "keyboard":
            keyboard = KeyboardDevice(KeyboardConfig(scale=scale))
            keyboard.start_listener()
            self.device = keyboard
        elif device == "joy":
            joy = JoyDevice(JoyConfig(axes=joy_axes, scale=scale, intervene_button=joy_button, timeout_s=timeout_s))
            self.create_subscription(
                msg.Joy, "/joy", self._guard(lambda m: joy.on_joy(m.axes, m.buttons, self._now_s())), 10
            )
            self.device = joy
        elif device == "spacemouse":
            mouse = SpaceMouseDevice(SpaceMouseConfig(scale=scale, timeout_s=timeout_s))
            self.create_subscription(msg.Twist, "/spacenav/twist", self._guard(self._on_twist(mouse)), 10)
            self.create_subscription(msg.Joy, "/spacenav/joy", self._guard(lambda m: mouse.on_buttons(m.buttons)), 10)
            self.device = mouse
        elif device == "simulated":
            self._make_simulated_human(*human_config)
        else:
            raise InterventionError(f"unknown teleop device {device!r}; choose one of {', '.join(DEVICES)}")
        self.create_timer(self.period_s, self.on_timer)

    def _declare_simulated_human(self) -> tuple[str, SimulatedHumanConfig]:
        """The simulated human's parameters (declared for every device, used by device simulated)."""
        param = self.declare_parameter
        defaults = SimulatedHumanConfig()
        task = param("task", "Lift", "simulated: robosuite task the simulated human solves").value
        return task, SimulatedHumanConfig(
            takeover_at_step=param("takeover_at_step", defaults.takeover_at_step, "take over at this step").value,
            drift_threshold_m=param("drift_threshold_m", defaults.drift_threshold_m, "max drift from plan, m").value,
            drift_decay=param("drift_decay", defaults.drift_decay, "per-tick decay of the drift sum").value,
            take_over_on_regrasp=param(
                "take_over_on_regrasp", defaults.take_over_on_regrasp, "take over when the object left the gripper"
            ).value,
            give_up_after_ticks=param("give_up_after_ticks", defaults.give_up_after_ticks, "let go after").value,
            translation_scale_m=param("translation_scale_m", defaults.translation_scale_m, "m per tick at 1").value,
        )

    def _make_simulated_human(self, task: str, config: SimulatedHumanConfig) -> None:
        # Imported here: the input assembler pulls in perception (scipy), which a real robot's node need not have.
        from robot_rl.sim.expert_node import ExpertInputAssembler

        human, inputs = SimulatedHuman(make_expert(task), config), ExpertInputAssembler(task)

        def on_object_poses(poses: Any) -> None:  # the last state input of a tick: the human sees the scene
            state = inputs.on_object_poses(poses)
            if state is not None:
                human.observe(state)

        self.human = self.device = human
        self.create_subscription(msg.PoseStamped, "/robot_rl/ee_pose", self._guard(inputs.on_ee_pose), 10)
        self.create_subscription(msg.JointState, "/joint_states", self._guard(inputs.on_joint_states), 10)
        self.create_subscription(msg.PoseArray, "/robot_rl/sim/object_poses", self._guard(on_object_poses), 10)

    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds / NS_PER_S

    def _guard(self, callback: Callable[[Any], None]) -> Callable[[Any], None]:
        """Turn a malformed device message into an ERROR diagnostic instead of a crash."""

        return self.report.guard(callback, (MessageError, InterventionError))

    def _on_twist(self, mouse: SpaceMouseDevice) -> Callable[[Any], None]:
        def on_twist(twist: Any) -> None:
            linear, angular = twist.linear, twist.angular
            mouse.on_twist((linear.x, linear.y, linear.z), (angular.x, angular.y, angular.z), self._now_s())

        return on_twist

    # -- inputs ----------------------------------------------------------------------

    def on_episode(self, event: Any) -> None:
        """An episode start hands control back to the policy."""
        payload = parse_episode_event(event)
        if payload is not None and payload["event"] == "start":
            self.evaluating = payload.get("mode") == "eval"
            request = payload.get("request")  # a reset request's id: the person's keys that end it echo it
            self.episode_request = request if isinstance(request, int) and not isinstance(request, bool) else None
            self.arbiter.reset()
            if self.human is not None:
                self.human.reset()

    def on_policy_action(self, trajectory: Any) -> None:
        """The policy's action of this tick runs the arbiter."""
        try:
            action = trajectory_to_actions(trajectory)[0].astype(np.float64)
        except MessageError as error:
            self.report(diagnostics.ERROR, f"rejected policy action: {error}")
            return
        self.policy_action, self.policy_time_ns = action, self.get_clock().now().nanoseconds
        if self.human is not None:
            self.human.watch(action)
        self.tick(action)

    def on_timer(self) -> None:
        """Without a fresh policy action, still let a person drive."""
        now_ns = self.get_clock().now().nanoseconds
        if self.policy_time_ns is None or (now_ns - self.policy_time_ns) / NS_PER_S > self.policy_timeout_s:
            self.tick(None)

    # -- output ----------------------------------------------------------------------

    def tick(self, policy_action: np.ndarray | None) -> None:
        """Decide, publish the command and the intervention flag, forward episode keys."""
        now_s = self._now_s()
        if self.device is None or self.evaluating:
            decision_command, intervening, events = policy_action, False, ()
        else:
            sample = self.device.read(now_s)
            was_intervening = self.arbiter.intervening
            decision = self.arbiter.decide(policy_action, sample.action, sample.intervene_pressed)
            decision_command, intervening, events = decision.command, decision.intervening, sample.events
            if intervening and not was_intervening:
                self.interventions += 1
                reason = self.human.reason if self.human is not None else "button"
                self.report(diagnostics.OK, f"{TAKEOVER_PREFIX}{reason})", interventions=self.interventions)
        # The flag goes first (the learner and the recorder label the tick's command with it), then a person's
        # command on teleop_action before /robot_rl/command with the same stamp: the safety gate lifts the residual
        # bound only for a command whose stamp a teleop copy carries, however DDS orders the topics.
        self.flag_pub.publish(msg.Bool(data=intervening))
        header = msg.Header(stamp=self.get_clock().now().to_msg(), frame_id="base_link")
        if decision_command is not None:
            trajectory = actions_to_trajectory(decision_command, self.period_s, header)
            if intervening:
                self.teleop_pub.publish(trajectory)
            self.command_pub.publish(trajectory)
        if self.publish_starts and self.ticks == 0:
            self._start_episode()
        self.ticks += 1
        self.intervention_ticks += int(intervening)
        for kind in events:
            key = {"event": kind, "source": "human"}
            if self.episode_request is not None:
                key["request"] = self.episode_request  # for a requester that missed the episode's start
            self.episode_pub.publish(msg.String(data=json.dumps(key)))
            self.report(diagnostics.OK, f"episode key: {kind}")
            if kind == "stop":
                self.request_shutdown("the person pressed stop")
            elif self.publish_starts:
                self._start_episode()

    def _start_episode(self) -> None:
        """On a real robot nobody else starts episodes: announce one (the recorder and the policy reset)."""
        event = {"event": "start", "source": "human", "episode": self.episodes_started}
        self.episode_pub.publish(msg.String(data=json.dumps(event)))
        self.episodes_started += 1

    def destroy_node(self) -> None:
        """Release the device (the keyboard listener's thread)."""
        if self.device is not None:
            self.device.close()
        super().destroy_node()


main = NodeMain(InterventionNode)
