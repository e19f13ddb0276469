"""The Dask backend (darkpy.cluster) on a LocalCluster of 2 processes: the same output bytes as
the in-process run for a folder of images (whole and tiled) and a NIfTI volume, a worker
killed mid-run changes nothing, a bad input is reported and the rest finish."""
from __future__ import annotations

import os
import signal

import numpy as np
import pytest

pytest.importorskip("distributed")

import darkpy  # noqa: E402
from darkpy.cluster import connect, worker  # noqa: E402
from darkpy.errors import ClusterError  # noqa: E402
from darkpy.io import image as io  # noqa: E402
from darkpy.reporting import Reporter  # noqa: E402
from darkpy.cluster.upscale import _splits  # noqa: E402
from darkpy.upscale.pipeline import upscale_files  # noqa: E402
from upscale_nets import random_network  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    with connect(workers=2) as opened:
        yield opened


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    path = folder / "tiny.h5"
    darkpy.save(random_network(folder), path)
    return darkpy.load(path)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(1)
    for k in range(6):
        io.write_image(folder / f"im{k}.png", rng.integers(0, 256, (10 + k, 12, 3), dtype=np.uint8))
    io.write_image(folder / "big.png", rng.integers(0, 256, (40, 36, 3), dtype=np.uint8))
    io.write_image(folder / "gray.tif", rng.integers(0, 65536, (9, 11), dtype=np.uint16))
    return folder


