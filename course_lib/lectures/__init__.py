"""Helpers of single lectures: the experiments a lecture notebook and its claim tests share.

One module per lecture that needs more than the core library, named after the lecture:

=================  ==========================================================================
module             lecture
=================  ==========================================================================
neuron             01: the neuron, activations, one hidden layer as a universal approximator
initialization     03: deep plain nets layer by layer, vanishing and exploding signals
optimizers         04: optimizer paths on 2-D surfaces, Adam's bias correction, L-BFGS
regularization     05: the overfitting MNIST-1D task, penalties, dropout, ensembles, distillation,
                   test-time augmentation of the photos with the pretrained EfficientNet-Lite0
double_descent     05: model-wise double descent of random ReLU features, minimum-norm fits
robustness         05: accuracy under input noise, the L1 penalty on activations
normalization      06: deep MLPs with and without batch norm, running statistics, batch of one
practice           07: preprocessing, monitoring, learning-rate sweeps, random search on digits
transfer_learning  08: the transfer-learning table on offline data
scale              11: number formats and loss scaling, exact resume, simulated and real DDP
=================  ==========================================================================

Lectures import the core (``course_lib.*``), never ``course_lib.labs`` (a test reads the
imports). A new lecture's helpers go into a new module here; a lecture with many helpers
splits them by concept (05: ``regularization``, ``double_descent``, ``robustness``).
"""
