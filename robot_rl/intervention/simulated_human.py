"""A simulated human for correction sessions in simulation: the scripted expert with a takeover rule.

It watches every tick: the scene (the expert's privileged state) and the policy's action. It
takes over (presses the intervention button and drives with the expert's action) when one of
its rules fires, and keeps control to the end of the episode unless it gives up:

- ``takeover_at_step``: the task is not done by this control step ("the last N ticks");
- ``drift_threshold_m``: the policy's commanded motion has drifted from the expert's plan by more
  than this: a leaky sum of (policy - expert) translation commands, in metres;
- ``take_over_on_regrasp``: the expert's own phase machine fell back to ``approach`` after a grasp,
  i.e. the object left the gripper or a grasp missed;
- ``give_up_after_ticks``: after this many ticks of driving it lets go and does not take over again
  in this episode.

Tests and sim experiments use it to play a teleop correction session without a person.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from robot_rl.action_space import ACTION_DIM
from robot_rl.errors import InterventionError
from robot_rl.intervention.devices import TeleopDevice, TeleopSample
from robot_rl.sim.experts import ExpertInput, ScriptedExpert

PHASE_MARKER = "; the expert's phase: "  # joins a takeover's rule and the expert's phase in ``SimulatedHuman.reason``


@dataclass(frozen=True)
class SimulatedHumanConfig:
    """Takeover rules of the simulated human; 0 switches a rule off."""

    takeover_at_step: int = 0  # take over when the episode reaches this control step (0 = off)
    drift_threshold_m: float = 0.0  # take over when the policy's drift from the expert's plan exceeds this, m
    drift_decay: float = 0.9  # per-tick decay of the drift sum, in [0, 1): forgets old disagreements
    take_over_on_regrasp: bool = True  # take over when the expert falls back to approach after a grasp
    give_up_after_ticks: int = 0  # let go after driving this many ticks in an episode (0 = never)
    translation_scale_m: float = 0.05  # metres per tick at |action| = 1 (the safety gate's action_scale)

    def __post_init__(self) -> None:
        for name in ("takeover_at_step", "give_up_after_ticks"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InterventionError(f"SimulatedHumanConfig.{name} must be an int >= 0, got {value!r}")
        if not (math.isfinite(self.drift_threshold_m) and self.drift_threshold_m >= 0):
            raise InterventionError(
                f"SimulatedHumanConfig.drift_threshold_m must be >= 0 m, got {self.drift_threshold_m}"
            )
        if not 0.0 <= self.drift_decay < 1.0:
            raise InterventionError(f"SimulatedHumanConfig.drift_decay must be in [0, 1), got {self.drift_decay}")
        if not (math.isfinite(self.translation_scale_m) and self.translation_scale_m > 0):
            raise InterventionError("SimulatedHumanConfig.translation_scale_m must be > 0")


class SimulatedHuman(TeleopDevice):
    """The scripted expert as a person at the teleop device.

    Per tick: :meth:`observe` the scene (runs the expert once), :meth:`watch` the policy's action,
    then :meth:`read` the sample. Call :meth:`reset` at every episode start.
    """

    def __init__(self, expert: ScriptedExpert, config: SimulatedHumanConfig | None = None) -> None:
        self.expert = expert
        self.config = config if config is not None else SimulatedHumanConfig()
        self.reset()

    def reset(self) -> None:
        """A new episode: hands off, nothing observed yet."""
        self.expert.reset()
        self.step = 0  # ticks observed in this episode
        self.driving = False
        self.gave_up = False
        self.ticks_driven = 0
        self.drift_m = np.zeros(3)  # leaky sum of (policy - expert) translation, m
        self.reason = ""  # why the human took over and the expert's phase then (for reports)
        self._expert_action: np.ndarray | None = None
        self._state: ExpertInput | None = None  # the scene of this tick
        self._grasped = False  # the expert has been past its grasp phase this episode

    def observe(self, state: ExpertInput) -> None:
        """See the scene of this tick: the expert plans its action, the regrasp rule is checked."""
        action = self.expert.act(state).astype(np.float64)
        self._expert_action, self._state = action, state
        self.step += 1
        phase = self.expert.phase
        if phase not in ("approach", "descend", "grasp"):
            self._grasped = True
        elif phase == "approach" and self._grasped:
            self._grasped = False
            if self.config.take_over_on_regrasp:
                self._take_over("the object left the gripper (the expert re-grasps)")
        if self.config.takeover_at_step and self.step >= self.config.takeover_at_step:
            self._take_over(f"not done by step {self.config.takeover_at_step}")

    def watch(self, policy_action: np.ndarray) -> None:
        """See the policy's action of this tick; accumulate its drift from the expert's plan."""
        if self._expert_action is None or self.driving:
            return
        difference = np.asarray(policy_action[:3], dtype=np.float64) - self._expert_action[:3]
        if not np.all(np.isfinite(difference)):
            return  # the safety gate holds a non-finite command; the drift sum stays meaningful
        self.drift_m = self.config.drift_decay * self.drift_m + difference * self.config.translation_scale_m
        threshold = self.config.drift_threshold_m
        if threshold and float(np.linalg.norm(self.drift_m)) > threshold:
            self._take_over(f"the policy drifted {np.linalg.norm(self.drift_m):.3f} m from the expert's plan")

    def read(self, now_s: float) -> TeleopSample:
        """The expert's action; the button is pressed while the human drives."""
        action = self._expert_action if self._expert_action is not None else _hold()
        if self.driving:
            self.ticks_driven += 1
            if self.config.give_up_after_ticks and self.ticks_driven > self.config.give_up_after_ticks:
                self.driving, self.gave_up = False, True
        return TeleopSample(action.copy(), self.driving)

    def _take_over(self, reason: str) -> None:
        if self.driving or self.gave_up or self._state is None:
            return
        # The phases the expert followed while the policy drove can be stale: pick up from the scene, and act on it
        # from this tick on. The phase then says what the person does first (approach: open the gripper, hover).
        self.expert.resume(self._state)
        self._expert_action = self.expert.act(self._state).astype(np.float64)
        self.driving, self.reason = True, f"{reason}{PHASE_MARKER}{self.expert.phase}"


def _hold() -> np.ndarray:
    action = np.zeros(ACTION_DIM)
    action[-1] = -1.0
    return action