def _outputs(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_thread_share_is_the_host_cores_split_between_its_dask_threads():
    assert worker.thread_share(16, 1, 4) == 4
    assert worker.thread_share(16, 2, 4) == 8
    assert worker.thread_share(2, 1, 2) == 1
    assert worker.thread_share(2, 1, 8) == 1  # never below one


def test_connect_refuses_both_or_neither():
    with pytest.raises(ClusterError):
        with connect():
            pass
    with pytest.raises(ClusterError):
        with connect("tcp://127.0.0.1:1", workers=2):
            pass


@pytest.mark.parametrize("tile", [None, 16])
def test_folder_of_images_gives_the_same_bytes(tmp_path, cluster, network, images, tile):
    here = upscale_files([images], network, tmp_path / "here", tile=tile)
    there = upscale_files([images], network, tmp_path / "there", tile=tile, cluster=cluster)
    assert here.ok and there.ok
    assert len(there.done) == 8
    # with --tile 16 the 40-row image runs as rows of tiles on the workers
    assert _splits(network, images / "big.png", dict(tile=tile, memory=2 << 30)) == (tile == 16)
    assert _outputs(tmp_path / "there") == _outputs(tmp_path / "here")
    # one model load per worker process, and darkpy threads = the worker's share of the cores
    assert all(n <= 1 for n in cluster.run_on_workers(worker.loaded_count).values())
    share = max(1, worker.usable_cores() // 2)
    assert set(cluster.run_on_workers(worker.darkpy_threads).values()) == {share}


def test_a_result_arriving_as_a_poll_times_out_is_not_lost(cluster, monkeypatch):
    """The failure once seen under heavy load: distributed's future.result(timeout=...) can
    lose a result that arrives just as its timeout expires (Python 3.11: an UnboundLocalError
    from distributed.utils.sync), and the job then failed. Polling every millisecond against
    tasks of a few milliseconds makes that coincidence happen within a few calls."""
    import time

    from darkpy.cluster import scheduler

    monkeypatch.setattr(scheduler, "POLL_SECONDS", 0.001)
    for delay in [0.002, 0.004, 0.006] * 10:
        future = scheduler.submit(cluster, "sleep", time.sleep, delay)
        assert scheduler.result(cluster, future) is None


def test_nifti_volume_gives_the_same_bytes_in_slabs(tmp_path, cluster, network):
    nib = pytest.importorskip("nibabel")
    rng = np.random.default_rng(2)
    data = rng.integers(0, 4000, (8, 7, 6), dtype=np.int16)
    path = tmp_path / "scan.nii"
    nib.save(nib.Nifti1Image(data, np.diag([1.0, 1.0, 2.0, 1.0])), str(path))
    here = upscale_files([path], network, tmp_path / "here")
    there = upscale_files([path], network, tmp_path / "there", cluster=cluster)
    assert here.ok and there.ok
    assert _outputs(tmp_path / "there") == _outputs(tmp_path / "here")


def test_bad_input_is_reported_and_the_rest_finish(tmp_path, cluster, network, images):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("im0.png", "im1.png"):
        (folder / name).write_bytes((images / name).read_bytes())
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    report = upscale_files([folder], network, tmp_path / "out", cluster=cluster)
    assert [p.name for p, _ in report.done] == ["im0.png", "im1.png"]
    assert len(report.failed) == 1 and "broken.png" in report.failed[0][1]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["im0_x2.png", "im1_x2.png"]


class KillAWorker(Reporter):
    """Kills one worker process when the first file is done, while the others are queued."""

    def __init__(self, cluster):
        self.cluster, self.killed = cluster, None

    def end_file(self, path, error):
        if self.killed is None:
            pids = self.cluster.run_on_workers(os.getpid)
            self.killed = sorted(pids.values())[0]
            os.kill(self.killed, signal.SIGKILL)


def test_a_worker_killed_mid_run_changes_nothing(tmp_path, cluster, network):
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for k in range(16):
        io.write_image(folder / f"p{k:02d}.png", rng.integers(0, 256, (24, 24, 3), dtype=np.uint8))
    upscale_files([folder], network, tmp_path / "here")
    reporter = KillAWorker(cluster)
    there = upscale_files([folder], network, tmp_path / "there", cluster=cluster, reporter=reporter)
    assert reporter.killed is not None
    assert there.ok, there.failed
    assert _outputs(tmp_path / "there") == _outputs(tmp_path / "here")  # no .tmp left either


def test_detect_gives_the_same_detections_and_files(tmp_path, cluster):
    import cv2

    from darkpy.detect import Detector, detect_files
    from test_detect_cli import TOY

    (tmp_path / "toy.cfg").write_text(TOY)
    (tmp_path / "empty.weights").write_bytes(np.array([0, 2, 0], np.int32).tobytes()
                                             + np.zeros(1, np.int64).tobytes())
    folder = tmp_path / "images"
    folder.mkdir()
    for k in range(4):
        picture = np.zeros((24, 40, 3), np.uint8)
        picture[4:12, 4 + 8 * k:12 + 8 * k] = 255
        cv2.imwrite(str(folder / f"patch{k}.png"), picture)
    (folder / "broken.png").write_bytes(b"not a png")
    detector = Detector(darkpy.load(tmp_path / "toy.cfg", tmp_path / "empty.weights"), ["blob"], thresh=0.4)
    runs = {}
    for name, where in (("here", None), ("there", cluster)):
        seen = []
        report = detect_files([folder], detector, tmp_path / name, json_path=tmp_path / f"{name}.json",
                              cluster=where, on_detections=lambda label, s, d: seen.append((label, len(d))))
        runs[name] = (seen, [p.name for p in report.written], report.failed)
    assert runs["there"] == runs["here"]
    assert len(runs["here"][0]) == 4 and all(n >= 1 for _, n in runs["here"][0])  # a white patch each
    assert [item for item, _ in runs["there"][2]] == [str(folder / "broken.png")]
    assert (tmp_path / "there.json").read_bytes() == (tmp_path / "here.json").read_bytes()
    assert _outputs(tmp_path / "there") == _outputs(tmp_path / "here")


def test_evaluate_gives_the_same_scores(tmp_path, cluster, network, images):
    from darkpy.evaluation import evaluate

    model = network.loaded_from["model"]
    hr = tmp_path / "hr"
    hr.mkdir()
    rng = np.random.default_rng(4)
    for k in range(3):
        io.write_image(hr / f"hr{k}.png", rng.integers(0, 256, (24, 28, 3), dtype=np.uint8))
    io.write_image(hr / "tiny.png", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))  # too small
    here = evaluate([f"tiny={model}"], [hr], rotations=2)
    there = evaluate([f"tiny={model}"], [hr], rotations=2, cluster=cluster)
    assert there.samples == here.samples and there.skipped == here.skipped
    assert len(here.samples) == 6 and len(here.skipped) == 2


def test_cli_upscale_on_a_running_scheduler(tmp_path, cluster, network, images):
    from typer.testing import CliRunner

    from darkpy.cli import app

    address = cluster.client.scheduler.address
    model = network.loaded_from["model"]
    result = CliRunner().invoke(app, ["upscale", str(images / "im0.png"), str(images / "gray.tif"),
                                      "-m", model, "-o", str(tmp_path / "there"), "--cluster", address])
    assert result.exit_code == 0, result.output
    upscale_files([images / "im0.png", images / "gray.tif"], network, tmp_path / "here")
    assert _outputs(tmp_path / "there") == _outputs(tmp_path / "here")
    result = CliRunner().invoke(app, ["upscale", str(images / "im0.png"), "-m", model, "--workers", "2",
                                      "--cluster", address])
    assert result.exit_code == 2 and "not both" in result.output


def test_leftovers_of_a_killed_write_are_removed(tmp_path):
    from darkpy.io.atomic import remove_leftovers

    target = tmp_path / "a[1].png"
    (tmp_path / ".a[1].png.x8k2.tmp").write_bytes(b"half")
    (tmp_path / ".b.png.x8k2.tmp").write_bytes(b"someone else's")
    remove_leftovers(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".b.png.x8k2.tmp"]
