"""Convolution kernels. Layers call `dispatch`, which holds the one rule that picks an
algorithm and runs it; the rest are the kernels it calls:

    dispatch.py       Geometry, choose() (winograd / direct / gemm), forward(), backward()
                      (and `darknet`, asked for by darknet-exact training)
    inference.py      float32 forward drivers on darkpy's workers: im2col + GEMM, Winograd
                      (also training's float32 forward, and its dL/dx of stride-1 layers)
    training.py       float32 backward drivers: weight gradients (Winograd or im2col + GEMM),
                      col2im input gradients, the activation gradient with the bias sums
    reference.py      any dtype, the plain formulas: float64 gradient checks, and training
                      of tiny groups through the direct kernels
    winograd.py       F(4x4, 3x3) transforms, including the one filter transform
    winograd_grad.py  their adjoints for the weight gradient
    darknet.py        darknet's own summation order (im2col + gemm_nn) and leaky, for
                      training that must reproduce darknet's weights bit for bit
    im2col.py, col2im.py, direct.py
                      the per-block expansion, its adjoint, and direct loops for tiny groups
"""
