"""yolov3-tiny training speed: one iteration in darkpy against a PyTorch twin, in one run.

    python benchmarks/bench_yolo_train.py [--batch 16] [--runs 5] [--threads 2] [--exact]
                                          [--profile] [--cfg C --weights W]

One iteration = forward in training mode, pjreddie's [yolo] loss, backward and darknet's SGD
update (momentum .9, decay .0005 on weights), on a batch of --batch random 416x416 images
with --boxes random truth boxes each, from the official weights in ../shared/models.

darkpy trains as `darkpy train` does (darkpy.train.darknet.step.train_minibatch, then
darkpy.train.optim.Optimizer.step), in its fast arithmetic, or darknet's exact one with
--exact. The PyTorch twin is built from the same darkpy network with the same weights:
Conv2d, BatchNorm2d in training mode (momentum .01 as darknet's rolling values), leaky .1,
darknet's max-pool padding, route = cat, nearest upsample, and the [yolo] loss written in
torch: darknet's deltas (layers/yolo.py) are the negative gradient of

    sum over every prediction not ignored      BCE(obj logit, 0)
    sum over the truths' anchors, s = 2 - w h:  BCE(obj, 1) + s BCE(x, y logits, cell offsets)
                                                + s/2 (t_w,h - log(w, h / anchor))^2
                                                + BCE(class logits, one-hot)

with "ignored" = best IoU with a truth > ignore_thresh, computed in torch from the predicted
boxes, and torch.optim.SGD with lr / batch, momentum, weight_decay = decay * batch on the
convolution weights (darknet's update rule). Before timing, the script checks that the twin
computes the same loss gradient: torch's gradient at the heads' inputs, given darkpy's head
inputs, against darkpy's -delta; and, end to end from the same weights and images, the heads'
gradients and the first layer's weight gradient (these differ by float rounding and by
batch norm's variance: torch normalises by 1/m, darknet by 1/(m-1)).

Both run with --threads threads (darkpy's workers, torch.set_num_threads), after a warm-up
iteration each; then --runs timed iterations each, alternating (which goes first alternates
too), so that a shared machine's load hits both alike: best and median per framework, the
ratio darkpy/torch of the bests, of the medians and its spread over the pairs, images/s, and
peak RSS during each framework's iterations (the process's high-water mark, reset before
each iteration through /proc/self/clear_refs where Linux allows it; it includes the other
framework's resident memory, so the growth over the RSS before the iteration is printed too).
The process keeps what both frameworks free for reuse, as `darkpy train` does
(keep_freed_memory(large_blocks=True)), so that mark is about the sum of their peaks; darkpy
alone peaks at 1.59 GiB on yolov3-tiny, batch 16, with or without large blocks kept.
--profile adds darkpy's per-layer forward/backward times for one more iteration.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import peers  # noqa: E402  (peak RSS helpers)
from darkpy.api import read_sections  # noqa: E402
from darkpy.kernels.heap import keep_freed_memory  # noqa: E402
from darkpy.network import INPUT, Network  # noqa: E402
from darkpy.train.darknet.loop import load_initial_weights  # noqa: E402
from darkpy.train.darknet.step import set_arithmetic, train_minibatch  # noqa: E402
from darkpy.train.optim import Optimizer  # noqa: E402

SHARED = REPO.parent / "shared"
MODEL = SHARED / "models" / "yolov3-tiny"
NET = {"learning_rate": "0.001", "burn_in": "0", "policy": "constant", "momentum": "0.9",
       "decay": "0.0005", "subdivisions": "1"}


# --- darkpy -----------------------------------------------------------------------------------

def darkpy_network(cfg: Path, weights: Path, batch: int, exact: bool):
    sections = read_sections(cfg)
    sections[0].options.update(NET, batch=str(batch))
    network = Network(sections, source=str(cfg), init=False)
    load_initial_weights(network, weights)
    set_arithmetic(network, exact)
    heads = [layer for layer in network.layers if layer.kind == "yolo"]
    return network, heads, Optimizer.for_network(network)


def random_batch(batch: int, h: int, w: int, boxes: int, classes: int, seed: int = 0):
    """Images in [0, 1) and (batch, 90, 5) truth: `boxes` boxes x, y, w, h, class per image."""
    rng = np.random.default_rng(seed)
    x = rng.random((batch, h, w, 3), dtype=np.float32)
    truth = np.zeros((batch, 90, 5), np.float32)
    truth[:, :boxes, 0:2] = rng.uniform(0.1, 0.9, (batch, boxes, 2))
    truth[:, :boxes, 2:4] = rng.uniform(0.03, 0.6, (batch, boxes, 2))
    truth[:, :boxes, 4] = rng.integers(0, classes, (batch, boxes))
    return x, truth


# --- the PyTorch twin -------------------------------------------------------------------------

def torch_twin(network):
    """A torch.nn.Module computing `network` in training mode; forward returns {head index:
    its input (the logits, NCHW)}. Batch norm is torch's (variance over m); the module's
    `darknet_norm = True` computes darknet's instead (unbiased variance, 1e-6 on the standard
    deviation), written out in torch: slower, for the gradient check."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Twin(nn.Module):
        def __init__(self):
            super().__init__()
            self.convs = nn.ModuleDict()
            self.norms = nn.ModuleDict()
            self.steps = []
            self.darknet_norm = False
            for layer, sources in zip(network.layers, network.sources):
                kind, key = layer.kind, str(layer.index)
                if kind == "convolutional":
                    if layer.opts.activation not in ("leaky", "linear") or layer.groups != 1:
                        raise SystemExit(f"bench_yolo_train: layer {key} is not mapped to torch")
                    bn = layer.batch_normalize
                    conv = nn.Conv2d(layer.channels, layer.filters, layer.size, layer.stride_x,
                                     layer.padding, bias=not bn)
                    with torch.no_grad():
                        conv.weight.copy_(torch.from_numpy(layer.get_param("weights")))
                        if not bn:
                            conv.bias.copy_(torch.from_numpy(layer.get_param("biases")))
                    self.convs[key] = conv
                    if bn:
                        norm = nn.BatchNorm2d(layer.filters, eps=1e-12, momentum=0.01)
                        with torch.no_grad():
                            norm.weight.copy_(torch.from_numpy(layer.get_param("scales")))
                            norm.bias.copy_(torch.from_numpy(layer.get_param("biases")))
                            norm.running_mean.copy_(torch.from_numpy(layer.get_param("rolling_mean")))
                            norm.running_var.copy_(torch.from_numpy(layer.get_param("rolling_variance")))
                        self.norms[key] = norm
                    self.steps.append(("conv", sources, (key, layer.opts.activation == "leaky")))
                elif kind == "maxpool":
                    lo = layer.padding // 2
                    self.steps.append(("pool", sources, (layer.size, layer.stride_x, lo,
                                                         layer.padding - lo)))
                elif kind == "route" and layer.opts.groups == 1:
                    self.steps.append(("cat", sources, None))
                elif kind == "upsample" and layer.opts.stride > 0:
                    self.steps.append(("up", sources, layer.opts.stride))
                elif kind == "yolo":
                    self.steps.append(("head", sources, None))
                else:
                    raise SystemExit(f"bench_yolo_train: [{kind}] is not mapped to torch")

        def forward(self, x):
            outs, heads = [], {}
            for i, (op, sources, arg) in enumerate(self.steps):
                ins = [x if s == INPUT else outs[s] for s in sources]
                if op == "conv":
                    key, leaky = arg
                    y = self.convs[key](ins[0])
                    if key in self.norms:
                        y = self._norm(self.norms[key], y)
                    out = F.leaky_relu(y, 0.1) if leaky else y
                elif op == "pool":
                    size, stride, lo, hi = arg
                    out = F.max_pool2d(F.pad(ins[0], (lo, hi, lo, hi), value=float("-inf")),
                                       size, stride)
                elif op == "cat":
                    out = torch.cat(ins, 1)
                elif op == "up":
                    out = F.interpolate(ins[0], scale_factor=arg, mode="nearest")
                else:
                    out = heads[i] = ins[0]
                outs.append(out)
            return heads

        def _norm(self, norm, y):
            if not self.darknet_norm:
                return norm(y)
            var, mean = torch.var_mean(y, (0, 2, 3), correction=1, keepdim=True)
            xn = (y - mean) / (var.sqrt() + 1e-6)
            return xn * norm.weight.view(1, -1, 1, 1) + norm.bias.view(1, -1, 1, 1)

    return Twin().train()


