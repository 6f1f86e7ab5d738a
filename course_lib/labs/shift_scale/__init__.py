"""Research lab 09: shift and scale layers against batch norm (the 2018 thesis defence).

The lab's steps and where they live:

1. the layers and where they go: core ``course_lib.normalization`` (``Shift``, ``Scale``,
   ``insert_variant`` in the thesis' order, shift then scale, or the other one; the ten tested
   combinations) and ``course_lib.models.thesis_net``; on a larger net, ResNet-20 with them in
   place of its batch norms: ``course_lib.models.resnet20_variant``;
2. the data, each task in training / validation / test parts: ``tasks`` (CIFAR-10/100 and the
   offline MNIST stand-ins at 14 x 14 and 28 x 28);
3. one training run per configuration, cached as JSON and resumable: ``runner`` (``RunConfig``,
   ``run``, ``run_grid``); the runs of one group (learning rates and seeds) trained together as
   one stacked model: ``batched``; the whole grid from the command line: ``__main__``
   (``python -m course_lib.labs.shift_scale --profile full --out DIR``);
4. the six experiments, the learning rate chosen on validation, the plots, the thesis'
   conclusions, the examiners' questions and online learning: ``analysis``; the open questions
   of the thesis answered by runs (weight decay on experiment 5, the learned shifts against the
   means of their inputs, ResNet-20): ``analysis`` too (``weight_decay_configs``,
   ``shift_means``, ``resnet_configs``), and sections whose full runs are not shipped yet show
   the quick ones (``shown_profile``);
5. the results in words and tables, reported on the test part: ``report``;
6. the results shipped with the package, so that the notebook re-plots without training:
   ``runs/quick/*.json`` (CPU) and ``runs/full/*.json`` (one GPU, offline stand-ins).
"""
