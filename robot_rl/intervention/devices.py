"""Teleop devices behind one small interface: what a person asks for at this control tick.

A :class:`TeleopDevice` turns its raw input into a :class:`TeleopSample`: a normalized action
``[dx, dy, dz, droll, dpitch, dyaw, gripper]`` (robot_rl.action_space), whether the intervention
button is pressed now, and the episode keys pressed since the last read. The arbiter
(:mod:`robot_rl.intervention.arbiter`) decides from the button whether the person drives.

Devices here:

- :class:`KeyboardDevice`: key presses, from pynput's listener (needs a display) or fed directly;
- :class:`JoyDevice`: ``sensor_msgs/Joy`` from ROS's ``joy_node`` (gamepads);
- :class:`SpaceMouseDevice`: ``geometry_msgs/Twist`` and ``sensor_msgs/Joy`` buttons from ROS's
  ``spacenav`` driver.

A device whose input goes stale (no message within ``timeout_s``) reads as released with zero motion,
so a dropped gamepad never keeps driving the robot.
"""

from __future__ import annotations

import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from robot_rl.action_space import ACTION_DIM
from robot_rl.errors import InterventionError

EPISODE_KEYS: tuple[str, ...] = ("success", "failure", "rerecord", "stop")  # like LeRobot HIL-SERL's teleop events
GRIPPER = ACTION_DIM - 1  # index of the gripper axis: +1 closes, -1 opens


@dataclass(frozen=True)
class TeleopSample:
    """What a person asks for at one control tick."""

    action: np.ndarray  # (7,) normalized action in [-1, 1]; the gripper keeps its last command
    intervene_pressed: bool  # the intervention (deadman / toggle) button is down now
    events: tuple[str, ...] = ()  # episode keys pressed since the last read, from EPISODE_KEYS


class TeleopDevice(ABC):
    """A source of human commands, read once per control tick."""

    @abstractmethod
    def read(self, now_s: float) -> TeleopSample:
        """The sample at time ``now_s`` (s, the node's clock); episode keys are consumed by the read."""

    def close(self) -> None:  # noqa: B027 - most devices hold nothing to release
        """Release the device (threads, handles)."""


def _check_scale(name: str, scale: Sequence[float]) -> np.ndarray:
    array = np.asarray(scale, dtype=np.float64)
    if array.shape != (6,) or not np.all(np.isfinite(array)) or np.any(array < 0) or np.any(array > 1):
        raise InterventionError(f"{name} must be 6 numbers in [0, 1] (dx..dyaw), got {list(scale)}")
    return array


@dataclass(frozen=True)
class KeyboardConfig:
    """Key bindings of the keyboard device (pynput key names: letters, or 'space', 'right', 'esc', ...)."""

    scale: tuple[float, ...] = (0.5, 0.5, 0.5, 0.3, 0.3, 0.3)  # normalized action of a held key, dx..dyaw
    plus_keys: tuple[str, ...] = ("w", "a", "r", "u", "i", "l")  # +dx, +dy, +dz, +droll, +dpitch, +dyaw
    minus_keys: tuple[str, ...] = ("s", "d", "f", "o", "k", "j")  # -dx, -dy, -dz, -droll, -dpitch, -dyaw
    close_key: str = "c"  # closes the gripper (latched until open_key)
    open_key: str = "v"  # opens the gripper
    intervene_key: str = "space"  # the intervention button (held or toggled, see the arbiter's mode)
    event_keys: dict[str, str] = field(  # key -> episode key, as LeRobot's HIL-SERL keyboard
        default_factory=lambda: {"right": "success", "backspace": "failure", "left": "rerecord", "esc": "stop"}
    )
    event_debounce_s: float = 0.3  # an episode key fires at most once in this wall time (key bounce), s

    def __post_init__(self) -> None:
        _check_scale("KeyboardConfig.scale", self.scale)
        if not (math.isfinite(self.event_debounce_s) and self.event_debounce_s >= 0):
            raise InterventionError(f"KeyboardConfig.event_debounce_s must be >= 0, got {self.event_debounce_s}")
        if len(self.plus_keys) != 6 or len(self.minus_keys) != 6:
            raise InterventionError("KeyboardConfig.plus_keys and minus_keys need 6 keys each (dx..dyaw)")
        unknown = set(self.event_keys.values()) - set(EPISODE_KEYS)
        if unknown:
            raise InterventionError(f"KeyboardConfig.event_keys: unknown episode keys {sorted(unknown)}")
        keys = [*self.plus_keys, *self.minus_keys, self.close_key, self.open_key, self.intervene_key, *self.event_keys]
        if len(set(keys)) != len(keys):
            raise InterventionError(f"KeyboardConfig binds a key twice: {keys}")