def torch_yolo_loss(logits, truth, head, net_w: int, net_h: int):
    """pjreddie's [yolo] loss of one head (see the module docstring) for NCHW `logits` and
    torch (N, boxes, 5) `truth` (each image's list ends at the first x = 0)."""
    import torch
    import torch.nn.functional as F

    n_img, _, lh, lw = logits.shape
    n_anchor, entries, classes = head.n, head.entries, head.classes
    if float(head.opts.truth_thresh) < 1:
        raise SystemExit("bench_yolo_train: truth_thresh < 1 is not mapped to torch")
    p = logits.view(n_img, n_anchor, entries, lh, lw)
    anchors = torch.from_numpy(head.all_anchors)
    mask = torch.tensor(head.mask)
    with torch.no_grad():
        # every prediction's box and its best IoU with the image's truths: the ignore mask
        gx = torch.arange(lw, dtype=p.dtype).view(1, 1, 1, lw)
        gy = torch.arange(lh, dtype=p.dtype).view(1, 1, lh, 1)
        aw = anchors[mask, 0].view(1, n_anchor, 1, 1)
        ah = anchors[mask, 1].view(1, n_anchor, 1, 1)
        box = torch.stack(((gx + torch.sigmoid(p[:, :, 0])) / lw,
                           (gy + torch.sigmoid(p[:, :, 1])) / lh,
                           torch.exp(p[:, :, 2]) * aw / net_w,
                           torch.exp(p[:, :, 3]) * ah / net_h), -1).view(n_img, -1, 1, 4)
        valid = torch.cumprod((truth[:, :, 0] != 0).to(torch.int32), 1).bool()
        iou = _iou(box, truth[:, None, :, :4]).masked_fill(~valid[:, None, :], 0)
        keep = (iou.max(-1).values <= float(head.opts.ignore_thresh)).to(p.dtype)
        obj_weight = keep.view(n_img, n_anchor, lh, lw)
        obj_target = torch.zeros_like(obj_weight)
        coord = torch.zeros((5, n_img, n_anchor, lh, lw), dtype=p.dtype)  # tx ty tw th s
        cls_target = torch.zeros((n_img, n_anchor, classes, lh, lw), dtype=p.dtype)
        cls_weight = torch.zeros_like(obj_weight)
        # every truth: the best-fitting of all anchors by shape, if this head predicts it
        b, t = valid.nonzero(as_tuple=True)
        tx, ty, tw, th, tc = truth[b, t].unbind(-1)
        inter = torch.minimum(tw[:, None], anchors[None, :, 0] / net_w) * \
            torch.minimum(th[:, None], anchors[None, :, 1] / net_h)
        shape_iou = inter / (tw[:, None] * th[:, None] + anchors[None, :, 0] * anchors[None, :, 1]
                             / (net_w * net_h) - inter)
        best = shape_iou.argmax(1)
        ours = (best[:, None] == mask[None, :])
        has = ours.any(1)
        b, t, tx, ty, tw, th, tc, best = (v[has] for v in (b, t, tx, ty, tw, th, tc, best))
        a = ours[has].int().argmax(1)
        i = (tx * lw).long().clamp(max=lw - 1)
        j = (ty * lh).long().clamp(max=lh - 1)
        # a later truth on the same anchor overwrites an earlier one (darknet's loop order)
        cell = ((b * n_anchor + a) * lh + j) * lw + i
        order = torch.arange(len(cell))
        last = torch.full((n_img * n_anchor * lh * lw,), -1, dtype=torch.long)
        last.scatter_reduce_(0, cell, order, "amax")
        w_ = last[cell] == order
        at = (b[w_], a[w_], j[w_], i[w_])
        coord[(slice(None), *at)] = torch.stack(
            (tx[w_] * lw - i[w_], ty[w_] * lh - j[w_],
             torch.log(tw[w_] * net_w / anchors[best[w_], 0]),
             torch.log(th[w_] * net_h / anchors[best[w_], 1]), 2 - tw[w_] * th[w_]))
        obj_target[at] = 1
        obj_weight[at] = 1
        cls_weight[at] = 1
        cls_target[b, a, tc.long(), j, i] = 1  # classes of all truths on an anchor add up
    tx, ty, tw, th, s = coord
    bce = F.binary_cross_entropy_with_logits
    return (bce(p[:, :, 4], obj_target, obj_weight, reduction="sum")
            + bce(p[:, :, 0], tx, s, reduction="sum") + bce(p[:, :, 1], ty, s, reduction="sum")
            + 0.5 * (s * ((p[:, :, 2] - tw) ** 2 + (p[:, :, 3] - th) ** 2)).sum()
            + bce(p[:, :, 5:], cls_target, cls_weight[:, :, None].expand_as(cls_target),
                  reduction="sum"))


