"""Image and NIfTI reading/writing for upscale: dtypes, channel order, voxel sizes, inputs."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

import darkpy
from darkpy.io import image as io
from darkpy.io import inputs, volume
from darkpy.upscale.pipeline import upscale_file, upscale_volume
from upscale_nets import nearest, nearest_network

nib = pytest.importorskip("nibabel")


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_grayscale_round_trip(tmp_path, suffix):
    gray = np.random.default_rng(0).integers(0, 65536, (7, 9), dtype=np.uint16)
    path = tmp_path / f"g{suffix}"
    io.write_image(path, gray)
    back = io.read_image(path)
    assert back.dtype == np.uint16 and back.shape == (7, 9)
    assert np.array_equal(back, gray)


def test_colour_is_rgb_in_memory_and_bgr_on_disk(tmp_path):
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 200  # red
    path = tmp_path / "red.png"
    io.write_image(path, rgb)
    assert np.all(cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[..., 2] == 200)
    assert np.array_equal(io.read_image(path), rgb)


def test_16_bit_colour_and_8_bit_formats(tmp_path):
    rgb16 = np.random.default_rng(0).integers(0, 65536, (5, 6, 3), dtype=np.uint16)
    io.write_image(tmp_path / "c.tiff", rgb16)
    assert np.array_equal(io.read_image(tmp_path / "c.tiff"), rgb16)
    gray8 = np.arange(30, dtype=np.uint8).reshape(5, 6)
    io.write_image(tmp_path / "g.bmp", gray8)
    assert np.array_equal(io.read_image(tmp_path / "g.bmp"), gray8)
    with pytest.raises(darkpy.DarkpyError, match="16-bit"):
        io.write_image(tmp_path / "c.jpg", rgb16)


def test_corrupt_image_is_an_input_error(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(darkpy.errors.InputError, match="bad.png"):
        io.read_image(bad)


def test_collect_inputs(tmp_path):
    (tmp_path / "d").mkdir()
    for name in ("b.png", "a.jpg", "notes.txt", "v.nii.gz"):
        (tmp_path / "d" / name).write_bytes(b"x")
    paths, missing = inputs.collect_inputs([tmp_path / "d", str(tmp_path / "d" / "*.png"), tmp_path / "nope.png"],
                                           io.WRITE_SUFFIXES + volume.VOLUME_SUFFIXES, "image or volume")
    assert [p.name for p in paths] == ["a.jpg", "b.png", "v.nii.gz"]  # the glob adds no duplicate
    assert missing == [(str(tmp_path / "nope.png"), "no such file or folder")]
    assert inputs.stem(tmp_path / "v.nii.gz") == "v" and inputs.full_suffix(tmp_path / "V.NII.GZ") == ".nii.gz"


def test_upscaled_affine_keeps_the_field_of_view():
    affine = np.array([[0.9, 0, 0, -10], [0, 1.1, 0, 5], [0, 0, 2.5, 3], [0, 0, 0, 1.0]])
    new = volume.upscaled_affine(affine, (0, 1), 2)
    # new voxel (0.5, 0.5, k) is the centre of old voxel (0, 0, k): the 2x2 block's middle
    assert np.allclose(new @ [0.5, 0.5, 4, 1], affine @ [0, 0, 4, 1])
    # the new grid's outer edge (-0.5 in new voxels) is the old edge (-0.5 in old voxels)
    assert np.allclose(new @ [-0.5, -0.5, 0, 1], affine @ [-0.5, -0.5, 0, 1])
    assert np.allclose(np.diag(new)[:3], [0.45, 0.55, 2.5])


def _write_nifti(path, data, zooms=(0.9, 1.1, 2.5)):
    affine = np.diag([*zooms, 1.0])
    affine[:3, 3] = [-10, 5, 3]
    image = nib.Nifti1Image(data, affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    nib.save(image, str(path))
    return affine


@pytest.mark.parametrize("axis, plane, zooms", [
    (2, (0, 1), (0.45, 0.55, 2.5)),
    (0, (1, 2), (0.9, 0.55, 1.25)),
])
def test_nifti_slices_upscaled_with_voxel_size_updated(tmp_path, axis, plane, zooms):
    net = nearest_network(tmp_path)
    data = np.random.default_rng(0).integers(-1000, 3000, (6, 5, 4), dtype=np.int16)
    src = tmp_path / "vol.nii.gz"
    affine = _write_nifti(src, data)
    dst = tmp_path / "out" / "vol_x2.nii.gz"
    upscale_file(net, src, dst, axis=axis)
    out = nib.load(str(dst))
    expected = np.repeat(np.repeat(data, 2, axis=plane[0]), 2, axis=plane[1])
    got = np.asanyarray(out.dataobj)
    assert got.dtype == np.int16 and np.array_equal(got, expected)
    assert np.allclose(out.header.get_zooms(), zooms)
    assert np.allclose(out.affine, volume.upscaled_affine(affine, plane, 2))
    assert int(out.header["qform_code"]) == 1 and int(out.header["sform_code"]) == 1


def test_float_4d_volume_and_progress_over_slices(tmp_path):
    net = nearest_network(tmp_path)
    data = np.random.default_rng(0).normal(100, 30, (4, 3, 2, 2)).astype(np.float32)
    steps = []
    out = upscale_volume(net, data, axis=1, progress=lambda d, t: steps.append((d, t)))
    assert out.shape == (8, 3, 4, 2) and out.dtype == np.float32
    expected = np.repeat(np.repeat(data, 2, axis=0), 2, axis=2)
    assert np.abs(out - expected).max() <= 1e-3 * np.abs(data).max()
    assert steps[-1] == (6, 6)  # 3 slices x 2 time points


def test_corrupt_nifti_is_an_input_error(tmp_path):
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(darkpy.errors.InputError, match="bad.nii.gz"):
        volume.read_volume(bad)


def test_float_tiff_keeps_its_range(tmp_path):
    """Float images in 0..1 map to 0..255 and back; others use their own min..max."""
    net = nearest_network(tmp_path)
    rng = np.random.default_rng(0)
    for name, image in (("unit.tif", rng.uniform(0, 1, (5, 6, 3))), ("wide.tif", rng.uniform(-50, 3000, (5, 6)))):
        image = image.astype(np.float32)
        io.write_image(tmp_path / name, image)
        upscale_file(net, tmp_path / name, tmp_path / "out" / name)
        back = io.read_image(tmp_path / "out" / name)
        assert back.dtype == np.float32
        assert np.abs(back - nearest(image)).max() <= 1e-6 * np.abs(image).max() + 1e-6
