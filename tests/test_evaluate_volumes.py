"""`darkpy evaluate` on NIfTI volumes: slices, per-volume means, masks and rotations."""
from __future__ import annotations

import cv2
import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

from darkpy import evaluate
from darkpy.cli import app
from darkpy.errors import InputError
from darkpy.evaluation.rotations import angles, rotate_square, square_side
from darkpy.imresize import imresize
from darkpy.io.image import write_image

runner = CliRunner()
SHAPE = (36, 40, 5)


def head(seed=0):
    """A uint8 volume 0..255: an ellipse of smooth texture ('brain') in zeros; slice z=0 empty."""
    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(np.arange(SHAPE[0]), np.arange(SHAPE[1]), indexing="ij")
    brain = ((x - 17.5) / 14) ** 2 + ((y - 19.5) / 16) ** 2 < 1
    data = np.zeros(SHAPE, np.uint8)
    for z in range(1, SHAPE[2]):
        texture = cv2.GaussianBlur(rng.uniform(0, 255, SHAPE[:2]).astype(np.float32), (5, 5), 1.2)
        data[:, :, z] = np.where(brain, np.clip(texture * 2 - 60, 60, 250), 0).round().astype(np.uint8)
    data[18, 20, 2] = 255  # min 0, max 255: voxels map to 0..255 unchanged
    return data, brain


def save(path, data):
    nib.Nifti1Image(data, np.eye(4)).to_filename(str(path))
    return path


@pytest.fixture
def volume(tmp_path):
    data, brain = head()
    return save(tmp_path / "head.nii.gz", data), data, brain


def masked_psnr(a, b, mask, shave):
    d = (np.asarray(a, np.float64) - np.asarray(b, np.float64))[shave:-shave, shave:-shave]
    d = d[mask[shave:-shave, shave:-shave]]
    return 10.0 * np.log10(255.0 ** 2 / np.mean(d * d))


def test_slices_are_scored_and_averaged_per_volume(volume):
    path, data, _ = volume
    result = evaluate([], [path], scale=2)
    assert [s.name for s in result.samples] == [f"head[z={z}]" for z in range(1, 5)]  # z=0 is background
    (group,) = result.groups()
    assert group.name == "head" and group.count == 4
    assert group.scores["bicubic"].psnr == pytest.approx(np.mean([s.scores["bicubic"].psnr for s in result.samples]))
    plane = data[:, :, 3]
    up = imresize(imresize(plane, size=(18, 20)), size=(36, 40))
    everywhere = np.ones(plane.shape, bool)
    assert result.samples[2].scores["bicubic"].psnr == pytest.approx(masked_psnr(up, plane, everywhere, 2), abs=1e-9)


def test_mask_restricts_the_scores_to_the_brain(volume, tmp_path):
    path, data, brain = volume
    mask_path = save(tmp_path / "brain.nii.gz", np.repeat(brain[:, :, None], SHAPE[2], axis=2).astype(np.uint8))
    result = evaluate([], [path], scale=2, mask=mask_path)
    plane = data[:, :, 2]
    up = imresize(imresize(plane, size=(18, 20)), size=(36, 40))
    assert result.samples[1].scores["bicubic"].psnr == pytest.approx(masked_psnr(up, plane, brain, 2), abs=1e-9)
    unmasked = evaluate([], [path], scale=2)
    assert result.samples[1].scores["bicubic"].psnr != pytest.approx(unmasked.samples[1].scores["bicubic"].psnr)
    # a mask of ones changes nothing
    ones = save(tmp_path / "ones.nii.gz", np.ones(SHAPE, np.uint8))
    assert [s.scores for s in evaluate([], [path], scale=2, mask=ones).samples] == \
        [s.scores for s in unmasked.samples]


def test_threshold_mask_equals_the_same_mask_from_a_file_or_folder(volume, tmp_path):
    path, data, _ = volume
    folder = tmp_path / "masks"
    folder.mkdir()
    save(folder / "head_mask.nii.gz", (data > 100).astype(np.uint8))
    by_threshold = evaluate([], [path], scale=2, mask_threshold=100)
    by_folder = evaluate([], [path], scale=2, mask=folder)
    assert [s.scores for s in by_threshold.samples] == [s.scores for s in by_folder.samples]


