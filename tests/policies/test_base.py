"""The frozen base policy core: loading LeRobot checkpoints, freezing, input checks, chunking arithmetic."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from robot_rl.errors import PolicyError
from robot_rl.policies.base import (
    ActionChunker,
    ChunkingConfig,
    FrozenBasePolicy,
    _hub_offline,
    load_base_policy,
)
from robot_rl.policies.features import ENVIRONMENT_STATE_KEY, IMAGE_KEY, STATE_KEY
from tests.policies.conftest import SLOT_SIZE, STATE_DIM, stats


def observation(num_slots: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        STATE_KEY: rng.uniform(-1, 1, STATE_DIM).astype(np.float32),
        ENVIRONMENT_STATE_KEY: rng.uniform(-1, 1, num_slots * SLOT_SIZE).astype(np.float32),
    }


@pytest.fixture
def act(act_checkpoint: Path) -> FrozenBasePolicy:
    return load_base_policy(act_checkpoint)


def copy_of(checkpoint: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(checkpoint, tmp_path / "pretrained_model"))


# -- loading --------------------------------------------------------------------------------------------------


def test_loads_with_lerobots_own_classes(act: FrozenBasePolicy) -> None:
    from lerobot.policies.act.modeling_act import ACTPolicy
    from lerobot.processor import DataProcessorPipeline  # PolicyProcessorPipeline is an alias of it

    assert isinstance(act.policy, ACTPolicy)
    assert isinstance(act.preprocessor, DataProcessorPipeline)
    assert isinstance(act.postprocessor, DataProcessorPipeline)
    assert act.policy_type == "act"
    assert act.input_features == {STATE_KEY: (9,), ENVIRONMENT_STATE_KEY: (44,)}
    assert (act.action_dim, act.chunk_size) == (7, 10)
    assert act.chunker.config.n_action_steps == 5  # 0 = the policy config's n_action_steps


def test_chunk_is_denormalized_model_output(act: FrozenBasePolicy) -> None:
    features = observation()
    chunk = act.predict_chunk(features)
    assert chunk.shape == (10, 7)
    assert chunk.dtype == np.float32
    # by hand: normalize the inputs with the dataset stats, run the bare model, de-normalize the actions
    table = stats(4)

    def normalize(key: str) -> torch.Tensor:
        return ((torch.from_numpy(features[key]) - table[key]["mean"]) / table[key]["std"])[None]

    with torch.inference_mode():
        raw = act.policy.predict_action_chunk({key: normalize(key) for key in features})[0]
    expected = raw * table["action"]["std"] + table["action"]["mean"]
    np.testing.assert_allclose(chunk, expected.numpy(), rtol=1e-5, atol=1e-6)


def test_frozen_eval_no_grad_and_hash(act: FrozenBasePolicy, act_checkpoint: Path) -> None:
    assert not act.policy.training
    assert all(not p.requires_grad for p in act.policy.parameters())
    assert act.weights_hash() == act.loaded_hash == load_base_policy(act_checkpoint).loaded_hash
    assert len(act.loaded_hash) == 64
    act.verify_frozen()
    with torch.no_grad():
        next(act.policy.parameters()).view(-1)[0] += 1e-3
    with pytest.raises(PolicyError, match=r"base policy weights changed since load \(hash \w+ != \w+\)"):
        act.verify_frozen()


def test_unfreezing_is_detected(act: FrozenBasePolicy) -> None:
    act.policy.train()
    with pytest.raises(PolicyError, match="unfrozen"):
        act.verify_frozen()


def test_check_inputs_lists_every_problem_on_one_line(act: FrozenBasePolicy) -> None:
    act.check_inputs({STATE_KEY: (9,), ENVIRONMENT_STATE_KEY: (44,), IMAGE_KEY: None})  # extra inputs are fine
    with pytest.raises(PolicyError) as error:
        act.check_inputs({ENVIRONMENT_STATE_KEY: (33,)}, action_dim=6)
    message = str(error.value)
    assert "\n" not in message
    assert "missing observation.state (9,)" in message
    assert "observation.environment_state has shape (33,), the policy expects (44,)" in message
    assert "the policy outputs 7 action dims, expected 6" in message


def test_non_finite_input_never_reaches_the_policy(act: FrozenBasePolicy, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the policy was called")

    monkeypatch.setattr(act.policy, "predict_action_chunk", fail)
    features = observation()
    features[ENVIRONMENT_STATE_KEY][3] = np.nan
    with pytest.raises(PolicyError, match=r"non-finite value in observation\.environment_state"):
        act.predict_chunk(features)
    features = observation()
    features[STATE_KEY][0] = np.inf
    with pytest.raises(PolicyError, match="non-finite"):
        act.act(features)


def test_non_finite_output_is_an_error(act: FrozenBasePolicy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(act.policy, "predict_action_chunk", lambda batch: torch.full((1, 10, 7), math.nan))
    with pytest.raises(PolicyError, match="bad action chunk"):
        act.predict_chunk(observation())


def test_wrong_input_shape_at_run_time(act: FrozenBasePolicy) -> None:
    with pytest.raises(PolicyError, match=r"has shape \(33,\), the policy expects \(44,\)"):
        act.predict_chunk(observation(num_slots=3))


def test_image_policy_takes_rgb8_frames(act_image_checkpoint: Path) -> None:
    policy = load_base_policy(act_image_checkpoint)
    assert policy.input_features[IMAGE_KEY] == (3, 24, 32)  # LeRobot's channel-first feature ...
    policy.check_inputs({STATE_KEY: (9,), ENVIRONMENT_STATE_KEY: (44,), IMAGE_KEY: (24, 32, 3)})  # ... arrives HWC
    with pytest.raises(PolicyError) as error:
        policy.check_inputs({STATE_KEY: (9,), ENVIRONMENT_STATE_KEY: (44,), IMAGE_KEY: (480, 640, 3)})
    assert str(error.value).endswith("observation.images.color has shape (480, 640, 3), the policy expects (24, 32, 3)")
    with pytest.raises(PolicyError, match=r"missing observation.images.color \(24, 32, 3\)"):
        policy.check_inputs({STATE_KEY: (9,), ENVIRONMENT_STATE_KEY: (44,)})
    features = {**observation(), IMAGE_KEY: np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)}
    assert policy.predict_chunk(features).shape == (10, 7)
    with pytest.raises(PolicyError, match="must be a uint8"):
        policy.predict_chunk({**features, IMAGE_KEY: features[IMAGE_KEY].astype(np.float32)})


def test_diffusion_checkpoint_loads_and_predicts(diffusion_checkpoint: Path) -> None:
    from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy

    policy = load_base_policy(diffusion_checkpoint)
    assert isinstance(policy.policy, DiffusionPolicy)
    assert policy.chunk_size == 4  # Diffusion returns n_action_steps actions, not the horizon
    chunk = policy.predict_chunk(observation())
    assert chunk.shape == (4, 7)
    assert np.isfinite(chunk).all()
    # its 2-step observation history is filled every tick, also when the queue needs no prediction
    for tick in range(5):
        _, plan = policy.act(observation(seed=tick))
        assert plan.shape == (4 - tick % 4, 7)
    assert len(policy.policy._queues[STATE_KEY]) == 2
    policy.reset()
    assert len(policy.policy._queues[STATE_KEY]) == 0


# -- load errors: one line each, never a hub download -----------------------------------------------------------


def load_error(path: Path | str) -> str:
    with pytest.raises(PolicyError) as error:
        load_base_policy(Path(path))
    message = str(error.value)
    assert "\n" not in message
    return message


def test_missing_path_is_not_a_hub_download(tmp_path: Path) -> None:
    assert "does not exist" in load_error(tmp_path / "nope")
    assert "lerobot/act_aloha_sim_transfer_cube_human does not exist" in load_error(
        "lerobot/act_aloha_sim_transfer_cube_human"
    )
    (tmp_path / "file").write_text("x")
    assert "is not a directory" in load_error(tmp_path / "file")
    assert "has no config.json" in load_error(tmp_path)


def test_hub_is_offline_while_loading() -> None:
    from huggingface_hub import hf_hub_download

    with _hub_offline(), pytest.raises(Exception, match=r"(?i)offline|cannot find|local"):
        hf_hub_download("lerobot/definitely-not-a-repo", "config.json")


def test_bad_config(act_checkpoint: Path, tmp_path: Path) -> None:
    checkpoint = copy_of(act_checkpoint, tmp_path)
    config = json.loads((checkpoint / "config.json").read_text())
    (checkpoint / "config.json").write_text(json.dumps({**config, "type": "transformer9000"}))
    message = load_error(checkpoint)
    assert "policy type 'transformer9000' is unknown to LeRobot" in message
    assert "act, diffusion" in message
    (checkpoint / "config.json").write_text(json.dumps({**config, "bogus_field": 1}))
    assert "bogus_field" in load_error(checkpoint)
    (checkpoint / "config.json").write_text("{not json")
    assert "config.json is unreadable" in load_error(checkpoint)


def test_missing_or_corrupt_weights(act_checkpoint: Path, tmp_path: Path) -> None:
    checkpoint = copy_of(act_checkpoint, tmp_path)
    weights = checkpoint / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    assert "model.safetensors is corrupt or truncated" in load_error(checkpoint)
    weights.unlink()
    assert "has no model.safetensors" in load_error(checkpoint)


def test_weights_of_another_architecture(act_checkpoint: Path, tmp_path: Path) -> None:
    checkpoint = copy_of(act_checkpoint, tmp_path)
    config = json.loads((checkpoint / "config.json").read_text())
    (checkpoint / "config.json").write_text(json.dumps({**config, "dim_model": 48}))
    assert "cannot load the act weights" in load_error(checkpoint)


def test_missing_processor_files(act_checkpoint: Path, tmp_path: Path) -> None:
    checkpoint = copy_of(act_checkpoint, tmp_path)
    state = checkpoint / "policy_preprocessor_step_3_normalizer_processor.safetensors"
    state.rename(tmp_path / state.name)
    assert f"lacks {state.name}, the state of policy_preprocessor.json's normalizer_processor" in load_error(checkpoint)
    (tmp_path / state.name).rename(state)
    (checkpoint / "policy_postprocessor.json").unlink()
    assert "has no policy_postprocessor.json" in load_error(checkpoint)


def test_n_action_steps_longer_than_the_chunk(act_checkpoint: Path) -> None:
    with pytest.raises(PolicyError, match="n_action_steps 11 > the policy's chunk of 10"):
        load_base_policy(act_checkpoint, chunking=ChunkingConfig(n_action_steps=11))


# -- chunking ----------------------------------------------------------------------------------------------------


class Predictor:
    """Returns the given chunks in turn (1-d actions), counting calls."""

    def __init__(self, *chunks: list[float]) -> None:
        self.chunks = [np.array(chunk, dtype=np.float32)[:, None] for chunk in chunks]
        self.calls = 0

    def __call__(self) -> np.ndarray:
        self.calls += 1
        return self.chunks[self.calls - 1]


def test_queue_executes_n_action_steps_then_predicts_again() -> None:
    chunker = ActionChunker(ChunkingConfig(mode="queue", n_action_steps=2))
    predict = Predictor([1, 2, 3], [10, 20, 30])
    steps = [chunker.step(predict) for _ in range(3)]
    assert [float(action[0]) for action, _ in steps] == [1, 2, 10]
    assert [plan[:, 0].tolist() for _, plan in steps] == [[1, 2], [2], [10, 20]]
    assert predict.calls == chunker.predictions == 2
    chunker.reset()
    predict.chunks.append(np.array([[7.0]], dtype=np.float32))
    assert float(chunker.step(predict)[0][0]) == 7  # a reset drops the queue: predict again


def test_queue_zero_steps_executes_the_whole_chunk() -> None:
    chunker = ActionChunker(ChunkingConfig(n_action_steps=0))
    predict = Predictor([1, 2, 3], [4, 5, 6])
    assert [float(chunker.step(predict)[0][0]) for _ in range(4)] == [1, 2, 3, 4]


def test_ensemble_matches_hand_computed_averages() -> None:
    # coeff ln 2: the oldest prediction of a tick weighs 1, the next 1/2, the next 1/4
    chunker = ActionChunker(ChunkingConfig(mode="ensemble", ensemble_coeff=math.log(2)))
    predict = Predictor([1, 2, 3], [10, 20, 30], [100, 200, 300])
    action, plan = chunker.step(predict)
    assert float(action[0]) == 1
    assert plan[:, 0].tolist() == [1, 2, 3]
    action, plan = chunker.step(predict)
    # tick 1: (2 * 1 + 10 * 1/2) / 1.5; tick 2: (3 + 20 / 2) / 1.5; tick 3: only the new 30
    np.testing.assert_allclose(plan[:, 0], [7 / 1.5, 13 / 1.5, 30], rtol=1e-6)
    assert float(action[0]) == pytest.approx(7 / 1.5)
    action, plan = chunker.step(predict)
    # tick 2: (3 * 1 + 20 * 1/2 + 100 * 1/4) / 1.75; tick 3: (30 + 200 / 2) / 1.5; tick 4: 300
    np.testing.assert_allclose(plan[:, 0], [38 / 1.75, 130 / 1.5, 300], rtol=1e-6)
    assert predict.calls == 3


def test_ensemble_agrees_with_lerobots_act_temporal_ensembler() -> None:
    from lerobot.policies.act.modeling_act import ACTTemporalEnsembler

    rng = np.random.default_rng(1)
    chunks = rng.normal(size=(12, 5, 7)).astype(np.float32)
    theirs = ACTTemporalEnsembler(0.01, chunk_size=5)
    ours = ActionChunker(ChunkingConfig(mode="ensemble", ensemble_coeff=0.01))
    for chunk in chunks:
        expected = theirs.update(torch.from_numpy(chunk)[None])[0].numpy()
        action, plan = ours.step(lambda chunk=chunk: chunk)
        np.testing.assert_allclose(action, expected, rtol=1e-5, atol=1e-6)
        assert plan.shape == (5, 7)


def test_chunking_config_validation() -> None:
    with pytest.raises(PolicyError, match="chunk mode must be one of queue, ensemble"):
        ChunkingConfig(mode="average")
    with pytest.raises(PolicyError, match="n_action_steps"):
        ChunkingConfig(n_action_steps=-1)
    with pytest.raises(PolicyError, match="ensemble_coeff"):
        ChunkingConfig(ensemble_coeff=math.nan)


def test_policy_reset_clears_the_chunker(act: FrozenBasePolicy) -> None:
    features = observation()
    act.act(features)
    act.act(features)
    assert act.chunker.predictions == 1
    act.reset()
    _, plan = act.act(features)
    assert act.chunker.predictions == 2
    assert plan.shape == (5, 7)
