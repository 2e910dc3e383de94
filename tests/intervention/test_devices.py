"""Teleop devices: keyboard (fed directly and through pynput's own controller on a display), Joy, SpaceMouse."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import numpy as np
import pytest

from robot_rl.errors import InterventionError
from robot_rl.intervention.devices import (
    JoyConfig,
    JoyDevice,
    KeyboardConfig,
    KeyboardDevice,
    SpaceMouseConfig,
    SpaceMouseDevice,
)


def test_keyboard_held_keys_move_and_release_stops() -> None:
    keyboard = KeyboardDevice()
    keyboard.press("w")
    keyboard.press("d")
    keyboard.press("space")
    sample = keyboard.read(0.0)
    np.testing.assert_allclose(sample.action, [0.5, -0.5, 0, 0, 0, 0, -1])
    assert sample.intervene_pressed
    keyboard.release("w")
    keyboard.release("d")
    keyboard.release("space")
    sample = keyboard.read(0.0)
    np.testing.assert_allclose(sample.action, [0, 0, 0, 0, 0, 0, -1])
    assert not sample.intervene_pressed


def test_keyboard_gripper_latches_and_episode_keys_fire_once() -> None:
    keyboard = KeyboardDevice()
    keyboard.press("c")
    keyboard.release("c")
    keyboard.press("right")
    keyboard.release("right")
    keyboard.press("right")  # a bounce within event_debounce_s
    sample = keyboard.read(0.0)
    assert sample.action[-1] == 1.0  # closed, still latched after release
    assert sample.events == ("success",)
    assert keyboard.read(0.0).events == ()  # consumed by the read
    keyboard.press("v")
    assert keyboard.read(0.0).action[-1] == -1.0


def test_keyboard_config_rejects_bad_bindings() -> None:
    with pytest.raises(InterventionError, match="binds a key twice"):
        KeyboardConfig(close_key="w")
    with pytest.raises(InterventionError, match="unknown episode keys"):
        KeyboardConfig(event_keys={"x": "pause"})
    with pytest.raises(InterventionError, match=r"scale must be 6 numbers in \[0, 1\]"):
        KeyboardConfig(scale=(2.0, 0, 0, 0, 0, 0))


@pytest.fixture
def display() -> Iterator[str]:
    """A display for pynput: the session's own, else a private Xvfb with the RECORD extension."""
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    if shutil.which("Xvfb") is None:
        pytest.skip("no display and no Xvfb: the keyboard path is covered through the device interface")
    name = f":{50 + os.getpid() % 1000}"
    server = subprocess.Popen(
        ["Xvfb", name, "-screen", "0", "320x240x24", "+extension", "RECORD", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(f"/tmp/.X11-unix/X{name[1:]}"):
            if time.monotonic() > deadline or server.poll() is not None:
                pytest.fail("Xvfb did not start")
            time.sleep(0.05)
        yield name
    finally:
        server.terminate()
        server.wait(timeout=10)


KEYBOARD_SCRIPT = """
import json, time
from pynput.keyboard import Controller, Key
from robot_rl.intervention.devices import KeyboardDevice

device = KeyboardDevice()
device.start_listener()
keys = Controller()
samples = []

def settle():
    time.sleep(0.3)

keys.press("w"); keys.press("r"); keys.press(Key.space); settle()
samples.append(device.read(0.0))
keys.release("w"); keys.release("r"); keys.release(Key.space); keys.press("c"); keys.release("c"); settle()
samples.append(device.read(0.0))
keys.press(Key.right); keys.release(Key.right); settle()
samples.append(device.read(0.0))
device.close()
print(json.dumps([[s.action.tolist(), s.intervene_pressed, list(s.events)] for s in samples]))
"""


def test_keyboard_through_pynput_on_a_real_display(display: str) -> None:
    env = {**os.environ, "DISPLAY": display}
    result = subprocess.run(
        [sys.executable, "-c", KEYBOARD_SCRIPT], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    held, released, event = json.loads(result.stdout.strip().splitlines()[-1])
    assert held == [[0.5, 0.0, 0.5, 0.0, 0.0, 0.0, -1.0], True, []]
    assert released == [[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0], False, []]
    assert event[2] == ["success"]


def test_keyboard_without_display_is_a_clear_error() -> None:
    script = (
        "from robot_rl.intervention.devices import KeyboardDevice\n"
        "from robot_rl.errors import InterventionError\n"
        "try:\n    KeyboardDevice().start_listener()\n"
        "except InterventionError as error:\n    print('error:', error)\n"
    )
    env = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.startswith("error: keyboard teleop needs pynput with a display")
    assert len(result.stdout.strip().splitlines()) == 1


def test_joy_maps_sticks_with_deadzone_and_sign() -> None:
    joy = JoyDevice(JoyConfig(signs=(1.0, -1.0, 1.0, 1.0, 1.0, 1.0)))
    axes = [0.05, 1.0, 0.0, -0.5, 0.0, 0.0]  # left x inside the deadzone, left y full, right x half
    buttons = [0] * 11
    buttons[5] = 1  # right bumper: intervene
    joy.on_joy(axes, buttons, now_s=1.0)
    sample = joy.read(now_s=1.1)
    np.testing.assert_allclose(sample.action, [0.6, -0.0, 0.0, 0.0, 0.0, -0.15, -1.0])
    assert sample.intervene_pressed


def test_joy_buttons_fire_on_press_not_hold() -> None:
    joy = JoyDevice()
    buttons = [0] * 11
    buttons[0] = buttons[7] = 1  # A closes, start = success
    joy.on_joy([0.0] * 8, buttons, now_s=0.0)
    joy.on_joy([0.0] * 8, buttons, now_s=0.05)  # still held: no second event
    sample = joy.read(0.05)
    assert sample.events == ("success",)
    assert sample.action[-1] == 1.0


def test_joy_goes_quiet_when_stale_and_rejects_nan() -> None:
    joy = JoyDevice(JoyConfig(timeout_s=0.5))
    joy.on_joy([0.0, 1.0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1], now_s=0.0)
    sample = joy.read(now_s=0.6)
    assert not sample.intervene_pressed
    assert not np.any(sample.action[:6])
    with pytest.raises(InterventionError, match="non-finite"):
        joy.on_joy([float("nan")], [], now_s=1.0)


def test_spacemouse_scales_twist_and_toggles_gripper() -> None:
    mouse = SpaceMouseDevice(SpaceMouseConfig(full_scale=0.5))
    mouse.on_twist((0.5, -0.25, 0.01), (0.0, 0.0, 0.5), now_s=2.0)
    mouse.on_buttons([1, 1])
    sample = mouse.read(now_s=2.05)
    np.testing.assert_allclose(sample.action, [0.8, -0.4, 0.0, 0.0, 0.0, 0.4, 1.0])  # 0.02 is in the deadzone
    assert sample.intervene_pressed
    mouse.on_buttons([0, 0])
    mouse.on_buttons([0, 1])
    assert mouse.read(now_s=2.1).action[-1] == -1.0
    assert not mouse.read(now_s=3.0).intervene_pressed  # stale twist: released
