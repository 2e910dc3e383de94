"""N-step transitions, the preallocated replay ring buffer and RLPD's symmetric online/offline sampling.

A transition starts at ``obs`` (time t) and covers ``k <= n_step`` control ticks:

- ``action`` is the EXECUTED action at t (what the safety gate actually applied: its clamps and holds and a
  person's takeover are what the critic learns from), ``base_action`` the base policy's action at t;
- ``n_step_return = sum_{i<k} gamma^i r_{t+i}`` and ``reward = r_t`` (the first tick's reward, for logs and
  relabelling);
- ``next_obs`` / ``next_base_action`` are the observation and base action at t + k;
- ``discount = gamma^k`` when the transition bootstraps from ``next_obs``, 0.0 when the episode terminated
  within the k ticks.

The TD target is then ``n_step_return + discount * Q(next_obs, next_action)`` for every transition alike.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from robot_rl.errors import LearnerError

FIELDS: tuple[str, ...] = (
    "obs",
    "base_action",
    "action",
    "reward",
    "next_obs",
    "next_base_action",
    "discount",
    "n_step_return",
)  # the arrays of a transition, in storage order
OBS_FIELDS = ("obs", "next_obs")  # (obs_dim,) per transition
ACTION_FIELDS = ("base_action", "action", "next_base_action")  # (action_dim,) per transition
SCALAR_FIELDS = ("reward", "discount", "n_step_return")  # () per transition
# Added by sample_mixed to every batch, not stored: (B,) 1.0 for a row from the offline source, 0.0 online.
OFFLINE_FIELD = "offline"


def field_shapes(obs_dim: int, action_dim: int) -> dict[str, tuple[int, ...]]:
    """The per-transition shape of every field in ``FIELDS``."""
    shapes: dict[str, tuple[int, ...]] = {}
    for name in FIELDS:
        shapes[name] = (obs_dim,) if name in OBS_FIELDS else (action_dim,) if name in ACTION_FIELDS else ()
    return shapes


@dataclass(frozen=True)
class Transition:
    """One n-step transition (see the module docstring); arrays are float32."""

    obs: np.ndarray  # (obs_dim,) raw observation at t
    base_action: np.ndarray  # (action_dim,) base policy action at t, normalized units
    action: np.ndarray  # (action_dim,) executed action at t (after the safety gate / a person), normalized units
    reward: float  # r_t, the first tick's reward
    next_obs: np.ndarray  # (obs_dim,) raw observation at t + k
    next_base_action: np.ndarray  # (action_dim,) base policy action at t + k, normalized units
    discount: float  # gamma^k if the target bootstraps from next_obs, 0.0 if the episode terminated
    n_step_return: float  # sum_{i<k} gamma^i r_{t+i}

    def as_arrays(self) -> dict[str, np.ndarray]:
        """The fields as float32 arrays, keyed by ``FIELDS``."""
        return {name: np.asarray(getattr(self, name), dtype=np.float32) for name in FIELDS}


@dataclass(frozen=True)
class _Step:
    obs: np.ndarray
    base_action: np.ndarray
    action: np.ndarray
    reward: float
    next_obs: np.ndarray
    next_base_action: np.ndarray


def _check_gamma_n(gamma: float, n_step: int) -> None:
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float, np.floating)) or not 0.0 < gamma <= 1.0:
        raise LearnerError(f"gamma must be in (0, 1], got {gamma!r}")
    if isinstance(n_step, bool) or not isinstance(n_step, int) or n_step < 1:
        raise LearnerError(f"n_step must be an int >= 1, got {n_step!r}")


class NStepAccumulator:
    """Turns one-tick steps into n-step transitions, one episode at a time.

    ``add`` is called once per control tick and returns the transitions it finished: none while fewer than
    ``n_step`` ticks are pending, one per tick after that, and every pending one at the end of an episode:

    - ``terminated`` (a true end, e.g. success or failure): discount 0, no bootstrap;
    - ``truncated`` (a time-out): discount ``gamma^k`` with ``k`` the ticks left in each, bootstrapping from
      the last ``next_obs`` (the episode did not end, only our view of it).

    ``terminated`` wins when both are set. After either the accumulator is empty for the next episode.

    A tick whose ``obs`` is not the pending ticks' last ``next_obs`` follows a gap (ticks were dropped, see
    :class:`~robot_rl.rl.transitions.StepBuilder`): the pending ticks are finished first as at a time-out,
    bootstrapping from that ``next_obs``, so no transition sums rewards across the gap or discounts past it.

    Args:
        n_step: Ticks per transition, >= 1 (1 is one-step TD).
        gamma: Discount per tick, in (0, 1].
    """

    def __init__(self, n_step: int, gamma: float) -> None:
        _check_gamma_n(gamma, n_step)
        self.n_step = n_step
        self.gamma = float(gamma)
        self._pending: deque[_Step] = deque()

    def __len__(self) -> int:
        """Steps waiting for more ticks."""
        return len(self._pending)

    def reset(self) -> None:
        """Drop the pending steps (e.g. an episode aborted without a terminal or time-out signal)."""
        self._pending.clear()

    def add(
        self,
        obs: np.ndarray,
        base_action: np.ndarray,
        action: np.ndarray,
        reward: float,
        next_obs: np.ndarray,
        next_base_action: np.ndarray,
        terminated: bool,
        truncated: bool,
    ) -> list[Transition]:
        """Add one tick (shapes as in :class:`Transition`); returns the transitions it finished, oldest first."""
        finished = []
        if self._pending and not np.array_equal(self._pending[-1].next_obs, obs):
            finished = self._flush(bootstrap=True)  # a gap: the pending ticks end where the data does
        self._pending.append(_Step(obs, base_action, action, float(reward), next_obs, next_base_action))
        if terminated or truncated:
            return finished + self._flush(bootstrap=not terminated)
        if len(self._pending) == self.n_step:
            finished.append(self._emit(0, bootstrap=True))
            self._pending.popleft()
        return finished

    def _flush(self, bootstrap: bool) -> list[Transition]:
        """Every pending tick's transition to the last pending ``next_obs``; the accumulator is empty after."""
        finished = [self._emit(start, bootstrap) for start in range(len(self._pending))]
        self._pending.clear()
        return finished

    def _emit(self, start: int, bootstrap: bool) -> Transition:
        """The transition from pending step ``start`` to the last pending step's ``next_obs``."""
        steps = list(self._pending)[start:]
        n_step_return = sum(self.gamma**i * step.reward for i, step in enumerate(steps))
        first, last = steps[0], steps[-1]
        return Transition(
            obs=np.asarray(first.obs, dtype=np.float32),
            base_action=np.asarray(first.base_action, dtype=np.float32),
            action=np.asarray(first.action, dtype=np.float32),
            reward=first.reward,
            next_obs=np.asarray(last.next_obs, dtype=np.float32),
            next_base_action=np.asarray(last.next_base_action, dtype=np.float32),
            discount=self.gamma ** len(steps) if bootstrap else 0.0,
            n_step_return=float(n_step_return),
        )


