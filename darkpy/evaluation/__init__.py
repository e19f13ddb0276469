"""`darkpy evaluate`: super-resolution models scored side by side by the benchmark protocol.

    from darkpy import evaluate
    result = evaluate(["darkpy-sr-x2", "edsr=edsr_x2.h5"], ["set5/x2"])
    result.mean()["darkpy-sr-x2"].psnr

The protocol (that of the SR literature's tables, see ../shared/data/sr/README.md):
1. Each HR image is cropped to a multiple of the scale; its LR image is made by the chosen
   degradation (`darkpy.train.data.degrade`: MATLAB bicubic by default, `blur` = 3x3
   Gaussian of sigma 1 then MATLAB bicubic, `opencv`), rounded to 8 bits for 8-bit images,
   or read from a given LR file (sources.py).
2. Every row upscales the same LR image: `bicubic` (the degradation's bicubic, MATLAB's on the
   8-bit image), and each model (models.py); results are rounded to 8 bits.
3. Scores (darkpy.metrics): PSNR (peak 255) and SSIM on MATLAB's BT.601 luminance Y for RGB,
   on the values for grayscale, with `scale` pixels shaved from every border; `rgb` adds them
   on the RGB channels. A mask (NIfTI, or an intensity threshold on the HR's luminance on
   0..255) restricts both to its pixels.
4. With rotations, each image is scored at N angles (rotations.py). Means are taken per group
   (an image over its rotations, a volume over its slices and rotations), then over groups:
   each image or volume counts once.
`bicubic_y` adds the literature's Y-only bicubic row (models.bicubic_y), which reproduces the
published Set5 bicubic numbers.
"""
from darkpy.evaluation.run import Evaluation, GroupResult, SampleResult, Scores, evaluate

__all__ = ["evaluate", "Evaluation", "GroupResult", "SampleResult", "Scores"]
