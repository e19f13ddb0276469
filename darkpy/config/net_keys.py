"""Schema of the `[net]` / `[network]` section: input geometry and the training setup.

darknet keeps the hyper-parameters of training in [net]; darkpy does too. The keys are the
union of what pjreddie's and AlexeyAB's `parse_net_options` read (plus AlexeyAB's
`show_receptive_field`, read from [net] while the layers are built). Keys darkpy does not act
on (augmentation, GPU tuning, loss tricks) are accepted with `used=False` so real cfgs load
and round-trip. Where darknet derives a default from other keys, the default here is 0 and
the doc says what 0 stands for.
"""
from darkpy.config.schema import (
    ALEXEYAB,
    DARKPY,
    NEITHER,
    PJREDDIE,
    RUNTIME,
    TRAINING,
    Key,
)

# the names darknet's get_policy knows; anything else darknet silently treats as constant
POLICIES = ("constant", "step", "steps", "exp", "sigmoid", "poly", "random", "sgdr")

# the tables of `darkpy keys net` and docs/cfg-reference.md, in this order
INPUT, BATCH, OPTIMISER, SCHEDULE, AUGMENTATION, TRAINING_EXTRAS, RUNTIME_GROUP = (
    "input", "batch", "optimiser", "learning-rate schedule", "augmentation",
    "training extras", "darknet runtime")
NET_GROUPS = (INPUT, BATCH, OPTIMISER, SCHEDULE, AUGMENTATION, TRAINING_EXTRAS, RUNTIME_GROUP)


def _key(group, type_, default, doc, phase=TRAINING, used=True, **extra):
    return Key(type_, default, doc=doc, group=group, phase=phase, used=used, **extra)


def _input(type_, default, doc, **extra):
    return _key(INPUT, type_, default, doc, phase="inference", **extra)


def _batch(type_, default, doc, **extra):
    return _key(BATCH, type_, default, doc, **extra)


def _optimiser(type_, default, doc, **extra):
    return _key(OPTIMISER, type_, default, doc, **extra)


def _schedule(type_, default, doc, **extra):
    return _key(SCHEDULE, type_, default, doc, **extra)


def _augment(type_, default, doc, used=True, **extra):
    """An augmentation key; darkpy's training applies them all (train/darknet/augment.py, the
    classifier crops in train/darknet/placement.classifier_crop, AlexeyAB's mixing, blur and
    noise in train/darknet/mixing.py)."""
    return _key(AUGMENTATION, type_, default, doc, used=used, **extra)


def _extra(type_, default, doc, used=False, **extra):
    return _key(TRAINING_EXTRAS, type_, default, doc, used=used, **extra)


def _runtime(type_, default, doc, **extra):
    return _key(RUNTIME_GROUP, type_, default, doc, phase=RUNTIME, used=False, **extra)


AB, PJ = dict(fork=ALEXEYAB), dict(fork=PJREDDIE)

