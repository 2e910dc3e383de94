"""One torch thread per test: the learner's small matmuls gain nothing from more, and on a busy machine
torch's intra-op thread pool makes them many times slower. Restored after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
