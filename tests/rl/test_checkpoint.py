"""Actor checkpoints (round trip and every way a load must fail) and resumable training state."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save, save_file

from robot_rl.errors import PolicyError
from robot_rl.policies.checkpoint_info import file_sha256
from robot_rl.rl.checkpoint import (
    CONFIG_FILE,
    MODEL_FILE,
    WEIGHTS_CONFIG_KEY,
    ResidualMetadata,
    decode_actor_weights,
    encode_actor_weights,
    load_residual,
    load_training_state,
    save_residual,
    save_training_state,
)
from robot_rl.rl.replay import ReplayBuffer, sample_mixed
from robot_rl.rl.td3 import ResidualTD3, TD3Config

OBS_DIM, ACTION_DIM = 6, 7
FEATURES = ("ee_x", "ee_y", "ee_z", "cube_x", "cube_y", "cube_z")
BASE_HASH = "ab" * 32
CONFIG = TD3Config(actor_hidden=(16, 16), critic_hidden=(16, 16), batch_size=16, critic_warmup_updates=0)


def _learner(config: TD3Config = CONFIG) -> ResidualTD3:
    return ResidualTD3(config, OBS_DIM, ACTION_DIM, obs_mean=np.arange(OBS_DIM) * 0.1, obs_std=np.full(OBS_DIM, 0.5))


def _filled_buffer(seed: int, size: int = 40) -> ReplayBuffer:
    rng = np.random.default_rng(seed)
    buffer = ReplayBuffer(capacity=64, obs_dim=OBS_DIM, action_dim=ACTION_DIM)
    buffer.add_batch(
        {
            "obs": rng.normal(size=(size, OBS_DIM)),
            "base_action": rng.uniform(-1, 1, (size, ACTION_DIM)),
            "action": rng.uniform(-1, 1, (size, ACTION_DIM)),
            "reward": rng.normal(size=size),
            "next_obs": rng.normal(size=(size, OBS_DIM)),
            "next_base_action": rng.uniform(-1, 1, (size, ACTION_DIM)),
            "discount": np.full(size, 0.97),
            "n_step_return": rng.normal(size=size),
        }
    )
    return buffer


def _trained_learner() -> ResidualTD3:
    learner = _learner()
    buffer, rng = _filled_buffer(0), np.random.default_rng(0)
    for _ in range(10):
        learner.update(buffer.sample(16, rng))
    return learner


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, ResidualTD3]:
    learner = _trained_learner()
    directory = tmp_path / "residual"
    save_residual(directory, learner, ResidualMetadata(FEATURES, "Lift", BASE_HASH))
    return directory, learner


def _rewrite_model(directory: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Replace model.safetensors and record its new sha256 (a writer that skipped the checks)."""
    save_file(tensors, str(directory / MODEL_FILE))
    config = json.loads((directory / CONFIG_FILE).read_text())
    config["model_sha256"] = file_sha256(directory / MODEL_FILE)
    (directory / CONFIG_FILE).write_text(json.dumps(config))


