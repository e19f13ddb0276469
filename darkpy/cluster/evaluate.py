"""`evaluate` on a cluster: one task per image or volume slice, scored on a worker by the same
code (darkpy.evaluation.run.score_source) with the models loaded once per worker; the scores
and the figures' images come back and are added in input order, so the tables are the same."""
from __future__ import annotations

import copy

from darkpy.cluster import scheduler, worker
from darkpy.cluster.recipes import ModelsRecipe


def _source_task(recipe, protocol, source, angle_list, mask_threshold, keep_figure):
    from darkpy.evaluation.run import score_source
    from darkpy.kernels.workers import blas_single_threaded

    with worker.using(recipe) as loaded, blas_single_threaded():
        return score_source(protocol, source, loaded, angle_list, mask_threshold, keep_figure)


def score_on_cluster(cluster, result, sources, loaded, angle_list, figures, reporter,
                     mask_threshold) -> None:
    from darkpy.evaluation.run import _showcase_sources, add_entries

    recipe = ModelsRecipe.of(loaded)
    protocol = copy.copy(result)          # what a task needs: the protocol, not the results
    protocol.samples, protocol.skipped, protocol.figures = [], [], []
    showcase = _showcase_sources(sources)
    jobs = []
    for index, source in enumerate(sources):
        call = (_source_task, recipe, protocol, source, angle_list, mask_threshold,
                figures is not None and index in showcase)

        def job(cluster, call=call, label=source.name):
            return scheduler.result(cluster, scheduler.submit(cluster, label, *call))

        jobs.append(scheduler.Job(source.name, job))
    for source, (entries, error) in zip(sources, scheduler.run_jobs(cluster, jobs, reporter)):
        if error is not None:
            result.skipped.append((source.name, error))
        else:
            add_entries(result, entries, figures)
