"""Backend selection: flag, ROBOT_RL_BACKEND, else rclpy when importable, else inproc."""

import pytest

from robot_rl.errors import BackendError
from robot_rl.runtime import backend


def test_env_var_selects_and_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(backend.ENV_VAR, "inproc")
    assert backend.selected_backend_name() == "inproc"
    monkeypatch.setenv(backend.ENV_VAR, " INPROC ")
    assert backend.selected_backend_name() == "inproc"
    monkeypatch.setenv(backend.ENV_VAR, "zmq")
    with pytest.raises(BackendError, match="not a backend"):
        backend.selected_backend_name()
    monkeypatch.setenv(backend.ENV_VAR, "dds")
    with pytest.raises(BackendError, match="'dds' is not implemented yet"):
        backend.selected_backend_name()


def test_default_follows_rclpy_availability(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(backend.ENV_VAR, raising=False)
    monkeypatch.setattr(backend, "rclpy_available", lambda: False)
    assert backend.selected_backend_name() == "inproc"
    assert backend.uses_ros_message_classes() is False
    monkeypatch.setattr(backend, "rclpy_available", lambda: True)
    assert backend.selected_backend_name() == "rclpy"
    assert backend.uses_ros_message_classes() is True


def test_rclpy_requested_without_rclpy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend, "rclpy_available", lambda: False)
    monkeypatch.setenv(backend.ENV_VAR, "rclpy")
    with pytest.raises(BackendError, match="rclpy cannot be imported"):
        backend.selected_backend_name()


def test_select_backend_sets_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(backend.ENV_VAR, raising=False)
    assert backend.select_backend("inproc") == "inproc"
    assert backend.selected_backend_name() == "inproc"
