"""Where an image lands on the network's canvas in training, and where its boxes go with it.

- pjreddie (`place_pjreddie`, load_data_detection): the aspect ratio is jittered
  (new_ar = (w + U(-jitter w, jitter w)) / (h + U(-jitter h, jitter h))), the image scaled to
  fill the canvas along its longer side and placed at a random offset on a canvas of 0.5 by
  bilinear sampling (`place_image`), its colours distorted (augment.distort_darknet) and
  mirrored with probability 1/2;
- AlexeyAB (`crop_alexeyab`, load_data_detection + image_data_augmentation with OpenCV): each
  side is cropped (or padded, with the image's mean colour) by U(-jitter, jitter) of the
  image's size (plus the `resize` range), `letter_box` pads the shorter side to the network's
  aspect first, then the crop is resized (cv2 INTER_LINEAR on 8-bit pixels), mirrored when
  `flip` and distorted in OpenCV's HSV (augment.distort_opencv);
- AlexeyAB's `mosaic` (`mosaic_quadrant`, `blend_truth_mosaic`): in half of the batches
  each image is four crops cut at a random point (20%..80% of each side), each quadrant
  taking the part of its crop nearest the cut, boxes shifted and clipped with it;
- pjreddie's classifier crops (`classifier_crop`): rotation by U(-angle, angle) degrees,
  aspect rand_scale(aspect), scale so the shorter side is a random size in
  [min_crop, max_crop], a random shift (or, with `center`, the centred square); then a flip
  with probability 1/2 and the colours (darkpy.train.darknet.classifier_batch feeds them).

The box rows follow darknet's fill_truth_detection (`fill_truth`, `correct_boxes`).
"""
from __future__ import annotations

import numpy as np

from darkpy.train.darknet.augment import (
    Augmentation,
    distort_darknet,
    distort_opencv,
    draw_distortion,
    rand_int,
    rand_scale,
    rand_uniform,
)

F32 = np.float32
CANVAS_FILL = F32(0.5)
TWO_PI = F32(6.2831853071795864769252866)
CLASS_ONLY_BOX = F32(999999)  # pjreddie's correct_boxes for a label centred at (0, 0)


def correct_boxes(boxes: np.ndarray, dx, dy, sx, sy, flip: bool) -> np.ndarray:
    """darknet's read_boxes + correct_boxes on (n, 5) rows class, x, y, w, h; returns (n, 5)
    rows x, y, w, h, class in float32 arithmetic. dx, dy are the (negated, relative) offsets
    and sx, sy the scales darknet passes: -dx/W, -dy/H, nw/W, nh/H."""
    x, y, w, h = (boxes[:, k].astype(F32) for k in (1, 2, 3, 4))
    left, right = x - w / F32(2), x + w / F32(2)
    top, bottom = y - h / F32(2), y + h / F32(2)
    dx, dy, sx, sy = F32(dx), F32(dy), F32(sx), F32(sy)
    left, right = left * sx - dx, right * sx - dx
    top, bottom = top * sy - dy, bottom * sy - dy
    if flip:
        # C: `1. - right` in double, stored as float
        left, right = (1.0 - right.astype(np.float64)).astype(F32), \
                      (1.0 - left.astype(np.float64)).astype(F32)
    left, right = np.clip(left, F32(0), F32(1)), np.clip(right, F32(0), F32(1))
    top, bottom = np.clip(top, F32(0), F32(1)), np.clip(bottom, F32(0), F32(1))
    out = np.empty((len(boxes), 5), F32)
    out[:, 0] = (left + right) / F32(2)
    out[:, 1] = (top + bottom) / F32(2)
    out[:, 2] = np.clip(right - left, F32(0), F32(1))
    out[:, 3] = np.clip(bottom - top, F32(0), F32(1))
    out[:, 4] = boxes[:, 0]
    # a label centred at (0, 0): darknet's classification-only box (a [region] tree= head
    # reads it; only such a network's loader keeps these lines, train/darknet/data.py)
    out[(boxes[:, 1] == 0) & (boxes[:, 2] == 0), :4] = CLASS_ONLY_BOX
    return out


