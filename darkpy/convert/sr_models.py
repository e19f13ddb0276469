"""The super-resolution cfgs darkpy ships in cfg/, generated from one table.

`tools/make_sr_cfgs.py` writes each as `cfg/<name>.cfg` and its YAML twin `cfg/<name>.yaml`;
a test checks the files still equal what these builders produce.
"""
from __future__ import annotations

from darkpy.convert.common import CfgBuilder
from darkpy.convert.edsr import edsr_builder
from darkpy.convert.wdsr import wdsr_builder

SCALES = (2, 3, 4)


def shipped_builders() -> dict[str, CfgBuilder]:
    builders: dict[str, CfgBuilder] = {}
    for r in SCALES:
        # the NTIRE 2017 winner: 32 blocks of 256 features, residual scaling 0.1
        builders[f"edsr_x{r}"] = edsr_builder(32, 256, r, 0.1)
        builders[f"edsr_baseline_x{r}"] = edsr_builder(16, 64, r, 1.0)
        # WDSR-A: 32 blocks, 32 features widened to 192 (6x) before the ReLU
        builders[f"wdsr_a_x{r}"] = wdsr_builder("a", 32, 32, r, expand_feats=192)
        # WDSR-B: 32 blocks, 1x1 to 6x = 192, 1x1 to int(0.8 * 32) = 25, then 3x3
        builders[f"wdsr_b_x{r}"] = wdsr_builder("b", 32, 32, r)
    return builders
