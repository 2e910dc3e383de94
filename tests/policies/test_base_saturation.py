"""The base node publishes actions inside the action space and reports what it saturated; the gate stays as strict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robot_rl.action_space import ACTION_NAMES, actions_to_trajectory, trajectory_to_actions
from robot_rl.policies.base import ActionChunker
from robot_rl.policies.base_node import BasePolicyNode
from robot_rl.runtime.diagnostics import OK, WARN, level_of
from robot_rl.runtime.inproc import InprocContext
from robot_rl.safety.node import SafetyNode
from tests.policies.test_base_node import Robot, graph, run
from tests.safety.test_node import WORKSPACE, Harness

GRIPPER, DZ = ACTION_NAMES.index("gripper"), ACTION_NAMES.index("dz")


def chunk() -> np.ndarray:
    """A 10-step chunk as ACT's mean/std unnormalization gives it: the gripper a hair beyond +-1, dz far beyond."""
    plan = np.zeros((10, len(ACTION_NAMES)), dtype=np.float32)
    plan[:, GRIPPER] = 0.5
    plan[0, GRIPPER] = 1.0003
    plan[2, DZ], plan[2, GRIPPER] = -1.25, -1.0003
    plan[6, GRIPPER] = 1.2  # a later point of the plan (ensemble mode publishes it; queue mode runs 5)
    return plan


def patched(
    checkpoint: Path, monkeypatch: pytest.MonkeyPatch, *params: str
) -> tuple[InprocContext, Robot, BasePolicyNode]:
    """The base node on the tiny ACT, its policy's de-normalized chunk replaced by :func:`chunk`."""
    context, robot, node = graph(checkpoint, *params)
    monkeypatch.setattr(node.policy, "_predict", lambda batch: chunk())
    return context, robot, node


def last_report(robot: Robot) -> tuple[str, dict[str, str]]:
    """The base node's latest OK diagnostic: message and values."""
    status = [s for array in robot.diagnostics for s in array.status if level_of(s) == OK][-1]
    return status.message, {kv.key: kv.value for kv in status.values}


@pytest.mark.parametrize("mode", ["queue", "ensemble"])
def test_the_published_plan_and_action_are_saturated_to_the_action_space(
    act_checkpoint: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    context, robot, node = patched(act_checkpoint, monkeypatch, f"chunk_mode:={mode}")
    robot.event("start")
    run(context, robot, range(3))
    chunker = ActionChunker(node.policy.chunker.config)  # what the node's chunker plans from the raw chunks
    assert len(robot.chunks) == len(robot.actions) == 3
    for tick, (published, action) in enumerate(zip(robot.chunks, robot.actions, strict=True)):
        _, plan = chunker.step(chunk)
        assert tick > 0 or np.abs(plan).max() > 1.0  # the raw plan leaves the action space
        points = trajectory_to_actions(published)
        assert np.abs(points).max() <= 1.0
        np.testing.assert_allclose(points, np.clip(plan, -1.0, 1.0), atol=1e-6)
        np.testing.assert_array_equal(trajectory_to_actions(action)[0], points[0])  # point 0 saturated the same way


def test_saturated_actions_are_counted_in_the_periodic_diagnostic(
    act_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context, robot, _ = patched(act_checkpoint, monkeypatch)
    robot.event("start")
    run(context, robot, range(1))  # point 0: gripper 1.0003
    message, values = last_report(robot)
    assert message == "acting: 1 actions in 1 ticks, 1 saturated to [-1, 1]"
    assert (values["saturated_actions"], values["saturated_axes"]) == ("1", "gripper 1")
    assert (values["max_overshoot"], values["max_overshoot_axis"]) == ("0.0003", "gripper")
    run(context, robot, range(1, 3))  # point 1 in range; point 2: dz -1.25, gripper -1.0003
    message, values = last_report(robot)
    assert message == "acting: 3 actions in 3 ticks, 2 saturated to [-1, 1]"
    assert (values["saturated_actions"], values["saturated_axes"]) == ("2", "gripper 2, dz 1")
    assert (values["max_overshoot"], values["max_overshoot_axis"]) == ("0.25", "dz")


def test_a_policy_within_the_action_space_reports_no_saturation(
    act_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context, robot, node = graph(act_checkpoint)
    monkeypatch.setattr(node.policy, "_predict", lambda batch: np.clip(chunk(), -1.0, 1.0))  # +-1 exactly
    robot.event("start")
    run(context, robot, range(3))
    message, values = last_report(robot)
    assert message.startswith("acting: 3 actions in 3 ticks")
    assert "saturated" not in message
    assert (values["saturated_actions"], values["saturated_axes"], values["max_overshoot"]) == ("0", "none", "0")


def test_the_gate_passes_the_saturated_base_and_still_clamps_the_raw_output(
    act_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # what the base node publishes on /robot_rl/base_action and /robot_rl/policy_action at tick 0
    context, robot, _ = patched(act_checkpoint, monkeypatch)
    robot.event("start")
    run(context, robot, range(1))
    (base,), (action,) = trajectory_to_actions(robot.chunks[0])[:1], trajectory_to_actions(robot.actions[0])
    assert base[GRIPPER] == action[GRIPPER] == 1.0

    gate_context = InprocContext()
    args = ["--ros-args", "-p", "use_sim_time:=true", "-p", f"workspace_file:={WORKSPACE}"]
    SafetyNode(context=gate_context, cli_args=args)
    harness = Harness(gate_context)
    harness.base.publish(actions_to_trajectory(base, 0.05, harness.stamp()))
    harness.tick(action)
    assert harness.diagnostics[-1].message == "command passed unchanged"  # no safety event for the base's output
    np.testing.assert_array_equal(harness.safe[-1], action)
    # the gate is as strict as before: the raw output, a hair beyond max_action, is clamped and reported
    raw = chunk()[0].astype(np.float64)
    harness.tick(raw)
    status = harness.diagnostics[-1]
    assert level_of(status) == WARN
    assert status.message == "per-axis clamp"
    values = {kv.key: kv.value for kv in status.values}
    assert float(values["requested_gripper"]) == pytest.approx(1.0003, abs=1e-6)
    assert harness.safe[-1][GRIPPER] == 1.0
