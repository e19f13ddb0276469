"""`darkpy evaluate` on small synthetic images: models, pairs, outputs, errors, figures."""
from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

import darkpy
from darkpy import evaluate
from darkpy.cli import app
from darkpy.errors import InputError
from darkpy.imresize import imresize
from darkpy.io.image import write_image
from upscale_nets import TINY_SR, nearest_network, random_network

runner = CliRunner()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def smooth_image(shape, seed):
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 255, shape).astype(np.float32)
    return np.clip(cv2.GaussianBlur(noise, (5, 5), 1.5) * 1.8 - 100, 0, 255).round().astype(np.uint8)


def y_of(rgb):
    rgb = np.asarray(rgb, dtype=np.float64)
    return 16.0 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0


def psnr(a, b, shave):
    d = (np.asarray(a, np.float64) - np.asarray(b, np.float64))[shave:-shave, shave:-shave]
    return 10.0 * np.log10(255.0 ** 2 / np.mean(d * d))


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "hr"
    folder.mkdir()
    rgb = smooth_image((40, 36, 3), 0)
    gray = smooth_image((34, 30), 1)
    write_image(folder / "colour.png", rgb)
    write_image(folder / "gray.png", gray)
    return folder, rgb, gray


@pytest.fixture
def tiny(tmp_path):
    """A tiny random x2 network as .h5, and as its cfg with those weights."""
    network = random_network(tmp_path, TINY_SR, seed=3, std=0.1)
    darkpy.save(network, tmp_path / "tiny.h5")
    return network, tmp_path / "tiny.h5", tmp_path / "net.cfg"


def test_bicubic_and_model_rows_agree_with_numpy(images, tiny):
    folder, rgb, gray = images
    network, h5, _ = tiny
    result = evaluate([str(h5)], [folder])
    assert result.scale == 2 and result.labels == ["bicubic", "tiny"]
    by_name = {s.name: s.scores for s in result.samples}
    # colour: Y of BT.601; the LR image is MATLAB's resize of the uint8 image
    lr = imresize(rgb, size=(20, 18))
    assert by_name["colour"]["bicubic"].psnr == pytest.approx(psnr(y_of(imresize(lr, size=(40, 36))), y_of(rgb), 2),
                                                              abs=1e-9)
    out = np.rint(np.clip(network.forward(lr[None].astype(np.float32))[0], 0, 255))
    assert by_name["colour"]["tiny"].psnr == pytest.approx(psnr(y_of(out), y_of(rgb), 2), abs=1e-6)
    # grayscale: scored on its values; through the RGB network as three equal channels
    lr = imresize(gray, size=(17, 15))
    assert by_name["gray"]["bicubic"].psnr == pytest.approx(psnr(imresize(lr, size=(34, 30)), gray, 2), abs=1e-9)
    three = np.repeat(lr[:, :, None], 3, axis=2).astype(np.float32)
    out = np.rint(np.clip(network.forward(three[None])[0].mean(axis=2), 0, 255))
    assert by_name["gray"]["tiny"].psnr == pytest.approx(psnr(out, gray, 2), abs=1e-6)


def test_model_spellings_give_the_same_scores(images, tiny):
    folder, _, _ = images
    network, h5, cfg = tiny
    result = evaluate([str(h5), f"mine={cfg},{h5}", ("direct", network)], [folder])
    assert result.labels == ["bicubic", "tiny", "mine", "direct"]
    for sample in result.samples:
        assert sample.scores["tiny"] == sample.scores["mine"] == sample.scores["direct"]
    assert [m["parameters"] for m in result.models] == [network.num_params()] * 3
    twice = evaluate([str(h5), str(h5)], [folder])
    assert twice.labels == ["bicubic", "tiny", "tiny (2)"]


def test_ensemble_of_an_equivariant_network_changes_nothing(images, tmp_path):
    """Nearest-neighbour upscaling commutes with flips and quarter turns."""
    folder, _, _ = images
    darkpy.save(nearest_network(tmp_path), tmp_path / "nearest.h5")
    plain = evaluate([str(tmp_path / "nearest.h5")], [folder])
    both = evaluate([str(tmp_path / "nearest.h5")], [folder], ensemble=True)
    assert [s.scores for s in plain.samples] == [s.scores for s in both.samples]
    assert both.options["ensemble"]