class ReplayBuffer:
    """A ring buffer of transitions in float32 arrays allocated once (capacity rows per field).

    When full, each new transition overwrites the oldest.

    Args:
        capacity: Maximum number of transitions, >= 1.
        obs_dim: Observation size.
        action_dim: Action size (7).
    """

    def __init__(self, capacity: int, obs_dim: int, action_dim: int = 7) -> None:
        for name, value in (("capacity", capacity), ("obs_dim", obs_dim), ("action_dim", action_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise LearnerError(f"ReplayBuffer {name} must be an int >= 1, got {value!r}")
        self.capacity = capacity
        self.obs_dim = obs_dim
        self.action_dim = action_dim
        self.shapes = field_shapes(obs_dim, action_dim)
        self.arrays = {name: np.zeros((capacity, *shape), dtype=np.float32) for name, shape in self.shapes.items()}
        self._cursor = 0  # row the next transition is written to
        self._size = 0  # rows holding transitions

    def __len__(self) -> int:
        """Transitions stored."""
        return self._size

    def add(self, transition: Transition) -> None:
        """Store one transition."""
        self.add_batch({name: value[None] for name, value in transition.as_arrays().items()})

    def add_batch(self, batch: Mapping[str, np.ndarray]) -> None:
        """Store B transitions given as arrays with a leading batch dimension, keyed by ``FIELDS``.

        Raises:
            LearnerError: If a field is missing, a shape does not match, or a value is not finite.
        """
        arrays = self._check_batch(batch)
        count = len(arrays["reward"])
        if count > self.capacity:  # only the newest `capacity` would survive
            arrays = {name: value[-self.capacity :] for name, value in arrays.items()}
            count = self.capacity
        rows = (self._cursor + np.arange(count)) % self.capacity
        for name, value in arrays.items():
            self.arrays[name][rows] = value
        self._cursor = int((self._cursor + count) % self.capacity)
        self._size = min(self._size + count, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``batch_size`` transitions drawn uniformly with replacement: {field: (batch_size, *shape) float32}.

        Raises:
            LearnerError: If the buffer is empty or batch_size < 1.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise LearnerError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if self._size == 0:
            raise LearnerError("cannot sample from an empty replay buffer")
        rows = rng.integers(0, self._size, size=batch_size)
        return {name: array[rows] for name, array in self.arrays.items()}

    def state_dict(self) -> dict[str, np.ndarray]:
        """The stored transitions and the cursor as plain numpy arrays (savable with ``np.savez``, no pickle)."""
        state = {name: array[: self._size].copy() for name, array in self.arrays.items()}
        state["cursor"] = np.array(self._cursor, dtype=np.int64)
        state["capacity"] = np.array(self.capacity, dtype=np.int64)
        return state

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Restore what :meth:`state_dict` returned; the capacity and dimensions must match this buffer's."""
        missing = [name for name in (*FIELDS, "cursor", "capacity") if name not in state]
        if missing:
            raise LearnerError(f"replay buffer state lacks {', '.join(missing)}")
        if int(state["capacity"]) != self.capacity:
            raise LearnerError(
                f"replay buffer state has capacity {int(state['capacity'])}, this buffer {self.capacity}"
            )
        arrays = self._check_batch({name: state[name] for name in FIELDS})
        size = len(arrays["reward"])
        cursor = int(state["cursor"])
        if not (0 <= cursor < self.capacity) or (size < self.capacity and cursor != size):
            raise LearnerError(f"replay buffer state has cursor {cursor} for {size} of {self.capacity} rows")
        for name, value in arrays.items():
            self.arrays[name][:size] = value
            self.arrays[name][size:] = 0.0
        self._size, self._cursor = size, cursor

    def _check_batch(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = [name for name in FIELDS if name not in batch]
        if missing:
            raise LearnerError(f"transition batch lacks {', '.join(missing)}")
        arrays = {name: np.asarray(batch[name], dtype=np.float32) for name in FIELDS}
        count = len(arrays["reward"]) if arrays["reward"].ndim == 1 else -1
        for name, array in arrays.items():
            if array.shape != (count, *self.shapes[name]):
                expected = ("B", *self.shapes[name])
                raise LearnerError(f"transition field {name} must have shape {expected}, got {array.shape}")
            if not np.isfinite(array).all():
                raise LearnerError(f"transition field {name} holds NaN or Inf")
        return arrays


def concatenate(*buffers: ReplayBuffer) -> ReplayBuffer:
    """One buffer, exactly as large, holding the transitions of ``buffers`` one after the other.

    Raises:
        LearnerError: If no buffer is given, their dimensions differ, or they are all empty.
    """
    if not buffers:
        raise LearnerError("concatenate needs at least one buffer")
    dims = {(buffer.obs_dim, buffer.action_dim) for buffer in buffers}
    if len(dims) != 1:
        raise LearnerError(f"concatenated buffers differ in (obs_dim, action_dim): {sorted(dims)}")
    obs_dim, action_dim = dims.pop()
    if not any(len(buffer) for buffer in buffers):
        raise LearnerError("concatenate: every buffer is empty")
    joined = ReplayBuffer(sum(len(buffer) for buffer in buffers), obs_dim, action_dim)
    for buffer in buffers:
        if len(buffer):
            joined.add_batch({name: buffer.state_dict()[name] for name in FIELDS})
    return joined


class PooledBuffer:
    """A read-only view of several replay buffers sampled as one (e.g. demonstrations + a person's corrections).

    Each sampled row comes from a uniformly drawn transition of the union, so a source contributes in proportion
    to its size. Empty buffers are allowed; every buffer must have the same dimensions.
    """

    def __init__(self, *buffers: ReplayBuffer) -> None:
        if not buffers:
            raise LearnerError("PooledBuffer needs at least one buffer")
        dims = {(buffer.obs_dim, buffer.action_dim) for buffer in buffers}
        if len(dims) != 1:
            raise LearnerError(f"pooled buffers differ in (obs_dim, action_dim): {sorted(dims)}")
        self.buffers = buffers
        self.obs_dim, self.action_dim = dims.pop()

    def __len__(self) -> int:
        """Transitions stored in all the buffers."""
        return sum(len(buffer) for buffer in self.buffers)

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``batch_size`` transitions drawn uniformly with replacement from the union (as ``ReplayBuffer.sample``)."""
        sizes = np.array([len(buffer) for buffer in self.buffers], dtype=np.float64)
        if sizes.sum() == 0:
            raise LearnerError("cannot sample from empty replay buffers")
        counts = rng.multinomial(batch_size, sizes / sizes.sum())
        parts = [buffer.sample(int(n), rng) for buffer, n in zip(self.buffers, counts, strict=True) if n > 0]
        return {name: np.concatenate([part[name] for part in parts]) for name in FIELDS}


def sample_mixed(
    online: ReplayBuffer | PooledBuffer | None,
    offline: ReplayBuffer | PooledBuffer | None,
    batch_size: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """RLPD's symmetric sampling: ``batch_size - batch_size // 2`` online and ``batch_size // 2`` offline rows.

    When one buffer is empty (or None), the whole batch comes from the other. Online rows come first.

    Returns:
        {field: (batch_size, *shape) float32 array}, as :meth:`ReplayBuffer.sample`, plus ``OFFLINE_FIELD``:
        (batch_size,) 1.0 on the rows drawn from ``offline``, 0.0 on those from ``online``.

    Raises:
        LearnerError: If both buffers are empty, or their dimensions differ.
    """
    filled = [(buffer, source) for source, buffer in enumerate((online, offline)) if buffer is not None and len(buffer)]
    if not filled:
        raise LearnerError("cannot sample: the online and offline replay buffers are both empty")
    if len(filled) == 1:
        buffer, source = filled[0]
        return _marked(buffer.sample(batch_size, rng), float(source))
    (first, _), (second, _) = filled
    if (first.obs_dim, first.action_dim) != (second.obs_dim, second.action_dim):
        raise LearnerError(
            f"online and offline buffers differ in (obs_dim, action_dim): {(first.obs_dim, first.action_dim)}"
            f" vs {(second.obs_dim, second.action_dim)}"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise LearnerError(f"a mixed batch needs batch_size >= 2, got {batch_size!r}")
    from_offline = batch_size // 2
    online_part = _marked(first.sample(batch_size - from_offline, rng), 0.0)
    offline_part = _marked(second.sample(from_offline, rng), 1.0)
    return {name: np.concatenate([online_part[name], offline_part[name]]) for name in (*FIELDS, OFFLINE_FIELD)}


def _marked(batch: dict[str, np.ndarray], offline: float) -> dict[str, np.ndarray]:
    batch[OFFLINE_FIELD] = np.full(len(batch["reward"]), offline, dtype=np.float32)
    return batch
