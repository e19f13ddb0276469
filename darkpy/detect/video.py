"""Detection on video files and cameras through OpenCV, optionally writing an annotated video."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from darkpy.detect.draw import draw_detections
from darkpy.errors import InputError

_FOURCC = {".avi": "MJPG", ".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".mkv": "mp4v"}


def open_capture(location: str | int) -> cv2.VideoCapture:
    camera = isinstance(location, int) or str(location).isdigit()
    capture = cv2.VideoCapture(int(location) if camera else str(location))
    if not capture.isOpened():
        what = f"camera {location}" if camera else f"{location}: video"
        raise InputError(f"{what} cannot be opened by OpenCV")
    return capture


def video_output_path(out_dir: Path, location: str | int) -> Path:
    """out_dir / <input name> for files (.avi if OpenCV cannot write its format), cameraN.avi."""
    if isinstance(location, int) or str(location).isdigit():
        return Path(out_dir) / f"camera{location}.avi"
    path = Path(str(location))
    suffix = path.suffix.lower() if path.suffix.lower() in _FOURCC else ".avi"
    return Path(out_dir) / (path.stem + suffix)


def detect_video(detector, location: str | int, out_path: Path | None = None,
                 max_frames: int | None = None, on_frame=None) -> list[list]:
    """Detections per frame of a video file or camera; each frame is labelled `<source>#<n>`.

    out_path: write the annotated frames there (same size and frame rate). on_frame(n, dets)
    is called after each frame. A camera runs until it stops delivering frames, max_frames
    is reached or the user interrupts.
    """
    capture = open_capture(location)
    label = f"camera{location}" if str(location).isdigit() else str(location)
    fps = capture.get(cv2.CAP_PROP_FPS)
    fps = fps if fps and np.isfinite(fps) and fps > 0 else 25.0
    writer = None
    results: list[list] = []
    try:
        while max_frames is None or len(results) < max_frames:
            ok, frame = capture.read()
            if not ok or frame is None:
                break
            rgb = np.ascontiguousarray(frame[:, :, ::-1], dtype=np.float32) / np.float32(255.0)
            detections = detector.detect_rgb(rgb, f"{label}#{len(results)}")
            results.append(detections)
            if out_path is not None:
                if writer is None:
                    writer = _open_writer(Path(out_path), frame.shape[1], frame.shape[0], fps)
                writer.write(draw_detections(frame, detections, detector.classes))
            if on_frame is not None:
                on_frame(len(results) - 1, detections)
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    if not results:
        raise InputError(f"{label}: no frame could be read")
    return results


def _open_writer(path: Path, width: int, height: int, fps: float) -> cv2.VideoWriter:
    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = cv2.VideoWriter_fourcc(*_FOURCC.get(path.suffix.lower(), "MJPG"))
    writer = cv2.VideoWriter(str(path), fourcc, fps, (width, height))
    if not writer.isOpened():
        raise InputError(f"{path}: OpenCV cannot write this video format")
    return writer
