"""Schema of the `[net]` / `[network]` section: input geometry and the training setup.

darknet keeps the hyper-parameters of training in [net]; darkpy does too. The keys are the
union of what pjreddie's and AlexeyAB's `parse_net_options` read (plus AlexeyAB's
`show_receptive_field`, read from [net] while the layers are built). Keys darkpy does not act
on (augmentation, GPU tuning, loss tricks) are accepted with `used=False` so real cfgs load
and round-trip. Where darknet derives a default from other keys, the default here is 0 and
the doc says what 0 stands for.
"""
from darkpy.config.schema import Key

_U = dict(used=False)

# the names darknet's get_policy knows; anything else darknet silently treats as constant
POLICIES = ("constant", "step", "steps", "exp", "sigmoid", "poly", "random", "sgdr")

NET_KEYS: dict[str, Key] = {
    # geometry: defaults, not limits, for fully convolutional networks
    "width": Key("int", 0), "height": Key("int", 0), "channels": Key("int", 0),
    "inputs": Key("int", 0, doc="0 = width*height*channels"),
    # training (darknet's names)
    "batch": Key("int", 1), "subdivisions": Key("int", 1), "time_steps": Key("int", 1),
    "max_batches": Key("int", 0),
    "learning_rate": Key("float", 0.001), "momentum": Key("float", 0.9),
    "decay": Key("float", 0.0001), "adam": Key("int", 0), "B1": Key("float", 0.9),
    "B2": Key("float", 0.999),
    "eps": Key("float", 1e-7, doc="pjreddie's default; AlexeyAB's fork uses 1e-6"),
    "burn_in": Key("int", 0), "power": Key("float", 4.0),
    "policy": Key("str", "constant", choices=POLICIES),
    "step": Key("int", 1), "scale": Key("float", 1.0), "steps": Key("ints", []),
    "scales": Key("floats", []), "gamma": Key("float", 1.0),
    "seed": Key("int", 0, doc="darkpy: random seed for initialisation and data order"),
    # pjreddie's training extras
    "notruth": Key("int", 0, **_U), "random": Key("float", 0, **_U),
    "center": Key("int", 0, **_U), "clip": Key("float", 0, **_U),
    # learning-rate variants and training control of AlexeyAB's fork
    "learning_rate_min": Key("float", 0.00001, doc="policy=sgdr"),
    "sgdr_cycle": Key("int", 0, doc="policy=sgdr; 0 = max_batches"),
    "sgdr_mult": Key("int", 2, doc="policy=sgdr"),
    "seq_scales": Key("floats", [], **_U), "loss_scale": Key("float", 1.0, **_U),
    "track": Key("int", 0, **_U), "augment_speed": Key("int", 2, **_U),
    "sequential_subdivisions": Key("int", 0, doc="0 = subdivisions", **_U),
    "try_fix_nan": Key("int", 0, **_U),
    "weights_reject_freq": Key("int", 0, **_U), "equidistant_point": Key("int", 0, **_U),
    "badlabels_rejection_percentage": Key("float", 0, **_U),
    "num_sigmas_reject_badlabels": Key("float", 0, **_U), "ema_alpha": Key("float", 0, **_U),
    "max_chart_loss": Key("float", 20.0, **_U), "dynamic_minibatch": Key("int", 0, **_U),
    "optimized_memory": Key("int", 0, **_U), "workspace_size_limit_MB": Key("float", 1024, **_U),
    "adversarial_lr": Key("float", 0, **_U), "attention": Key("int", 0, **_U),
    "use_cuda_graph": Key("int", 0, **_U),
    "contrastive": Key("int", 0, **_U), "contrastive_jit_flip": Key("int", 0, **_U),
    "contrastive_color": Key("int", 0, **_U), "unsupervised": Key("int", 0, **_U),
    "label_smooth_eps": Key("float", 0, **_U), "resize_step": Key("float", 32, **_U),
    "show_receptive_field": Key("float", 0, **_U),
    # augmentation (darknet's data loader)
    "max_crop": Key("int", 0, doc="0 = 2*width", **_U),
    "min_crop": Key("int", 0, doc="0 = width", **_U),
    "max_ratio": Key("float", 0, doc="0 = max_crop/width", **_U),
    "min_ratio": Key("float", 0, doc="0 = min_crop/width", **_U),
    "angle": Key("float", 0, **_U),
    "aspect": Key("float", 1, **_U), "saturation": Key("float", 1, **_U),
    "exposure": Key("float", 1, **_U), "hue": Key("float", 0, **_U), "flip": Key("int", 1, **_U),
    "blur": Key("int", 0, **_U), "gaussian_noise": Key("int", 0, **_U), "mixup": Key("int", 0, **_U),
    "cutmix": Key("int", 0, **_U), "mosaic": Key("int", 0, **_U), "letter_box": Key("int", 0, **_U),
    "mosaic_bound": Key("int", 0, **_U),
    # read by neither darknet (it warns "Unused field") but present in cfgs shipped with it
    "max_epochs": Key("int", 0, doc="not read by darknet (Gaussian_yolov3_BDD.cfg)", **_U),
    "seen": Key("int", 0, doc="not read by darknet (pjreddie's jnet-conv.cfg, vgg-conv.cfg, "
                              "writing.cfg)", **_U),
}