def fill_truth(boxes: np.ndarray, max_boxes: int, rng, dx=0.0, dy=0.0, sx=1.0, sy=1.0,
               flip: bool = False, min_w: float = 0.001, min_h: float = 0.001) -> np.ndarray:
    """(max_boxes, 5) float32 truth rows x, y, w, h, class (module docstring)."""
    truth = np.zeros((max_boxes, 5), F32)
    if len(boxes) == 0:
        return truth
    rows = correct_boxes(boxes[rng.permutation(len(boxes))], dx, dy, sx, sy, flip)
    rows = rows[:max_boxes]  # darknet cuts the list before dropping the small boxes
    keep = rows[(rows[:, 2] >= F32(min_w)) & (rows[:, 3] >= F32(min_h))]
    truth[: len(keep)] = keep
    return truth


def place_image(image: np.ndarray, nw: int, nh: int, dx: int, dy: int, canvas: np.ndarray) -> None:
    """darknet's place_image: `image` (h, w, c) resampled bilinearly to nw x nh (canvas pixel
    x samples image x * w / nw) and written into `canvas` at (dx, dy); samples outside the
    image read 0, writes outside the canvas are dropped."""
    h, w = image.shape[:2]
    ch, cw = canvas.shape[:2]
    y0, x0 = max(dy, 0), max(dx, 0)
    y1, x1 = min(dy + nh, ch), min(dx + nw, cw)
    if y1 <= y0 or x1 <= x0:
        return
    xs = (np.arange(x0 - dx, x1 - dx, dtype=F32) / F32(nw)) * F32(w)
    ys = (np.arange(y0 - dy, y1 - dy, dtype=F32) / F32(nh)) * F32(h)
    grid_x, grid_y = np.meshgrid(xs, ys)
    canvas[y0:y1, x0:x1] = bilinear_sample(image, grid_x, grid_y)