NET_KEYS: dict[str, Key] = {
    # geometry: defaults, not limits, for fully convolutional networks
    "width": _input("int", 0, "input width in pixels"),
    "height": _input("int", 0, "input height in pixels"),
    "channels": _input("int", 0, "input channels (3 for RGB)"),
    "inputs": _input("int", 0, "input size of a network on flat vectors (no image)",
                     default_text="width*height*channels"),
    # batches
    "batch": _batch("int", 1, "images per training iteration"),
    "subdivisions": _batch("int", 1, "the batch runs as this many forward/backward passes "
                                     "of batch/subdivisions images"),
    "time_steps": _batch("int", 1, "steps of a sequence per sample (recurrent layers)",
                         phase="inference"),
    "max_batches": _batch("int", 0, "iterations to train"),
    "seed": _batch("int", 0, "random seed for initialisation and data order", fork=DARKPY),
    # optimiser
    "learning_rate": _optimiser("float", 0.001, "base learning rate"),
    "momentum": _optimiser("float", 0.9, "SGD momentum"),
    "decay": _optimiser("float", 0.0001, "L2 weight decay"),
    "adam": _optimiser("int", 0, "1: Adam instead of SGD with momentum"),
    "B1": _optimiser("float", 0.9, "Adam's beta1"),
    "B2": _optimiser("float", 0.999, "Adam's beta2"),
    "eps": _optimiser("float", 1e-7, "Adam's epsilon (pjreddie's default; AlexeyAB's is 1e-6)"),
    # learning-rate schedule
    "policy": _schedule("str", "constant", "learning-rate policy", choices=POLICIES),
    "burn_in": _schedule("int", 0, "warm-up iterations: rate * (iteration/burn_in)^power"),
    "power": _schedule("float", 4.0, "exponent of the burn-in ramp and of policy=poly"),
    "step": _schedule("int", 1, "policy=step: iterations between drops"),
    "scale": _schedule("float", 1.0, "policy=step: factor at each drop"),
    "steps": _schedule("ints", [], "policy=steps: iterations where the rate changes"),
    "scales": _schedule("floats", [], "policy=steps: factor applied at each of those"),
    "gamma": _schedule("float", 1.0, "policy=exp: rate * gamma^iteration; policy=sigmoid: "
                                     "the slope"),
    "learning_rate_min": _schedule("float", 0.00001, "policy=sgdr: the lowest rate", **AB),
    "sgdr_cycle": _schedule("int", 0, "policy=sgdr: iterations of the first cycle",
                            default_text="max_batches", **AB),
    "sgdr_mult": _schedule("int", 2, "policy=sgdr: each cycle is this many times longer",
                           **AB),
    "seq_scales": _schedule("floats", [], "policy=steps with track: factor of the sequence "
                                          "length at each step", used=False, **AB),
    # augmentation (darknet's data loader)
    "max_crop": _augment("int", 0, "classifier: largest random crop side",
                         default_text="2*width"),
    "min_crop": _augment("int", 0, "classifier: smallest random crop side",
                         default_text="width"),
    "max_ratio": _augment("float", 0, "classifier: largest crop side / width",
                          default_text="max_crop/width", **PJ),
    "min_ratio": _augment("float", 0, "classifier: smallest crop side / width",
                          default_text="min_crop/width", **PJ),
    "center": _augment("int", 0, "classifier: 1 = centre crops only", **PJ),
    "angle": _augment("float", 0, "random rotation up to this many degrees (classifier)"),
    "aspect": _augment("float", 1, "random aspect-ratio change up to this factor "
                                   "(classifier)"),
    "saturation": _augment("float", 1, "random saturation factor up to this"),
    "exposure": _augment("float", 1, "random exposure (brightness) factor up to this"),
    "hue": _augment("float", 0, "random hue shift up to this (fraction of the circle)"),
    "flip": _augment("int", 1, "1: random horizontal flips", **AB),
    "blur": _augment("int", 0, "random blur: detector background (1) or whole image (its "
                             "size); classifier 1 in 4 images; OpenCV builds", **AB),
    "gaussian_noise": _augment("int", 0, "detector: half of the images get 8-bit noise of "
                                       "this sigma (brightening only); OpenCV builds", **AB),
    "mixup": _augment("int", 0, "1: half of the batches blend image pairs (boxes of both / "
                               "mean labels); cutmix and mosaic override it", **AB),
    "cutmix": _augment("int", 0, "classifier: 1: paste a rectangle of another image, labels "
                                "weighted by area; detectors ignore it", **AB),
    "mosaic": _augment("int", 0, "1: half of the batches are mosaics of four images "
                                "(classifier: labels weighted by area)", **AB),
    "mosaic_bound": _augment("int", 0, "1: mosaic keeps objects whole at the tile borders",
                             **AB),
    "letter_box": _augment("int", 0, "1: training images are letterboxed, not stretched",
                           **AB),
    "random": _augment("float", 0, "classifier: 1 = random input size every 40 batches", **PJ),
    # training extras
    "notruth": _extra("int", 0, "read, but used by no pjreddie code: no effect", **PJ),
    "clip": _extra("float", 0, "clamps every layer's weights to -clip..clip after each "
                               "update", **PJ),
    "loss_scale": _extra("float", 1.0, "loss scale of mixed-precision training", **AB),
    "track": _extra("int", 0, "1: train on consecutive video frames (with time_steps)", **AB),
    "augment_speed": _extra("int", 2, "track: random frame skip of up to this", **AB),
    "sequential_subdivisions": _extra("int", 0, "track: subdivisions of the sequential "
                                                "loader", default_text="subdivisions", **AB),
    "try_fix_nan": _extra("int", 0, "1: replace NaN and inf in the gradients", **AB),
    "weights_reject_freq": _extra("int", 0, "every this many iterations, re-initialise "
                                            "near-duplicate filters", **AB),
    "equidistant_point": _extra("int", 0, "iteration after which [yolo] drops the largest "
                                          "errors as suspect labels", **AB),
    "badlabels_rejection_percentage": _extra("float", 0, "[yolo]: percentage of the largest "
                                                         "errors dropped late in training",
                                             **AB),
    "num_sigmas_reject_badlabels": _extra("float", 0, "[yolo]: drop errors this many sigmas "
                                                      "above the mean late in training", **AB),
    "ema_alpha": _extra("float", 0, "exponential moving average of the weights with this "
                                    "factor", **AB),
    "dynamic_minibatch": _extra("int", 0, "1: the mini-batch grows when random resize "
                                          "picks a smaller input", **AB),
    "adversarial_lr": _extra("float", 0, "rate of adversarial-example training steps", **AB),
    "attention": _extra("int", 0, "with adversarial_lr: show the attention images", **AB),
    "contrastive": _extra("int", 0, "1: contrastive training of a classifier", **AB),
    "contrastive_jit_flip": _extra("int", 0, "contrastive: flip differs between the two "
                                             "views", **AB),
    "contrastive_color": _extra("int", 0, "contrastive: colour jitter differs between the "
                                          "two views", **AB),
    "unsupervised": _extra("int", 0, "1: contrastive training without labels", **AB),
    "label_smooth_eps": _extra("float", 0, "classifier: label smoothing", used=True, **AB),
    "resize_step": _extra("float", 32, "random input sizes are multiples of this", used=True,
                          **AB),
    # darknet runtime
    "max_chart_loss": _runtime("float", 20.0, "top of the loss axis of darknet's training "
                                              "chart", **AB),
    "optimized_memory": _runtime("int", 0, "GPU memory saving level (1-3)", **AB),
    "workspace_size_limit_MB": _runtime("float", 1024, "cuDNN workspace limit in MiB", **AB),
    "use_cuda_graph": _runtime("int", 0, "1: run the forward as a CUDA graph", **AB),
    "show_receptive_field": _runtime("float", 0, "1: print each layer's receptive field",
                                     **AB),
    # read by neither darknet (it warns "Unused field") but present in cfgs shipped with it
    "max_epochs": _extra("int", 0, "in Gaussian_yolov3_BDD.cfg; read by no darknet",
                         fork=NEITHER),
    "seen": _extra("int", 0, "in pjreddie's jnet-conv.cfg, vgg-conv.cfg, writing.cfg; read "
                             "by no darknet", fork=NEITHER),
}