class KeyboardDevice(TeleopDevice):
    """A keyboard: held motion keys move, the gripper keys latch, episode keys fire once.

    Feed it with :meth:`press` / :meth:`release` (key names), or call :meth:`start_listener` to
    take key events from pynput's global listener (X11; needs a display).
    """

    def __init__(self, config: KeyboardConfig | None = None) -> None:
        self.config = config if config is not None else KeyboardConfig()
        self._lock = threading.Lock()  # pynput calls press/release from its own thread
        self._held: set[str] = set()
        self._events: list[str] = []
        self._gripper = -1.0
        self._last_event_s: dict[str, float] = {}  # episode key -> wall time it last fired (debounce)
        self._listener: object | None = None

    def press(self, key: str) -> None:
        """A key went down."""
        with self._lock:
            if key in self._held:
                return  # auto-repeat
            self._held.add(key)
            if key == self.config.close_key:
                self._gripper = 1.0
            elif key == self.config.open_key:
                self._gripper = -1.0
            elif key in self.config.event_keys:
                now_s = time.monotonic()
                if now_s - self._last_event_s.get(key, -math.inf) >= self.config.event_debounce_s:
                    self._last_event_s[key] = now_s
                    self._events.append(self.config.event_keys[key])

    def release(self, key: str) -> None:
        """A key went up."""
        with self._lock:
            self._held.discard(key)

    def read(self, now_s: float) -> TeleopSample:
        """Motion of the held keys, the latched gripper, the intervene key and the episode keys since last read."""
        cfg = self.config
        with self._lock:
            action = np.zeros(ACTION_DIM)
            for axis, (plus, minus) in enumerate(zip(cfg.plus_keys, cfg.minus_keys, strict=True)):
                action[axis] = cfg.scale[axis] * ((plus in self._held) - (minus in self._held))
            action[GRIPPER] = self._gripper
            events, self._events = tuple(self._events), []
            return TeleopSample(action, cfg.intervene_key in self._held, events)

    def start_listener(self) -> None:
        """Listen to the real keyboard through pynput.

        Raises:
            InterventionError: When pynput cannot start (no X display, no permission).
        """
        try:
            from pynput import keyboard
        except Exception as error:  # pynput raises ImportError subclasses and Xlib errors without a display
            raise InterventionError(f"keyboard teleop needs pynput with a display: {error}".splitlines()[0]) from None

        def name(key: object) -> str | None:
            if isinstance(key, keyboard.KeyCode):
                return key.char.lower() if key.char else None
            return getattr(key, "name", None)

        def on_press(key: object) -> None:
            if (key_name := name(key)) is not None:
                self.press(key_name)

        def on_release(key: object) -> None:
            if (key_name := name(key)) is not None:
                self.release(key_name)

        listener = keyboard.Listener(on_press=on_press, on_release=on_release)
        listener.start()
        listener.wait()
        self._listener = listener

    def close(self) -> None:
        """Stop the pynput listener."""
        if self._listener is not None:
            self._listener.stop()  # type: ignore[attr-defined]
            self._listener = None


class _ButtonEdges:
    """Rising edges of buttons (an episode key fires once per press)."""

    def __init__(self) -> None:
        self._previous: Sequence[int] = ()

    def rising(self, buttons: Sequence[int]) -> set[int]:
        previous = self._previous
        self._previous = list(buttons)
        return {i for i, down in enumerate(buttons) if down and not (i < len(previous) and previous[i])}


def _button(buttons: Sequence[int], index: int) -> bool:
    return 0 <= index < len(buttons) and bool(buttons[index])


@dataclass(frozen=True)
class JoyConfig:
    """Mapping of a sensor_msgs/Joy gamepad (defaults: an Xbox pad under ROS's joy_node) to actions."""

    axes: tuple[int, ...] = (1, 0, 4, -1, -1, 3)  # Joy axis index of dx..dyaw; -1 = unused
    signs: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0)  # per-axis sign (flip an inverted stick)
    scale: tuple[float, ...] = (0.6, 0.6, 0.6, 0.3, 0.3, 0.3)  # normalized action at full deflection
    deadzone: float = 0.1  # stick deflection below this reads as zero, in [0, 1)
    intervene_button: int = 5  # right bumper: the intervention button
    close_button: int = 0  # A: close the gripper (latched)
    open_button: int = 1  # B: open the gripper
    event_buttons: dict[int, str] = field(  # button -> episode key
        default_factory=lambda: {7: "success", 6: "failure", 2: "rerecord", 8: "stop"}
    )
    timeout_s: float = 0.5  # no Joy message for this long: released, zero motion, s

    def __post_init__(self) -> None:
        _check_scale("JoyConfig.scale", self.scale)
        if len(self.axes) != 6 or len(self.signs) != 6:
            raise InterventionError("JoyConfig.axes and signs need 6 entries each (dx..dyaw)")
        if not 0.0 <= self.deadzone < 1.0:
            raise InterventionError(f"JoyConfig.deadzone must be in [0, 1), got {self.deadzone}")
        if not self.timeout_s > 0:
            raise InterventionError(f"JoyConfig.timeout_s must be > 0, got {self.timeout_s}")
        unknown = set(self.event_buttons.values()) - set(EPISODE_KEYS)
        if unknown:
            raise InterventionError(f"JoyConfig.event_buttons: unknown episode keys {sorted(unknown)}")