def bilinear_sample(image: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """darknet's bilinear_interpolate at float32 points (xs, ys) of equal 2-d shape; pixels
    outside the image read 0 (get_pixel_extend). Returns xs.shape + (channels,)."""
    from darkpy.kernels.augment import bilinear

    image = np.ascontiguousarray(image, dtype=F32)
    xs = np.ascontiguousarray(xs, dtype=F32)
    ys = np.ascontiguousarray(np.broadcast_to(np.asarray(ys, F32), xs.shape))
    out = np.empty(xs.shape + (image.shape[2],), F32)
    bilinear(image, xs, ys, out)
    return out


class Placed:
    """An image on the canvas: pixels (H, W, 3) float32, the box mapping darknet hands to
    correct_boxes (left' = left * sx - dx, ...), whether it was mirrored, and AlexeyAB's side
    offsets (pleft, pright, ptop, pbot) in source pixels (mosaic needs them)."""

    def __init__(self, pixels, dx, dy, sx, sy, flip, sides=(0, 0, 0, 0), source_size=(1, 1)):
        self.pixels = pixels
        self.dx, self.dy, self.sx, self.sy = F32(dx), F32(dy), F32(sx), F32(sy)
        self.flip = bool(flip)
        self.sides = sides
        self.source_size = source_size

    def truth(self, boxes, max_boxes, rng, min_w, min_h) -> np.ndarray:
        return fill_truth(boxes, max_boxes, rng, self.dx, self.dy, self.sx, self.sy, self.flip,
                          min_w, min_h)


def place_pjreddie(image: np.ndarray, W: int, H: int, aug: Augmentation, rng) -> Placed:
    """pjreddie's load_data_detection for one image (module docstring). An image of the
    canvas's size with jitter 0 is taken as it is (darknet resamples it at the same points);
    its colours still take darknet's HSV round trip (Augmentation.hsv_round_trip)."""
    h, w = image.shape[:2]
    if not aug.jitter and (w, h) == (W, H):
        pixels = image.astype(F32, copy=True)
        nw, nh, dx, dy = F32(W), F32(H), F32(0), F32(0)
    else:
        if aug.jitter:
            dw, dh = F32(aug.jitter) * F32(w), F32(aug.jitter) * F32(h)
            ratio = (F32(w) + rand_uniform(rng, -dw, dw)) / (F32(h) + rand_uniform(rng, -dh, dh))
        else:
            ratio = F32(w) / F32(h)
        if ratio < 1:
            nh = F32(H)
            nw = nh * ratio
        else:
            nw = F32(W)
            nh = nw / ratio
        dx = rand_uniform(rng, 0.0, F32(W) - nw)
        dy = rand_uniform(rng, 0.0, F32(H) - nh)
        pixels = np.full((H, W, image.shape[2]), CANVAS_FILL, F32)
        place_image(image, int(nw), int(nh), int(dx), int(dy), pixels)
    dhue, dsat, dexp = draw_distortion(rng, aug) if aug.colour else (F32(0), F32(1), F32(1))
    if pixels.shape[2] == 3:
        # random_distort_image runs on every image, also with nothing to change: its
        # RGB -> HSV -> RGB round trip moves colour pixels by a rounding (hsv_round_trip)
        pixels = distort_darknet(pixels, dhue, dsat, dexp)
    flip = aug.flip and bool(rng.integers(0, 2))
    if flip:
        pixels = np.ascontiguousarray(pixels[:, ::-1])
    return Placed(pixels, -dx / F32(W), -dy / F32(H), nw / F32(W), nh / F32(H), flip)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """The 8-bit pixels darknet's OpenCV loader holds (darkpy keeps them divided by 255)."""
    scaled = np.asarray(image, F32) * F32(255)
    return np.clip(np.rint(scaled, out=scaled), 0, 255, out=scaled).astype(np.uint8)


def _c_int(value) -> int:
    """C's float -> int conversion (truncation toward zero)."""
    return int(np.trunc(value))


def crop_alexeyab(image: np.ndarray, W: int, H: int, aug: Augmentation, rng,
                  quadrant: int | None = None) -> Placed:
    """AlexeyAB's load_data_detection + image_data_augmentation for one image (module
    docstring); `quadrant` 0..3 is the mosaic tile it is for (half of them are pushed to the
    corner so that most of the image stays visible). With nothing to crop, resize, mirror or
    distort the image comes back as it is (with `aug.opencv` off, after darknet's C HSV round
    trip: Augmentation.hsv_round_trip; the crop, resize and distortion themselves are
    OpenCV's as in his usual build)."""
    oh, ow = image.shape[:2]
    dw, dh = _c_int(F32(ow) * F32(aug.jitter)), _c_int(F32(oh) * F32(aug.jitter))
    pleft = pright = ptop = pbot = 0
    if aug.jitter:
        r = [F32(rng.random()) for _ in range(4)]
        pleft, pright = (_c_int(rand_precalc(-dw, dw, r[0])), _c_int(rand_precalc(-dw, dw, r[1])))
        ptop, pbot = (_c_int(rand_precalc(-dh, dh, r[2])), _c_int(rand_precalc(-dh, dh, r[3])))
    if aug.resize != 1:
        down = aug.resize if aug.resize <= 1 else 1 / aug.resize
        up = aug.resize if aug.resize >= 1 else 1 / aug.resize
        min_rdw, min_rdh = _c_int(ow * (1 - 1 / down) / 2), _c_int(oh * (1 - 1 / down) / 2)
        max_rdw, max_rdh = _c_int(ow * (1 - 1 / up) / 2), _c_int(oh * (1 - 1 / up) / 2)
        if aug.resize < 1:
            max_rdw = max_rdh = 0  # downsize only
        r1, r2 = F32(rng.random()), F32(rng.random())
        pleft += _c_int(rand_precalc(min_rdw, max_rdw, r1))
        pright += _c_int(rand_precalc(min_rdw, max_rdw, r2))
        ptop += _c_int(rand_precalc(min_rdh, max_rdh, r1))
        pbot += _c_int(rand_precalc(min_rdh, max_rdh, r2))
    flip = aug.flip and bool(rng.integers(0, 2))
    dhue, dsat, dexp = draw_distortion(rng, aug) if aug.colour else (F32(0), F32(1), F32(1))
    if aug.letter_box:
        img_ar, net_ar = F32(ow) / F32(oh), F32(W) / F32(H)
        if img_ar / net_ar > 1:  # the height grows to the network's aspect
            delta = (F32(ow) / net_ar - F32(oh)) / F32(2)
            ptop, pbot = _c_int(ptop - delta), _c_int(pbot - delta)
        else:
            delta = (F32(oh) * net_ar - F32(ow)) / F32(2)
            pleft, pright = _c_int(pleft - delta), _c_int(pright - delta)
    if quadrant is not None and rng.integers(0, 2) == 0:
        # the corner of the tile that touches the mosaic's cut keeps the image's edge
        right_side, bottom = quadrant in (1, 3), quadrant in (2, 3)
        if right_side != flip:
            pleft, pright = pleft + pright, 0
        else:
            pright, pleft = pright + pleft, 0
        if bottom:
            ptop, pbot = ptop + pbot, 0
        else:
            pbot, ptop = pbot + ptop, 0
    swidth, sheight = ow - pleft - pright, oh - ptop - pbot
    if swidth <= 0 or sheight <= 0 or ow - pleft <= 0 or oh - ptop <= 0:
        swidth, sheight, pleft, ptop = ow, oh, 0, 0  # darknet: "invalid resize", no crop
    sx, sy = F32(swidth) / F32(ow), F32(sheight) / F32(oh)
    dx, dy = (F32(pleft) / F32(ow)) / sx, (F32(ptop) / F32(oh)) / sy
    pixels = _crop_resize(image, W, H, pleft, ptop, swidth, sheight, flip, dhue, dsat, dexp,
                          aug.hsv_round_trip)
    return Placed(pixels, dx, dy, F32(1) / sx, F32(1) / sy, flip,
                  (pleft, pright, ptop, pbot), (ow, oh))


def rand_precalc(low, high, part) -> F32:
    """AlexeyAB's rand_precalc_random: low + part * (high - low) for a precomputed part."""
    low, high = F32(low), F32(high)
    if high < low:
        low, high = high, low
    return F32(F32(part) * (high - low) + low)


def _crop_resize(image, W, H, pleft, ptop, swidth, sheight, flip, dhue, dsat, dexp,
                 round_trip=False):
    import cv2

    oh, ow = image.shape[:2]
    whole = (pleft, ptop, swidth, sheight) == (0, 0, ow, oh)
    colour = dhue != 0 or dsat != 1 or dexp != 1
    if whole and (ow, oh) == (W, H) and not colour:
        pixels = image.astype(F32, copy=True)
        if flip:
            pixels = np.ascontiguousarray(pixels[:, ::-1])
        if round_trip and pixels.shape[2] == 3:  # his build without OpenCV: distort_image
            pixels = distort_darknet(pixels, dhue, dsat, dexp)
        return pixels
    src = to_uint8(image)
    if not whole:
        mean = np.clip(np.rint(cv2.mean(src)[:src.shape[2]]), 0, 255).astype(np.uint8)
        cropped = np.empty((sheight, swidth, src.shape[2]), np.uint8)
        cropped[:] = mean
        x0, y0 = max(pleft, 0), max(ptop, 0)
        x1, y1 = min(pleft + swidth, ow), min(ptop + sheight, oh)
        if x1 > x0 and y1 > y0:
            cropped[y0 - ptop:y1 - ptop, x0 - pleft:x1 - pleft] = src[y0:y1, x0:x1]
        src = cropped
    sized = cv2.resize(src, (W, H), interpolation=cv2.INTER_LINEAR)
    if flip:
        sized = np.ascontiguousarray(sized[:, ::-1])
    if colour:
        sized = distort_opencv(sized, dhue, dsat, dexp)
    return sized.astype(F32) / F32(255.0)


# --- mosaic ---------------------------------------------------------------------------------
MOSAIC_MIN_OFFSET = 0.2


def draw_cut(rng, W: int, H: int) -> tuple[int, int]:
    """Where the four tiles of a mosaic meet: rand_int(0.2 W, 0.8 W), rand_int(0.2 H, 0.8 H)."""
    return (rand_int(rng, W * MOSAIC_MIN_OFFSET, W * (1 - MOSAIC_MIN_OFFSET)),
            rand_int(rng, H * MOSAIC_MIN_OFFSET, H * (1 - MOSAIC_MIN_OFFSET)))


def mosaic_shifts(placed: Placed, W: int, H: int, cut_x: int, cut_y: int):
    """(left, right, top, bottom) shifts: how far inside its crop a tile reads, so that the
    padding a crop got (negative offsets) is skipped where the tile has room."""
    pleft, pright, ptop, pbot = placed.sides
    ow, oh = placed.source_size
    if placed.flip:
        pleft, pright = pright, pleft

    def shift(offset, size, source, room):
        return min(room, max(0, _c_div(-offset * size, source)))
    return (shift(pleft, W, ow, cut_x), shift(pright, W, ow, W - cut_x),
            shift(ptop, H, oh, cut_y), shift(pbot, H, oh, H - cut_y))


def _c_div(a: int, b: int) -> int:
    """C's integer division (toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def paste_quadrant(canvas: np.ndarray, tile: np.ndarray, quadrant: int, cut_x: int, cut_y: int,
                   shifts) -> None:
    """Copy the part of `tile` (H, W, C) that quadrant 0 (top left), 1 (top right), 2 (bottom
    left) or 3 (bottom right) of the mosaic shows into `canvas`."""
    H, W = canvas.shape[:2]
    left, right, top, bottom = shifts
    rows = (slice(0, cut_y), slice(H - cut_y - bottom, H - bottom)) if quadrant < 2 else \
        (slice(cut_y, H), slice(top, top + H - cut_y))
    cols = (slice(0, cut_x), slice(W - cut_x - right, W - right)) if quadrant in (0, 2) else \
        (slice(cut_x, W), slice(left, left + W - cut_x))
    canvas[rows[0], cols[0]] = tile[rows[1], cols[1]]


def box_count(truth: np.ndarray) -> int:
    """The boxes of truth rows (max_boxes, 5): darknet's list ends at the first x = 0."""
    zero = np.flatnonzero(truth[:, 0] == 0)
    return int(zero[0]) if len(zero) else len(truth)


def blend_truth_mosaic(truth: np.ndarray, tile_truth: np.ndarray, quadrant: int, W: int, H: int,
                       cut_x: int, cut_y: int, shifts, bound: bool) -> None:
    """AlexeyAB's blend_truth_mosaic: append the boxes of a tile (rows x, y, w, h, class of
    its crop, in 0..1) to `truth`, moved to where the tile sits in the mosaic, clipped to the
    image (or, with mosaic_bound, to the tile) and kept only when still inside and wider and
    taller than one network pixel."""
    left_shift, right_shift, top_shift, bot_shift = shifts
    lowest_w, lowest_h = F32(1) / F32(W), F32(1) / F32(H)
    fw, fh = F32(W), F32(H)
    count = box_count(truth)
    for row in tile_truth[: len(truth) - count]:  # darknet reads no more rows than are free
        if row[0] == 0:
            break
        xb, yb, wb, hb = (F32(v) for v in row[:4])
        if quadrant in (0, 2):
            xb = xb - F32(W - cut_x - right_shift) / fw
        else:
            xb = xb + F32(cut_x - left_shift) / fw
        if quadrant < 2:
            yb = yb - F32(H - cut_y - bot_shift) / fh
        else:
            yb = yb + F32(cut_y - top_shift) / fh
        half = F32(2)
        left, right = _c_int((xb - wb / half) * fw), _c_int((xb + wb / half) * fw)
        top, bot = _c_int((yb - hb / half) * fh), _c_int((yb + hb / half) * fh)
        if bound:
            lo_x, hi_x = (0, cut_x) if quadrant in (0, 2) else (cut_x, W)
            lo_y, hi_y = (0, cut_y) if quadrant < 2 else (cut_y, H)
            left, right = max(left, lo_x), min(right, hi_x)
            top, bot = max(top, lo_y), min(bot, hi_y)
            xb = F32(F32(right + left) / half) / fw
            wb = F32(right - left) / fw
            yb = F32(F32(bot + top) / half) / fh
            hb = F32(bot - top) / fh
        else:
            if left < 0:
                diff = F32(left) / fw
                xb, wb = xb - diff / half, wb + diff
            if right > W:
                diff = F32(right - W) / fw
                xb, wb = xb - diff / half, wb - diff
            if top < 0:
                diff = F32(top) / fh
                yb, hb = yb - diff / half, hb + diff
            if bot > H:
                diff = F32(bot - H) / fh
                yb, hb = yb - diff / half, hb - diff
            left, right = _c_int((xb - wb / half) * fw), _c_int((xb + wb / half) * fw)
            top, bot = _c_int((yb - hb / half) * fh), _c_int((yb + hb / half) * fh)
        if (left >= 0 and right <= W and top >= 0 and bot <= H and 0 < wb < 1 and 0 < hb < 1
                and 0 < xb < 1 and 0 < yb < 1 and wb > lowest_w and hb > lowest_h):
            truth[count] = (xb, yb, wb, hb, row[4])
            count += 1


# --- classifier crops -----------------------------------------------------------------------
def classifier_crop(image: np.ndarray, size: int, aug: Augmentation, rng,
                    sides: tuple[int, int] | None = None) -> np.ndarray:
    """pjreddie's load_image_augment_paths for one image: a size x size crop (module
    docstring; `center` takes the centred square resized by darknet's resize_image; `sides`
    overrides aug's (min_crop, max_crop)), a flip with probability 1/2 (none with flip=0),
    then random_distort_image, run even when it changes nothing: darknet's round trip through
    HSV moves some pixels by an ulp, enough to flip a leaky kink or a max-pool winner and
    change an update by 2% (measured on tools/darknet_train_oracle.py's classifier)."""
    if aug.center:
        from darkpy.kernels.resize import darknet_resize

        h, w = image.shape[:2]
        m = min(w, h)
        x0, y0 = (w - m) // 2, (h - m) // 2
        crop = darknet_resize(image[y0:y0 + m, x0:x0 + m], size, size)
    else:
        crop = rotate_crop(image, size, aug, rng, sides)
    if aug.flip and rng.integers(0, 2):
        crop = np.ascontiguousarray(crop[:, ::-1])
    dhue, dsat, dexp = draw_distortion(rng, aug)
    return distort_darknet(crop, dhue, dsat, dexp)


def rotate_crop(image: np.ndarray, size: int, aug: Augmentation, rng,
                sides: tuple[int, int] | None = None) -> np.ndarray:
    """pjreddie's random_augment_image: random_augment_args then rotate_crop_image; the crop's
    shorter side is drawn from `sides` (default aug's min_crop..max_crop)."""
    h, w = image.shape[:2]
    aspect = rand_scale(rng, aug.aspect)
    low, high = sides if sides is not None else (int(aug.min_crop), int(aug.max_crop))
    r = int(rng.integers(min(low, high), max(low, high) + 1))
    shorter = h if h < F32(w) * aspect else _c_int(F32(w) * aspect)
    scale = F32(F32(r) / F32(shorter))
    # C: rand_uniform(...) * TWO_PI (a float constant) in float, then / 360. in double
    rad = F32(float(rand_uniform(rng, -aug.angle, aug.angle) * TWO_PI) / 360.0)
    dx = F32(float(F32(w) * scale / aspect - F32(size)) / 2.0)
    dy = F32(float(F32(h) * scale - F32(size)) / 2.0)
    dx, dy = rand_uniform(rng, -dx, dx), rand_uniform(rng, -dy, dy)
    return rotate_crop_image(image, rad, scale, size, size, dx, dy, aspect)


def rotate_crop_image(image: np.ndarray, rad, scale, w: int, h: int, dx, dy,
                      aspect) -> np.ndarray:
    """darknet's rotate_crop_image: a w x h crop of `image` rotated by `rad` about its centre,
    scaled by `scale` (and `aspect` horizontally), shifted by (dx, dy) output pixels; the
    sampling points are computed in double as darknet's expression is, then bilinear."""
    ih, iw = image.shape[:2]
    s, a = float(F32(scale)), float(F32(aspect))
    dx, dy = float(F32(dx)), float(F32(dy))
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    u = (xs - w / 2.0) / s * a + dx / s * a
    v = (ys - h / 2.0) / s + dy / s
    c, sn = np.cos(float(F32(rad))), np.sin(float(F32(rad)))
    rx = (c * u - sn * v + iw / 2.0).astype(F32)
    ry = (sn * u + c * v + ih / 2.0).astype(F32)
    return bilinear_sample(image, rx, ry)
