"""Shared fixtures."""

import pytest
import torch


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run with one intra-op thread, then restore the setting.

    Small torch ops on a loaded 2-core machine spin against the other load (much slower), and
    bitwise reproducibility needs a fixed reduction order (multi-threaded oneDNN weight gradients
    may differ in the last ulp under load).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