class JoyDevice(TeleopDevice):
    """A gamepad through ``sensor_msgs/Joy``: sticks move, buttons intervene, grip and send episode keys."""

    def __init__(self, config: JoyConfig | None = None) -> None:
        self.config = config if config is not None else JoyConfig()
        self._axes: Sequence[float] = ()
        self._buttons: Sequence[int] = ()
        self._stamp_s: float | None = None
        self._edges = _ButtonEdges()
        self._events: list[str] = []
        self._gripper = -1.0

    def on_joy(self, axes: Sequence[float], buttons: Sequence[int], now_s: float) -> None:
        """A Joy message arrived at ``now_s`` (s)."""
        cfg = self.config
        values = np.asarray(axes, dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise InterventionError("Joy axes hold a non-finite value")
        self._axes, self._buttons, self._stamp_s = values, list(buttons), now_s
        for index in sorted(self._edges.rising(buttons)):
            if index == cfg.close_button:
                self._gripper = 1.0
            elif index == cfg.open_button:
                self._gripper = -1.0
            elif index in cfg.event_buttons:
                self._events.append(cfg.event_buttons[index])

    def read(self, now_s: float) -> TeleopSample:
        """Stick motion with deadzone and scale; released with zero motion when the input is stale."""
        cfg = self.config
        action = np.zeros(ACTION_DIM)
        action[GRIPPER] = self._gripper
        events, self._events = tuple(self._events), []
        if self._stamp_s is None or now_s - self._stamp_s > cfg.timeout_s:
            return TeleopSample(action, False, events)
        for axis, index in enumerate(cfg.axes):
            if 0 <= index < len(self._axes):
                value = float(np.clip(self._axes[index], -1.0, 1.0))
                if abs(value) >= cfg.deadzone:
                    action[axis] = cfg.signs[axis] * cfg.scale[axis] * value
        return TeleopSample(np.clip(action, -1.0, 1.0), _button(self._buttons, cfg.intervene_button), events)


@dataclass(frozen=True)
class SpaceMouseConfig:
    """Mapping of a 3Dconnexion SpaceMouse under ROS's spacenav driver to actions."""

    full_scale: float = 1.0  # Twist value at full deflection (spacenav's linear/angular scale parameters)
    scale: tuple[float, ...] = (0.8, 0.8, 0.8, 0.4, 0.4, 0.4)  # normalized action at full deflection, dx..dyaw
    deadzone: float = 0.05  # deflection (fraction of full_scale) below this reads as zero
    intervene_button: int = 0  # left button: the intervention button
    gripper_button: int = 1  # right button: toggles the gripper between open and closed
    timeout_s: float = 0.5  # no Twist for this long: released, zero motion, s

    def __post_init__(self) -> None:
        _check_scale("SpaceMouseConfig.scale", self.scale)
        if not self.full_scale > 0:
            raise InterventionError(f"SpaceMouseConfig.full_scale must be > 0, got {self.full_scale}")
        if not 0.0 <= self.deadzone < 1.0:
            raise InterventionError(f"SpaceMouseConfig.deadzone must be in [0, 1), got {self.deadzone}")
        if not self.timeout_s > 0:
            raise InterventionError(f"SpaceMouseConfig.timeout_s must be > 0, got {self.timeout_s}")


class SpaceMouseDevice(TeleopDevice):
    """A SpaceMouse through ``spacenav``: ``/spacenav/twist`` moves, ``/spacenav/joy`` buttons act."""

    def __init__(self, config: SpaceMouseConfig | None = None) -> None:
        self.config = config if config is not None else SpaceMouseConfig()
        self._twist = np.zeros(6)
        self._stamp_s: float | None = None
        self._buttons: Sequence[int] = ()
        self._edges = _ButtonEdges()
        self._gripper = -1.0

    def on_twist(self, linear: Sequence[float], angular: Sequence[float], now_s: float) -> None:
        """A Twist (linear xyz, angular xyz) arrived at ``now_s`` (s)."""
        twist = np.array([*linear, *angular], dtype=np.float64)
        if twist.shape != (6,) or not np.all(np.isfinite(twist)):
            raise InterventionError("SpaceMouse twist must be 6 finite numbers")
        self._twist, self._stamp_s = twist, now_s

    def on_buttons(self, buttons: Sequence[int]) -> None:
        """The spacenav Joy message's buttons (the axes duplicate the twist)."""
        self._buttons = list(buttons)
        if self.config.gripper_button in self._edges.rising(buttons):
            self._gripper = -self._gripper

    def read(self, now_s: float) -> TeleopSample:
        """Twist scaled to the action; released with zero motion when the twist is stale."""
        cfg = self.config
        action = np.zeros(ACTION_DIM)
        action[GRIPPER] = self._gripper
        if self._stamp_s is None or now_s - self._stamp_s > cfg.timeout_s:
            return TeleopSample(action, False)
        deflection = np.clip(self._twist / cfg.full_scale, -1.0, 1.0)
        deflection[np.abs(deflection) < cfg.deadzone] = 0.0
        action[:6] = deflection * np.asarray(cfg.scale)
        return TeleopSample(action, _button(self._buttons, cfg.intervene_button))
