"""`upscale_files` on a cluster: the jobs, and the runner that sends tiles and slices out.

An image whose tile plan is one tile (the usual photo) is one task: the worker reads it,
upscales it and writes the output. An image the plan splits, and every NIfTI volume, is run
by upscale_file here on a client thread with a ClusterRunner: the same reading, value
mapping and writing as in-process, but each row of tiles (the same plan's tiles) or slab of
slices is a task, so one large file keeps every worker busy.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from darkpy.cluster import scheduler, worker
from darkpy.cluster.recipes import NetworkRecipe
from darkpy.upscale.pipeline import InProcess, network_geometry, upscale_file, upscale_planes
from darkpy.upscale.tiling import TilePlan, plan_tiles, run_band, run_tiled


# --- what the tasks run on a worker -----------------------------------------------------------

def _file_task(recipe, path, target, axis, options):
    with worker.using(recipe) as network:
        upscale_file(network, Path(path), Path(target), axis=axis, **options)
    return str(target)


def _band_task(recipe, band, geometry, plan, y0, y1):
    with worker.using(recipe) as network:
        return run_band(network, band, geometry, plan, y0, y1)


def _whole_task(recipe, image, geometry, plan):
    with worker.using(recipe) as network:
        return run_tiled(network, image, geometry, plan)


def _slab_task(recipe, planes, lo, hi, out_dtype, options):
    with worker.using(recipe) as network:
        return upscale_planes(network, planes, lo, hi, out_dtype, options)


# --- the client side --------------------------------------------------------------------------

class ClusterRunner(InProcess):
    """upscale_file's runner whose pieces are cluster tasks (see darkpy.upscale.pipeline)."""

    def __init__(self, cluster, recipe: NetworkRecipe, label: str):
        self.cluster, self.recipe, self.label = cluster, recipe, label

    def _gather(self, calls):
        futures = [scheduler.submit(self.cluster, self.label, *call) for call in calls]
        return scheduler.results(self.cluster, futures)

    def tiles(self, network, image, geometry, plan: TilePlan, on_tile=None):
        height, width = image.shape[:2]
        if plan.tile_h >= height and plan.tile_w >= width:
            return self._gather([(_whole_task, self.recipe, image, geometry, plan)])[0]
        halo = geometry.halo
        calls = []
        for y0 in range(0, height, plan.tile_h):
            y1 = min(y0 + plan.tile_h, height)
            band = np.ascontiguousarray(image[max(0, y0 - halo):min(height, y1 + halo)])
            calls.append((_band_task, self.recipe, band, geometry, plan, y0, y1))
        return np.concatenate(self._gather(calls), axis=0)

    def slices(self, network, planes, lo, hi, out_dtype, options, progress=None):
        count = planes.shape[0]
        slab = max(1, math.ceil(count / (2 * self.cluster.total_threads())))
        calls = [(_slab_task, self.recipe, np.ascontiguousarray(planes[i:i + slab]), lo, hi,
                  np.dtype(out_dtype), options) for i in range(0, count, slab)]
        return np.concatenate(self._gather(calls), axis=0)


def _splits(network, path: Path, options: dict) -> bool:
    """Whether an image's tile plan has more than one tile (read from its header only)."""
    try:
        from PIL import Image

        with Image.open(path) as image:
            width, height = image.size
    except Exception:  # not for PIL to judge: the worker reads it and reports what is wrong
        return False
    _, geometry, _ = network_geometry(network)
    if geometry is None or options.get("tile") == 0:
        return False
    shapes = [(height, width), (width, height)] if options.get("ensemble") else [(height, width)]
    return any(plan_tiles(network, geometry, h, w, tile=options.get("tile"),
                          memory=options["memory"]).count(h, w) > 1 for h, w in shapes)


def upscale_jobs(cluster, network, paths, targets, axis: int, options: dict) -> list[scheduler.Job]:
    from darkpy.io.volume import is_volume

    recipe = NetworkRecipe.of(network)
    jobs = []
    for path, target in zip(paths, targets):
        path, target = Path(path), Path(target)
        if is_volume(path) or _splits(network, path, options):
            def run(cluster, path=path, target=target):
                try:
                    upscale_file(network, path, target, axis=axis,
                                 runner=ClusterRunner(cluster, recipe, str(path)), **options)
                except scheduler.JobFailed:
                    raise
                except Exception as exc:  # the client-side part: reading, writing
                    raise scheduler.JobFailed(scheduler.failure_message(str(path), exc)) from None
                return target
        else:
            def run(cluster, path=path, target=target):
                future = scheduler.submit(cluster, str(path), _file_task, recipe, str(path),
                                          str(target), axis, options)
                return Path(scheduler.result(cluster, future))
        jobs.append(scheduler.Job(str(path), run))
    return jobs
