"""Jobs spread over processes: the same results, in order, as one process computes them."""

import pytest
import torch

from sot_utils.study.landscape import harmonic_tones
from sot_utils.study.parallel import available_cores, map_in_processes
from sot_utils.study.traps import fit_f0_and_amplitudes
from sot_utils.training.loss_config import paper_loss


def test_results_in_the_order_of_the_jobs():
    jobs = [((2, k), {}) for k in range(7)] + [((3,), {"exp": 2})]
    assert map_in_processes(pow, jobs, workers=1) == [2**k for k in range(7)] + [9]  # workers: the test below
    assert map_in_processes(pow, [], workers=2) == []
    assert available_cores() >= 1


def test_fits_in_workers_equal_fits_in_this_process():
    """A worker computes on one thread, as the in-process path does: the same numbers bit for bit."""
    tones = harmonic_tones(torch.tensor([220.0, 300.0]), torch.ones(3))
    loss = paper_loss("SOT-2048", reduction="none")
    jobs = [((loss, tones, torch.tensor([start, start])), {"steps": 5}) for start in (110.0, 440.0, 700.0, 90.0)]
    threads = torch.get_num_threads()
    alone = map_in_processes(fit_f0_and_amplitudes, jobs, workers=1)
    assert torch.get_num_threads() == threads  # restored
    spread = map_in_processes(fit_f0_and_amplitudes, jobs, workers=2)
    assert len(spread) == len(jobs)  # in the order of the jobs, whichever worker finished first
    for a, b, (args, _) in zip(alone, spread, jobs):
        assert a.equals(b) and (b["start_hz"].to_numpy() == args[2].numpy()).all()


@pytest.mark.parametrize(("jobs", "workers", "message"), [([(1, 2)], 1, r"jobs\[0\]"), ([], 0, "workers")])
def test_bad_input_names_the_argument(jobs, workers, message):
    with pytest.raises(ValueError, match=message):
        map_in_processes(pow, jobs, workers=workers)


def test_a_failing_job_raises_its_error():
    with pytest.raises(ZeroDivisionError):
        map_in_processes(divmod, [((1, 1), {}), ((1, 0), {})], workers=2)
