"""`detect_files` on a cluster: one task per image or video, run by a worker's Detector (loaded
once per worker from a recipe); annotated copies are written by the workers under the names
the in-process run gives, and the detections come back to the client in input order."""
from __future__ import annotations

import time

from darkpy.cluster import scheduler, worker
from darkpy.cluster.recipes import DetectorRecipe
from darkpy.errors import InputError


def _image_task(recipe, location, target):
    from darkpy.detect.files import detect_image_file

    with worker.using(recipe) as detector:
        detections = detect_image_file(detector, location, target)
        return [(location, detector.last_forward_seconds, detections)]


def _video_task(recipe, location, target, max_frames):
    from darkpy.detect.files import video_label
    from darkpy.detect.video import detect_video

    with worker.using(recipe) as detector:
        start = time.perf_counter()
        frames = detect_video(detector, location, target, max_frames)
        seconds = (time.perf_counter() - start) / max(1, len(frames))
    return [(f"{video_label(location)}#{n}", seconds, found) for n, found in enumerate(frames)]


def detect_on_cluster(cluster, run, sources, reporter) -> None:
    """Fill `run` (darkpy.detect.files._Run) from the cluster's answers for `sources`."""
    cameras = [s.label for s in sources if s.kind == "camera"]
    if cameras:
        raise InputError(f"{cameras[0]}: a camera is attached to this machine; detect it without --cluster")
    recipe = DetectorRecipe.of(run.detector)
    jobs = []
    for source in sources:
        target = run.target(source)
        if source.kind == "image":
            call = (_image_task, recipe, source.location, target)
        else:
            call = (_video_task, recipe, source.location, target, run.max_frames)

        def job(cluster, call=call, label=source.label):
            return scheduler.result(cluster, scheduler.submit(cluster, label, *call))

        jobs.append((target, scheduler.Job(source.label, job)))
    outcomes = scheduler.run_jobs(cluster, [job for _, job in jobs], reporter)
    scheduler.remove_leftovers(target for target, _ in jobs)
    for source, (target, _), (frames, error) in zip(sources, jobs, outcomes):
        if error is not None:
            run.report.failed.append((source.label, error.removeprefix(f"{source.location}: ")))
            continue
        for label, seconds, detections in frames:
            run.report.detections.extend(detections)
            if run.on_detections is not None:
                run.on_detections(label, seconds, detections)
        if target is not None:
            run.report.written.append(target)