def test_mask_errors(volume, tmp_path):
    path, _, _ = volume
    wrong = save(tmp_path / "wrong.nii.gz", np.ones((36, 40, 4), np.uint8))
    with pytest.raises(InputError, match="36x40x4.*36x40x5"):
        evaluate([], [path], scale=2, mask=wrong)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="head_"):
        evaluate([], [path], scale=2, mask=empty)
    with pytest.raises(InputError, match="no such file"):
        evaluate([], [path], scale=2, mask=tmp_path / "nothing.nii.gz")


def test_empty_masked_slices_are_skipped(volume, tmp_path):
    path, data, brain = volume
    mask = np.zeros(SHAPE, np.uint8)
    mask[:, :, 1:3] = brain[:, :, None]
    result = evaluate([], [path], scale=2, mask=save(tmp_path / "half.nii.gz", mask))
    assert [s.name for s in result.samples] == ["head[z=1]", "head[z=2]"]
    assert [name for name, _ in result.skipped] == ["head[z=3]", "head[z=4]"]


def test_rotated_squares_never_read_outside_the_image():
    turns = angles(20)
    side = square_side(37, 50, turns, 2)
    assert side % 2 == 0 and side >= int(37 / 1.42) - 4  # the worst angle (36 degrees) spreads by 1.40
    flat = np.full((37, 50), 200.0, np.float32)
    for angle in turns:
        np.testing.assert_allclose(rotate_square(flat, angle, side), 200.0, atol=1e-3)
    # a larger square would take in the zero padding at some angle
    assert min(rotate_square(flat, a, side + 8).min() for a in turns) < 150


def test_quarter_turns_are_exact(tmp_path):
    rng = np.random.default_rng(5)
    image = cv2.GaussianBlur(rng.uniform(0, 255, (38, 44, 3)).astype(np.float32), (5, 5), 1.0)
    side = square_side(38, 44, angles(4), 2)
    top, left = (38 - side) // 2, (44 - side) // 2
    crop = image[top:top + side, left:left + side]
    np.testing.assert_allclose(rotate_square(image, 0, side), crop, atol=1e-3)
    np.testing.assert_allclose(rotate_square(image, 90, side), np.rot90(crop), atol=1e-3)  # counter-clockwise


def test_rotations_score_each_angle_of_the_central_square(tmp_path):
    rng = np.random.default_rng(6)
    image = cv2.GaussianBlur(rng.uniform(0, 255, (38, 44, 3)).astype(np.float32), (5, 5), 1.0)
    image = np.rint(image).astype(np.uint8)
    write_image(tmp_path / "pic.png", image)
    result = evaluate([], [tmp_path / "pic.png"], scale=2, rotations=4)
    assert [s.name for s in result.samples] == ["pic@0deg", "pic@90deg", "pic@180deg", "pic@270deg"]
    side = square_side(38, 44, angles(4), 2)
    top, left = (38 - side) // 2, (44 - side) // 2
    crop = image[top:top + side, left:left + side]
    for k, sample in ((0, result.samples[0]), (1, result.samples[1])):
        alone = tmp_path / f"turned{k}"
        alone.mkdir()
        write_image(alone / "pic.png", np.ascontiguousarray(np.rot90(crop, k)))
        assert evaluate([], [alone], scale=2).samples[0].scores == sample.scores
    (group,) = result.groups()
    assert group.count == 4


def test_cli_volume_with_mask_rotations_and_plots(volume, tmp_path):
    path, _, brain = volume
    mask_path = save(tmp_path / "brain.nii.gz", np.repeat(brain[:, :, None], SHAPE[2], axis=2).astype(np.uint8))
    plots = tmp_path / "plots"
    result = runner.invoke(app, ["evaluate", "--data", str(path), "--scale", "2", "--degrade", "blur",
                                 "--mask", str(mask_path), "--rotations", "3", "--plots", str(plots),
                                 "--json", str(tmp_path / "s.json")])
    assert result.exit_code == 0, result.output
    assert "head (12)" in result.stdout and "3 rotations" in result.stdout
    assert sorted(p.name for p in plots.iterdir()) == ["crop_head.png", "error_head.png", "psnr.png"]