def test_a_network_that_keeps_the_size_gets_the_bicubic_image(images, tmp_path):
    """An SRCNN-style network (output = input size) is fed the bicubic upscaling; an identity
    network then scores as bicubic, up to MATLAB's per-axis rounding of the 8-bit row."""
    folder, _, _ = images
    cfg = tmp_path / "identity.cfg"
    cfg.write_text("[net]\nwidth=16\nheight=16\nchannels=3\n\n[convolutional]\nfilters=3\nsize=1\n"
                   "stride=1\npad=0\nactivation=linear\n")
    network = darkpy.load(cfg)
    network.layers[0].set_param("weights", np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1))
    network.layers[0].set_param("biases", np.zeros(3, np.float32))
    result = evaluate([("identity", network)], [folder], scale=2)
    assert result.models[0]["pre_upsampled_input"]
    for sample in result.samples:
        assert sample.scores["identity"].psnr == pytest.approx(sample.scores["bicubic"].psnr, abs=0.05)
    with pytest.raises(InputError, match="give --scale"):
        evaluate([("identity", network)], [folder])


def test_rgb_scores_on_request(images):
    folder, rgb, _ = images
    result = evaluate([], [folder], scale=2, rgb=True)
    colour = next(s for s in result.samples if s.name == "colour").scores["bicubic"]
    up = imresize(imresize(rgb, size=(20, 18)), size=(40, 36))
    assert colour.psnr_rgb == pytest.approx(psnr(up, rgb, 2), abs=1e-9)
    assert colour.ssim_rgb is not None and colour.ssim_rgb < 1
    assert evaluate([], [folder], scale=2).samples[0].scores["bicubic"].psnr_rgb is None


