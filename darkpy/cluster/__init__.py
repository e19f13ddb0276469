"""`darkpy upscale`, `detect` and `evaluate` on a Dask cluster (`dask.distributed`).

    from darkpy.cluster import connect
    with connect(workers=4) as cluster:          # or connect("tcp://host:8786")
        upscale_files(["scans/"], load_model("darkpy-sr-x2"), "out", cluster=cluster)

How the work is cut (each piece runs the same code as the in-process run, so the bytes are
the same): one task per image file; an image that the tile plan splits runs as one task per
row of tiles, stitched here (upscale.py); a NIfTI volume as slabs of slices; detection and
evaluation one task per input. The model travels as a recipe (its files' paths and digest,
recipes.py) and each worker process loads it once (worker.py); each worker's darkpy threads
are its share of its machine's cores. Outputs are written by the workers, atomically, to
storage every worker sees. A task whose worker dies is rerun by Dask elsewhere; a bad input
is reported at the end and the rest finish; Ctrl-C cancels what is left (scheduler.py).
"""
from darkpy.cluster.session import Cluster, connect

__all__ = ["Cluster", "connect"]
