"""Research lab 09: shift and scale layers against batch norm (the 2018 thesis defence).

The lab's steps and where they live:

1. the layers and where they go: core ``course_lib.normalization`` (``Shift``, ``Scale``,
   ``insert_variant``, the ten tested combinations) and ``course_lib.models.thesis_net``;
2. one training run per configuration, cached as JSON and resumable: ``runner``
   (``RunConfig``, ``run``, ``run_grid``, the data stand-ins ``task_data``);
3. the six experiments, the best learning rate per variant, the plots, the verdict against
   the thesis' conclusions, the examiners' questions and online learning: ``analysis``;
4. the results shipped with the package, so that the notebook re-plots without training:
   ``runs/<profile>/*.json``.
"""