def _iou(a, b):
    """IoU of centre-size boxes, broadcasting over the leading dimensions."""
    import torch

    w = (torch.minimum(a[..., 0] + a[..., 2] / 2, b[..., 0] + b[..., 2] / 2)
         - torch.maximum(a[..., 0] - a[..., 2] / 2, b[..., 0] - b[..., 2] / 2))
    h = (torch.minimum(a[..., 1] + a[..., 3] / 2, b[..., 1] + b[..., 3] / 2)
         - torch.maximum(a[..., 1] - a[..., 3] / 2, b[..., 1] - b[..., 3] / 2))
    inter = torch.where((w < 0) | (h < 0), torch.zeros_like(w), w * h)
    return inter / (a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter)


def torch_optimizer(torch, twin, batch: int):
    """darknet's SGD as torch.optim.SGD: lr / batch, decay * batch on convolution weights."""
    o = {k: float(v) for k, v in NET.items() if k != "policy"}
    weights = [c.weight for c in twin.convs.values()]
    others = [p for p in twin.parameters() if all(p is not w for w in weights)]
    return torch.optim.SGD([{"params": weights, "weight_decay": o["decay"] * batch},
                            {"params": others, "weight_decay": 0.0}],
                           lr=o["learning_rate"] / batch, momentum=o["momentum"])


