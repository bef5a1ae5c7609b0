"""The host's core budget: ML processes on one host split its cores instead of fighting for them
(Django-free; other processes are real subprocesses holding claims in the same folder)."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from training.engine import cores
from training.engine.config import Hyperparameters
from training.tests.test_engine import animal_rows, train

ROOT = Path(__file__).resolve().parents[2]


class OtherProcess:
    """Another ML process on the host: holds a claim in ``directory`` until stopped (or killed)."""

    def __init__(self, directory: Path, kind: str = "evaluation"):
        code = textwrap.dedent(
            f"""
            import sys, time
            sys.path.insert(0, {str(ROOT)!r})
            from training.engine import cores
            with cores.claim({str(directory)!r}, {kind!r}):
                print("claimed", flush=True)
                time.sleep(600)
            """
        )
        self.process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == "claimed"

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)
            self.process.wait(timeout=30)


@pytest.fixture
def others(tmp_path):
    started: list[OtherProcess] = []

    def start(kind="evaluation") -> OtherProcess:
        started.append(OtherProcess(tmp_path / "cores", kind))
        return started[-1]

    yield start
    for other in started:
        other.stop(signal.SIGKILL)


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_alone_a_process_gets_every_core_and_next_to_others_an_even_share(tmp_path, others):
    with cores.claim(tmp_path / "cores", "training", cores=4) as mine:
        assert mine.threads() == 4 and torch.get_num_threads() == 4
        first = others()
        assert mine.threads() == 2
        assert cores.rebalance() == 2 and torch.get_num_threads() == 2
        second = others()
        assert mine.threads() == 2  # 4 cores over 3 claims: the oldest claim gets the one left over
        first.stop()
        second.stop()
        assert cores.rebalance() == 4 and torch.get_num_threads() == 4
    assert not list((tmp_path / "cores").glob("*.claim"))


def test_a_killed_process_gives_its_cores_back_at_once(tmp_path, others):
    with cores.claim(tmp_path / "cores", "training", cores=2) as mine:
        other = others()
        assert mine.threads() == 1
        other.stop(signal.SIGKILL)  # no cleanup ran: its claim file is still there, unlocked
        assert mine.threads() == 2
        assert [path.name for path in (tmp_path / "cores").glob("*.claim")] == [mine.path.name]


def test_one_process_holds_one_claim_and_no_folder_means_every_core(tmp_path):
    folder = tmp_path / "cores"
    with cores.claim(folder, "training", cores=2) as outer, cores.claim(folder, "export") as inner:
        assert inner is outer and outer.threads() == 2
    with cores.claim(None, "training") as nothing:
        assert nothing is None and cores.rebalance() is None


def test_the_core_count_can_be_capped_and_a_bad_value_is_named(monkeypatch):
    monkeypatch.setenv(cores.CORES_ENV, "3")
    assert cores.host_cores() == 3
    monkeypatch.setenv(cores.CORES_ENV, "many")
    with pytest.raises(ValueError, match="STUDIO_ML_CORES"):
        cores.host_cores()


def test_a_training_run_next_to_another_process_trains_on_its_share(tiny_model, tmp_path, others):
    others()
    with cores.claim(tmp_path / "cores", "training", cores=2):
        result = train(
            tmp_path / "run", tiny_model, animal_rows(4), Hyperparameters(max_steps=3), val_rows=[]
        )
    assert result.steps == 3 and result.hardware["threads"] == 1


IDLE_PROBE = """
import sys, time
sys.path.insert(0, {root!r})
import {module}  # sets the OpenMP waits before torch loads, as a worker does
import torch
torch.set_num_threads(2)
x = torch.randn(512, 512)
for _ in range(20):
    x @ x  # wakes the OpenMP team
started = time.process_time()
time.sleep(0.6)  # the team has nothing to do
print(time.process_time() - started)
"""


@pytest.mark.parametrize("module", ["studio.celery", "training.engine"])
def test_idle_openmp_threads_stop_holding_cores_in_worker_processes(module):
    """A worker's OpenMP threads spin briefly between kernels, then sleep: idle for 0.6 s, the process
    uses almost no CPU (spinning threads, OMP_WAIT_POLICY=ACTIVE, burn up to 0.6 s per thread: how much
    depends on what else the cores run, so the contrast is relative)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env["DJANGO_SETTINGS_MODULE"] = "studio.settings.test"

    def idle_cpu(extra: dict) -> float:
        code = IDLE_PROBE.format(root=str(ROOT), module=module)
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env={**env, **extra}, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        return float(out.stdout.strip().splitlines()[-1])

    idle, spinning = idle_cpu({}), idle_cpu({"OMP_WAIT_POLICY": "ACTIVE"})
    assert idle < 0.15
    assert spinning > 4 * idle + 0.03, (idle, spinning)  # the probe tells spinning threads from sleeping ones