def test_actor_checkpoint_round_trip(saved: tuple[Path, ResidualTD3], monkeypatch: pytest.MonkeyPatch) -> None:
    directory, learner = saved

    def no_unpickling(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("load_residual unpickled something")

    monkeypatch.setattr(pickle, "load", no_unpickling)
    monkeypatch.setattr(pickle, "loads", no_unpickling)
    monkeypatch.setattr(torch, "load", no_unpickling)
    bundle = load_residual(
        directory, expected_obs_features=FEATURES, expected_action_dim=7, expected_base_hash=BASE_HASH
    )
    assert not bundle.actor.training
    assert not any(p.requires_grad for p in bundle.actor.parameters())
    assert bundle.residual_scale == pytest.approx(CONFIG.residual_scale)
    assert bundle.metadata == ResidualMetadata(FEATURES, "Lift", BASE_HASH)
    assert bundle.model_sha256 == file_sha256(directory / MODEL_FILE)
    assert bundle.exploration_noise == CONFIG.exploration_noise
    for name, tensor in learner.actor.state_dict().items():
        assert torch.equal(bundle.actor.state_dict()[name], tensor), name
    assert torch.equal(bundle.normalizer.mean, learner.normalizer.mean)
    rng = np.random.default_rng(1)
    obs, base = rng.normal(size=OBS_DIM), rng.uniform(-1, 1, ACTION_DIM)
    executed, residual = bundle.act(obs, base)
    expected_executed, expected_residual = learner.act(obs, base, explore=False)
    assert np.array_equal(executed, expected_executed)
    assert np.array_equal(residual, expected_residual)
    assert np.abs(residual).max() > 0  # trained: a real residual went through the round trip
    config = json.loads((directory / CONFIG_FILE).read_text())
    assert config["obs_features"] == list(FEATURES)
    assert config["action_dim"] == 7
    assert config["obs_dim"] == OBS_DIM
    assert config["actor_hidden"] == [16, 16]
    assert config["task"] == "Lift"
    assert config["torch_version"]
    assert set(load_file(directory / MODEL_FILE)) == {"obs_mean", "obs_std"} | {
        f"actor.{name}" for name in learner.actor.state_dict()
    }


def test_missing_directory_and_files(saved: tuple[Path, ResidualTD3], tmp_path: Path) -> None:
    directory, _ = saved
    with pytest.raises(PolicyError, match="does not exist"):
        load_residual(tmp_path / "nowhere")
    (directory / MODEL_FILE).unlink()
    with pytest.raises(PolicyError, match=r"model\.safetensors is missing"):
        load_residual(directory)
    (directory / CONFIG_FILE).unlink()
    with pytest.raises(PolicyError, match=r"config\.json is missing"):
        load_residual(directory)


def test_truncated_model_file(saved: tuple[Path, ResidualTD3]) -> None:
    directory, _ = saved
    data = (directory / MODEL_FILE).read_bytes()
    (directory / MODEL_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(PolicyError, match="truncated or corrupt") as error:
        load_residual(directory)
    assert "\n" not in str(error.value)


def test_flipped_byte_fails_the_hash(saved: tuple[Path, ResidualTD3]) -> None:
    directory, _ = saved
    data = bytearray((directory / MODEL_FILE).read_bytes())
    data[-5] ^= 0x01  # inside the last tensor's bytes: still a valid safetensors file
    (directory / MODEL_FILE).write_bytes(bytes(data))
    with pytest.raises(PolicyError, match="sha256"):
        load_residual(directory)


def test_nan_weight_is_refused(saved: tuple[Path, ResidualTD3]) -> None:
    directory, learner = saved
    tensors = load_file(directory / MODEL_FILE)
    tensors["actor.head.weight"][0, 0] = float("nan")
    _rewrite_model(directory, tensors)
    with pytest.raises(PolicyError, match=r"actor\.head\.weight holds NaN"):
        load_residual(directory)
    with torch.no_grad():
        learner.actor.head.bias[0] = float("inf")
    with pytest.raises(PolicyError, match="refusing to save"):
        save_residual(directory / "again", learner, ResidualMetadata(FEATURES, "Lift", BASE_HASH))


def test_tensor_shape_that_does_not_match_the_config(saved: tuple[Path, ResidualTD3]) -> None:
    directory, _ = saved
    config = json.loads((directory / CONFIG_FILE).read_text())
    config["actor_hidden"] = [16, 32]
    (directory / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(PolicyError, match=r"shape \(16, 16\), config\.json implies \(32, 16\)"):
        load_residual(directory)


def test_feature_list_action_size_and_base_hash_mismatches(saved: tuple[Path, ResidualTD3]) -> None:
    directory, _ = saved
    swapped = (*FEATURES[:4], "cube_z", "cube_y")
    with pytest.raises(PolicyError, match="observation feature 4 was trained as 'cube_y', the caller feeds 'cube_z'"):
        load_residual(directory, expected_obs_features=swapped)
    with pytest.raises(PolicyError, match="trained on 6 observation features, the caller feeds 5"):
        load_residual(directory, expected_obs_features=FEATURES[:5])
    with pytest.raises(PolicyError, match="outputs 7 action dims, expected 6"):
        load_residual(directory, expected_action_dim=6)
    with pytest.raises(PolicyError, match="trained on base weights abababab"):
        load_residual(directory, expected_base_hash="cd" * 32)


def test_malformed_config(saved: tuple[Path, ResidualTD3]) -> None:
    directory, _ = saved
    (directory / CONFIG_FILE).write_text("{not json")
    with pytest.raises(PolicyError, match="not valid JSON"):
        load_residual(directory)
    (directory / CONFIG_FILE).write_text(json.dumps({"format": "robot_rl.residual_actor"}))
    with pytest.raises(PolicyError, match="lacks 'format_version'"):
        load_residual(directory)


@pytest.mark.parametrize("noise", [-0.1, float("nan"), "0.05", None])
def test_a_recorded_exploration_noise_out_of_range_is_refused(saved: tuple[Path, ResidualTD3], noise: Any) -> None:
    directory, _ = saved
    config = json.loads((directory / CONFIG_FILE).read_text())
    config["td3_config"]["exploration_noise"] = noise
    (directory / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(PolicyError, match=r"td3_config\.exploration_noise must be a finite number >= 0"):
        load_residual(directory)


def test_a_checkpoint_without_td3_config_records_no_exploration_noise(saved: tuple[Path, ResidualTD3]) -> None:
    directory, _ = saved
    config = json.loads((directory / CONFIG_FILE).read_text())
    del config["td3_config"]
    (directory / CONFIG_FILE).write_text(json.dumps(config))
    assert load_residual(directory).exploration_noise is None


def test_save_checks_the_feature_names() -> None:
    with pytest.raises(PolicyError, match="observation feature names"):
        save_residual(Path("/nonexistent"), _learner(), ResidualMetadata(FEATURES[:3], "Lift", BASE_HASH))


def _continue(learner: ResidualTD3, online: ReplayBuffer, offline: ReplayBuffer, rng: np.random.Generator) -> list:
    return [learner.update(sample_mixed(online, offline, 16, rng)) for _ in range(3)]


def test_training_state_round_trip_resumes_identically(tmp_path: Path) -> None:
    learner, online, offline = _learner(), _filled_buffer(1, size=30), _filled_buffer(2, size=50)
    rng = np.random.default_rng(7)
    _continue(learner, online, offline, rng)
    path = tmp_path / "train_state"
    save_training_state(path, learner, {"online": online, "offline": offline}, {"env_steps": 123, "episodes": 4}, rng)
    save_training_state(path, learner, {"online": online, "offline": offline}, {"env_steps": 123, "episodes": 4}, rng)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train_state"]  # no .tmp / .old left behind
    expected = _continue(learner, online, offline, rng)

    resumed = ResidualTD3(CONFIG, OBS_DIM, ACTION_DIM)  # default normalizer: the checkpoint brings the stats
    online2 = ReplayBuffer(capacity=64, obs_dim=OBS_DIM, action_dim=ACTION_DIM)
    offline2 = ReplayBuffer(capacity=64, obs_dim=OBS_DIM, action_dim=ACTION_DIM)
    rng2 = np.random.default_rng(999)
    counters = load_training_state(path, resumed, {"online": online2, "offline": offline2}, rng2)
    assert counters == {"env_steps": 123, "episodes": 4}
    assert (len(online2), len(offline2)) == (30, 50)
    assert _continue(resumed, online2, offline2, rng2) == expected


def test_training_state_refuses_a_different_config_or_corrupt_files(tmp_path: Path) -> None:
    learner, buffer = _learner(), _filled_buffer(0)
    path = save_training_state(tmp_path / "state", learner, {"online": buffer}, {"env_steps": 1})
    other = TD3Config(**{**CONFIG.to_dict(), "tau": 0.01})
    with pytest.raises(PolicyError, match="tau"):
        load_training_state(path, ResidualTD3(other, OBS_DIM, ACTION_DIM), {"online": _filled_buffer(0)})
    with pytest.raises(PolicyError, match="buffers"):
        load_training_state(path, _learner(), {"offline": _filled_buffer(0)})
    data = bytearray((path / "learner.safetensors").read_bytes())
    data[-3] ^= 0xFF
    (path / "learner.safetensors").write_bytes(bytes(data))
    with pytest.raises(PolicyError, match="sha256"):
        load_training_state(path, _learner(), {"online": _filled_buffer(0)})
    with pytest.raises(PolicyError, match="missing"):
        load_training_state(tmp_path / "nowhere", _learner(), {})


def test_a_kill_mid_save_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    learner, buffer = _learner(), _filled_buffer(0)
    path = save_training_state(tmp_path / "state", learner, {"online": buffer}, {"env_steps": 1})
    learner.update(buffer.sample(16, np.random.default_rng(0)))

    def killed(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", killed)
    with pytest.raises(KeyboardInterrupt):
        save_training_state(path, learner, {"online": buffer}, {"env_steps": 2})
    monkeypatch.undo()
    assert load_training_state(path, _learner(), {"online": _filled_buffer(0)}) == {"env_steps": 1}
    # a kill between the two renames of the swap: only <dir>.old holds a complete checkpoint
    path.rename(tmp_path / "state.old")
    assert load_training_state(path, _learner(), {"online": _filled_buffer(0)}) == {"env_steps": 1}


def test_save_refuses_to_replace_a_directory_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    precious = tmp_path / "data"
    precious.mkdir()
    (precious / "demo.parquet").write_text("keep me")
    with pytest.raises(PolicyError, match="not a training checkpoint"):
        save_training_state(precious, _learner(), {}, {})
    assert (precious / "demo.parquet").read_text() == "keep me"


# -- weights messages (learner -> residual node) -------------------------------------------------------------------


def test_weights_blob_round_trip_matches_the_checkpoint_and_never_unpickles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    learner = _trained_learner()
    metadata = ResidualMetadata(FEATURES, "Stack", BASE_HASH)
    blob = encode_actor_weights(learner, metadata, version=7)
    save_residual(tmp_path, learner, metadata)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("decoding must not unpickle")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    bundle, version = decode_actor_weights(blob, FEATURES, expected_base_hash=BASE_HASH)
    assert version == 7
    assert bundle.source is None
    assert bundle.metadata == metadata
    obs, base = np.linspace(-1, 1, OBS_DIM), np.full(ACTION_DIM, 0.1)
    np.testing.assert_array_equal(bundle.act(obs, base)[0], load_residual(tmp_path).act(obs, base)[0])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda blob: blob[: len(blob) // 2], "truncated or corrupt"),
        (lambda blob: b"\x04" + blob[1:], "truncated or corrupt"),
        (lambda blob: b"", "truncated or corrupt"),
    ],
)
def test_a_damaged_weights_blob_is_one_clear_error(damage: Any, message: str) -> None:
    blob = encode_actor_weights(_trained_learner(), ResidualMetadata(FEATURES, "Stack", BASE_HASH), version=1)
    with pytest.raises(PolicyError, match=message):
        decode_actor_weights(damage(blob))


def test_a_weights_blob_for_other_features_or_another_base_is_refused() -> None:
    blob = encode_actor_weights(_trained_learner(), ResidualMetadata(FEATURES, "Stack", BASE_HASH), version=1)
    with pytest.raises(PolicyError, match="observation feature 3 was trained as 'cube_x'"):
        decode_actor_weights(blob, (*FEATURES[:3], "other", *FEATURES[4:]))
    with pytest.raises(PolicyError, match="retrain the residual for this base"):
        decode_actor_weights(blob, FEATURES, expected_base_hash="cd" * 32)


def test_a_weights_blob_with_nan_weights_is_refused() -> None:
    learner = _trained_learner()
    tensors = {"obs_mean": learner.normalizer.mean.clone(), "obs_std": learner.normalizer.std.clone()}
    tensors |= {f"actor.{name}": value.clone() for name, value in learner.actor.state_dict().items()}
    tensors["actor.head.bias"][0] = float("nan")
    header = encode_actor_weights(learner, ResidualMetadata(FEATURES, "Stack", BASE_HASH), version=1)
    config = json.loads(_header_metadata(header)[WEIGHTS_CONFIG_KEY])
    blob = save(tensors, metadata={WEIGHTS_CONFIG_KEY: json.dumps(config)})
    with pytest.raises(PolicyError, match=r"tensor actor\.head\.bias holds NaN or Inf"):
        decode_actor_weights(blob)


def _header_metadata(blob: bytes) -> dict[str, str]:
    length = int.from_bytes(blob[:8], "little")
    return json.loads(blob[8 : 8 + length])["__metadata__"]


def _as_format_1(directory: Path) -> None:
    """Rewrite an actor checkpoint as format 1 wrote it: one residual bound, no gripper_residual_scale."""
    tensors = load_file(directory / MODEL_FILE)
    del tensors["actor.gripper_residual_scale"]
    save_file(tensors, str(directory / MODEL_FILE))
    config = json.loads((directory / CONFIG_FILE).read_text())
    del config["gripper_residual_scale"]
    config |= {"format_version": 1, "model_sha256": file_sha256(directory / MODEL_FILE)}
    (directory / CONFIG_FILE).write_text(json.dumps(config))


def test_a_format_1_checkpoint_loads_with_one_bound_on_every_axis(saved: tuple[Path, ResidualTD3]) -> None:
    directory, learner = saved
    _as_format_1(directory)
    bundle = load_residual(directory, expected_obs_features=FEATURES, expected_base_hash=BASE_HASH)
    assert bundle.gripper_residual_scale == bundle.residual_scale == pytest.approx(0.2)
    rng = np.random.default_rng(3)
    obs, base = rng.normal(size=OBS_DIM), rng.uniform(-1, 1, ACTION_DIM)
    assert np.array_equal(bundle.act(obs, base)[1], learner.act(obs, base, explore=False)[1])


def test_gripper_bound_round_trip_and_mismatch(tmp_path: Path) -> None:
    learner = _learner(TD3Config(**{**CONFIG.to_dict(), "gripper_residual_scale": 2.0}))
    directory = tmp_path / "residual"
    save_residual(directory, learner, ResidualMetadata(FEATURES, "Lift", BASE_HASH))
    bundle = load_residual(directory)
    assert (bundle.residual_scale, bundle.gripper_residual_scale) == (pytest.approx(0.2), pytest.approx(2.0))
    assert torch.equal(bundle.actor.bound, torch.tensor([0.2] * 6 + [2.0]))
    config = json.loads((directory / CONFIG_FILE).read_text())
    (directory / CONFIG_FILE).write_text(json.dumps(config | {"gripper_residual_scale": 0.2}))
    mismatch = r"gripper_residual_scale is 2\.0 in model\.safetensors, 0\.2 in config\.json"
    with pytest.raises(PolicyError, match=mismatch):
        load_residual(directory)
    (directory / CONFIG_FILE).write_text(json.dumps(config | {"format_version": 3}))
    with pytest.raises(PolicyError, match=r"v3, this robot_rl reads 'robot_rl\.residual_actor' v1/2"):
        load_residual(directory)


def test_a_format_1_training_state_resumes_identically(tmp_path: Path) -> None:
    learner, online = _learner(), _filled_buffer(1, size=30)
    rng = np.random.default_rng(7)
    path = save_training_state(tmp_path / "state", learner, {"online": online}, {"env_steps": 5}, rng)
    expected = [learner.update(online.sample(16, rng)) for _ in range(3)]
    state = load_file(path / "learner.safetensors")  # as format 1 wrote it: no gripper bounds
    del state["actor.gripper_residual_scale"], state["actor_target.gripper_residual_scale"]
    save_file(state, str(path / "learner.safetensors"))
    record = json.loads((path / "training.json").read_text())
    del record["td3_config"]["gripper_residual_scale"]
    record["format_version"] = 1
    record["files"]["learner.safetensors"] = file_sha256(path / "learner.safetensors")
    (path / "training.json").write_text(json.dumps(record))
    resumed, online2, rng2 = _learner(), ReplayBuffer(64, OBS_DIM, ACTION_DIM), np.random.default_rng(0)
    assert load_training_state(path, resumed, {"online": online2}, rng2) == {"env_steps": 5}
    assert [resumed.update(online2.sample(16, rng2)) for _ in range(3)] == expected


@pytest.mark.parametrize(("version", "message"), [(3, "is format v3, this robot_rl reads v1/2"), (True, "vTrue")])
def test_a_training_state_of_another_format_is_refused(tmp_path: Path, version: object, message: str) -> None:
    path = save_training_state(tmp_path / "state", _learner(), {"online": _filled_buffer(0)}, {"env_steps": 1})
    record = json.loads((path / "training.json").read_text())
    (path / "training.json").write_text(json.dumps(record | {"format_version": version}))
    with pytest.raises(PolicyError, match=message):
        load_training_state(path, _learner(), {"online": _filled_buffer(0)})
    del record["format_version"]
    (path / "training.json").write_text(json.dumps(record))
    with pytest.raises(PolicyError, match=r"training\.json is malformed"):
        load_training_state(path, _learner(), {"online": _filled_buffer(0)})


@pytest.mark.parametrize("counters", [{"env_steps": -1}, {"env_steps": "12"}, {"env_steps": True}, [1, 2]])
def test_training_counters_that_are_not_counts_are_refused(tmp_path: Path, counters: Any) -> None:
    path = save_training_state(tmp_path / "state", _learner(), {"online": _filled_buffer(0)}, {"env_steps": 1})
    record = json.loads((path / "training.json").read_text())
    (path / "training.json").write_text(json.dumps(record | {"counters": counters}))
    with pytest.raises(PolicyError, match="counters must be finite numbers >= 0"):
        load_training_state(path, _learner(), {"online": _filled_buffer(0)})


def test_an_rng_state_that_does_not_fit_the_generator_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = save_training_state(tmp_path / "state", _learner(), {"online": _filled_buffer(0)}, {"env_steps": 1}, rng)
    record = json.loads((path / "training.json").read_text())
    (path / "training.json").write_text(json.dumps(record | {"rng_state": {"bit_generator": "MT19937"}}))
    with pytest.raises(PolicyError, match="rng state does not fit this generator"):
        load_training_state(path, _learner(), {"online": _filled_buffer(0)}, rng)