# --- measuring --------------------------------------------------------------------------------

def _profile(network, heads, x, truth, w, h):
    """{(index, kind): [forward s, backward s]} of one darkpy training minibatch."""
    times = {}
    for layer in network.layers:
        for name, slot in (("forward", 0), ("backward", 1), ("backward_params", 1)):
            def timed(*args, _f=getattr(layer, name), _key=(layer.index, layer.kind), _slot=slot,
                      **kwargs):
                start = time.perf_counter()
                result = _f(*args, **kwargs)
                times.setdefault(_key, [0.0, 0.0])[_slot] += time.perf_counter() - start
                return result
            setattr(layer, name, timed)
    try:
        train_minibatch(network, heads, x, truth, w, h)
    finally:
        for layer in network.layers:
            for name in ("forward", "backward", "backward_params"):
                delattr(layer, name)
    return times


def _relative(a, b) -> float:
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def check_gradients(torch, network, heads, twin, x, truth, w, h) -> None:
    """Print how the twin's loss gradient compares with darkpy's deltas (no update)."""
    sources = [network.sources[head.index][0] for head in heads]
    for head in heads:
        head.set_truth(truth, w, h)
    try:
        ins = network.forward(x, outputs=sources, train=True)
        want = {head.index: head.backward(None, [ins[s]], None)[0] for head, s in zip(heads, sources)}
        network.backward(None, input_gradient=False)
    finally:
        for head in heads:
            head.set_truth(None, 0, 0)
    first = next(layer for layer in network.layers if layer.kind == "convolutional")
    dw_darkpy = first.grads["weights"].transpose(3, 2, 0, 1).copy()  # darknet's layout
    network.zero_grads()
    tt = torch.from_numpy(truth)
    same = []
    for head, s in zip(heads, sources):
        logits = torch.from_numpy(np.ascontiguousarray(ins[s].transpose(0, 3, 1, 2))).requires_grad_()
        torch_yolo_loss(logits, tt, head, w, h).backward()
        same.append(_relative(logits.grad.numpy().transpose(0, 2, 3, 1), want[head.index]))
    print(f"loss gradient, same head inputs: max |torch - darkpy| / max |darkpy| = "
          f"{max(same):.1e} (heads {', '.join(f'{v:.1e}' for v in same)})")
    twin.darknet_norm = True
    outs = twin(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))))
    twin.darknet_norm = False
    for out in outs.values():
        out.retain_grad()
    loss = sum(torch_yolo_loss(outs[head.index], tt, head, w, h) for head in heads)
    loss.backward()
    ends = [_relative(outs[head.index].grad.numpy().transpose(0, 2, 3, 1), want[head.index])
            for head in heads]
    conv0 = twin.convs[str(first.index)].weight.grad.numpy()
    print(f"end to end from the same weights (the twin with darknet's batch norm): head "
          f"gradients differ by {', '.join(f'{v:.1e}' for v in ends)}, layer {first.index}'s "
          f"weight gradient by {_relative(conv0, dw_darkpy):.1e} (relative to the largest; "
          "float rounding, and darknet's batch-norm backward is not the exact gradient)")
    twin.zero_grad(set_to_none=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cfg", type=Path, default=MODEL / "yolov3-tiny.cfg")
    parser.add_argument("--weights", type=Path, default=MODEL / "yolov3-tiny.weights")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--boxes", type=int, default=4, help="truth boxes per image")
    parser.add_argument("--runs", type=int, default=5, help="timed iterations per framework")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--exact", action="store_true",
                        help="darkpy in darknet's exact arithmetic (darkpy train --exact)")
    parser.add_argument("--profile", action="store_true", help="darkpy's per-layer times")
    parser.add_argument("--no-check", action="store_true", help="skip the gradient check")
    args = parser.parse_args(argv)
    # freed memory kept for reuse, as the darkpy command and its trainers run (process-wide:
    # the other runtimes in this process get it too; darkpy/kernels/heap.py)
    keep_freed_memory(large_blocks=True)
    if not args.cfg.exists() or not args.weights.exists():
        print(f"bench_yolo_train: {args.cfg} or {args.weights} not found: skipped")
        return 0

    from darkpy.kernels import workers

    workers.set_num_threads(args.threads)
    network, heads, optimizer = darkpy_network(args.cfg, args.weights, args.batch, args.exact)
    h, w = network.input_shape[:2]
    x, truth = random_batch(args.batch, h, w, args.boxes, heads[0].classes)
    print(f"{args.cfg.stem}: batch {args.batch} of {w}x{h}, {args.boxes} boxes each, "
          f"{network.num_params():,} parameters; darkpy in {'exact' if args.exact else 'fast'} "
          f"arithmetic, {args.threads} threads")
    try:
        import torch
    except ImportError:
        torch = None
        print("torch is not installed: timing darkpy only")
    twin = None
    if torch is not None:
        torch.set_num_threads(args.threads)
        twin = torch_twin(network)  # before darkpy updates anything
        torch_opt = torch_optimizer(torch, twin, args.batch)
        tx = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        tt = torch.from_numpy(truth)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
        if not args.no_check:
            check_gradients(torch, network, heads, twin, x, truth, w, h)

    step = [0]

    def darkpy_iteration():
        step[0] += 1
        cost, _ = train_minibatch(network, heads, x, truth, w, h)
        optimizer.step(network, step[0])
        return cost

    def torch_iteration():
        torch_opt.zero_grad(set_to_none=True)
        outs = twin(tx)
        loss = sum(torch_yolo_loss(outs[head.index], tt, head, w, h) for head in heads)
        loss.backward()
        torch_opt.step()
        return float(loss.detach())

    runners = {"darkpy": darkpy_iteration}
    if torch is not None:
        runners["torch"] = torch_iteration
    times = {name: [] for name in runners}
    peaks = {name: 0.0 for name in runners}
    grown = {name: 0.0 for name in runners}
    for run in runners.values():  # warm-up: numba compiles or loads its cache
        run()
    resettable = peers.reset_peak()
    gib = 2.0 ** 30
    names = list(runners)
    for r in range(args.runs):
        line = [f"run {r + 1}:"]
        for name in names if r % 2 == 0 else names[::-1]:
            peers.reset_peak()
            before = peers.current_bytes() / gib
            start = time.perf_counter()
            runners[name]()
            times[name].append(time.perf_counter() - start)
            peak = peers.peak_bytes() / gib
            peaks[name] = max(peaks[name], peak)
            grown[name] = max(grown[name], peak - before)
            line.append(f"{name} {times[name][-1]:7.3f} s")
        print("  ".join(line), flush=True)
    peak_note = "" if resettable else " (process-wide: /proc/self/clear_refs not writable)"
    for name in names:
        best, median = min(times[name]), statistics.median(times[name])
        print(f"{name:7s} best {best:7.3f} s  median {median:7.3f} s  "
              f"{args.batch / best:6.2f} images/s  peak RSS {peaks[name]:.2f} GiB{peak_note}, "
              f"{grown[name]:+.2f} GiB over the RSS before its iteration")
    if torch is not None:
        pairs = [a / b for a, b in zip(times["darkpy"], times["torch"])]
        print(f"ratio darkpy/torch: best {min(times['darkpy']) / min(times['torch']):.2f}, "
              f"median {statistics.median(times['darkpy']) / statistics.median(times['torch']):.2f}, "
              f"per pair {min(pairs):.2f}..{max(pairs):.2f} (< 1: darkpy faster)")
    if args.profile:
        rows = _profile(network, heads, x, truth, w, h)
        total = sum(sum(v) for v in rows.values())
        print(f"darkpy per layer (one minibatch, {total:.3f} s without the update):")
        for (index, kind), (fwd, bwd) in sorted(rows.items()):
            print(f"  {index:3d} {kind:14s} forward {fwd:7.3f} s  backward {bwd:7.3f} s  "
                  f"{100 * (fwd + bwd) / total:5.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