def test_pairs_in_one_folder_and_in_two_folders(images, tmp_path):
    folder, rgb, gray = images
    hr_only = evaluate([], [folder], scale=2)
    one = tmp_path / "pairs"
    lr_dir, hr_dir = tmp_path / "lr", tmp_path / "hr2"
    for d in (one, lr_dir, hr_dir):
        d.mkdir()
    for name, image in (("colour", rgb), ("gray", gray)):
        small = imresize(image, size=(image.shape[0] // 2, image.shape[1] // 2))
        write_image(one / f"{name}_LR.png", small)
        write_image(one / f"{name}_HR.png", image)
        write_image(lr_dir / f"{name}x2.png", small)
        write_image(hr_dir / f"{name}.png", image)
    for result in (evaluate([], [one]), evaluate([], lr=lr_dir, hr=hr_dir)):
        assert result.scale == 2
        assert [(s.name, s.scores) for s in result.samples] == [(s.name, s.scores) for s in hr_only.samples]


def test_csv_and_json_hold_every_score(images, tiny, tmp_path):
    folder, _, _ = images
    _, h5, _ = tiny
    table, data = tmp_path / "out" / "scores.csv", tmp_path / "out" / "scores.json"
    result = runner.invoke(app, ["evaluate", str(h5), "--data", str(folder), "--csv", str(table),
                                 "--json", str(data), "--rgb"])
    assert result.exit_code == 0, result.output
    assert "bicubic" in result.stdout and "tiny" in result.stdout and "mean" in result.stdout
    rows = list(csv.DictReader(table.open()))
    assert list(rows[0]) == ["level", "group", "image", "angle", "model", "psnr", "ssim", "psnr_rgb", "ssim_rgb"]
    assert [r["level"] for r in rows] == ["sample"] * 4 + ["group"] * 4 + ["mean"] * 2
    doc = json.loads(data.read_text())
    assert doc["protocol"]["scale"] == 2 and doc["protocol"]["shave"] == 2
    assert doc["protocol"]["degradation"] == "matlab"
    assert doc["labels"] == ["bicubic", "tiny"] and doc["models"][0]["label"] == "tiny"
    for row in rows[:4]:
        sample = next(s for s in doc["samples"] if s["image"] == row["image"])
        for key in ("psnr", "ssim", "psnr_rgb", "ssim_rgb"):
            assert float(row[key]) == sample["scores"][row["model"]][key]
    for label in ("bicubic", "tiny"):
        samples = [float(r["psnr"]) for r in rows if r["level"] == "sample" and r["model"] == label]
        mean = next(float(r["psnr"]) for r in rows if r["level"] == "mean" and r["model"] == label)
        assert mean == pytest.approx(np.mean(samples), abs=1e-12)
        assert doc["mean"][label]["psnr"] == pytest.approx(mean, abs=1e-12)
    assert not list((tmp_path / "out").glob(".*.tmp"))  # atomic writes leave nothing behind


def test_plots_are_png_files(images, tiny, tmp_path):
    folder, _, _ = images
    _, h5, _ = tiny
    plots = tmp_path / "plots"
    result = evaluate([str(h5)], [folder], plots=plots)
    names = sorted(p.name for p in plots.iterdir())
    assert names == ["crop_colour.png", "crop_gray.png", "error_colour.png", "error_gray.png", "psnr.png"]
    assert sorted(p.name for p in result.figures) == names
    for path in plots.iterdir():
        assert path.read_bytes()[:8] == PNG_SIGNATURE


def test_disagreement_window_finds_where_results_differ():
    from darkpy.evaluation.plots import disagreement_window

    hr = np.zeros((80, 90, 3))
    a, b = hr.copy(), hr.copy()
    b[50:60, 20:30] = 40.0  # the two results differ only here
    top, left, side = disagreement_window(hr, [a, b], shave=2)
    assert side == 20
    assert top <= 50 and top + side >= 60 and left <= 20 and left + side >= 30


def _fails(args, *needles):
    result = runner.invoke(app, ["evaluate", *map(str, args)])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # a message, never a traceback
    message = result.output.strip().splitlines()[-1]
    assert message.startswith("error:")
    for needle in needles:
        assert needle in message, message
    return message


def test_errors_name_what_is_wrong(images, tiny, tmp_path):
    folder, rgb, _ = images
    _, h5, cfg = tiny
    _fails(["--data", tmp_path / "missing"], "missing", "no such file or folder")
    _fails([h5], "nothing to evaluate on")
    _fails(["--data", folder], "give --scale")
    _fails([h5, "--data", folder, "--scale", "3"], "tiny upscales x2", "x3")
    _fails([cfg, "--data", folder], "net.cfg", "net.cfg,WEIGHTS")
    _fails(["no-such-model", "--data", folder], "no-such-model")
    _fails(["--data", folder, "--scale", "2", "--degrade", "lanczos"], "lanczos", "matlab")
    _fails(["--data", folder, "--scale", "2", "--lr", folder], "--lr and --hr")
    _fails(["--data", folder, "--scale", "2", "--mask", folder, "--mask-threshold", "3"], "not both")
    _fails(["--data", folder, "--scale", "2", "--mask", folder], "--mask applies to NIfTI volumes")
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    write_image(pairs / "a_HR.png", rgb)
    write_image(pairs / "a_LR.png", imresize(rgb, size=(20, 18)))
    write_image(pairs / "b_LR.png", rgb)
    _fails(["--data", pairs], "unmatched", "b_LR.png")
    (pairs / "b_LR.png").unlink()
    _fails(["--data", pairs, "--scale", "3"], "a_HR.png is 36x40", "x3")
    _fails(["--data", pairs, "--rotations", "4"], "--rotations")
    lr_dir, hr_dir = tmp_path / "lr", tmp_path / "hr_dir"
    lr_dir.mkdir()
    hr_dir.mkdir()
    write_image(lr_dir / "a.png", rgb)
    write_image(hr_dir / "b.png", rgb)
    _fails(["--lr", lr_dir, "--hr", hr_dir], "unmatched", "a.png (no HR)", "b.png (no LR)")


def test_too_small_images_are_listed_not_scored(images, tmp_path):
    folder, _, _ = images
    write_image(folder / "tiny.png", np.zeros((12, 12, 3), np.uint8))
    result = evaluate([], [folder], scale=2)
    assert [name for name, _ in result.skipped] == ["tiny"]
    assert "too small" in result.skipped[0][1]
    assert sorted(s.name for s in result.samples) == ["colour", "gray"]


def test_help_explains_the_model_syntax():
    result = runner.invoke(app, ["evaluate", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for needle in ("CFG,WEIGHTS", "LABEL=", "--rotations", "--mask-threshold", "--degrade", "--bicubic-y"):
        assert needle in result.output
