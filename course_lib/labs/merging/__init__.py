"""Research lab 10: merging two trained teachers into one student with relaxed L0 gates.

The lab's steps and where they live:

1. the gates: core ``course_lib.l0`` (hard-concrete distribution, ``HardConcreteGate``);
2. the joined model, twice as wide with a gate after every activation: ``joined`` (MLP,
   LeNet) and ``resnet`` (ResNet-20, ResNet-18, stage and block gates);
3. the algorithms, error-driven and greedy merging, pruning to the teacher's architecture,
   fine-tuning: ``algorithms``;
4. the baselines at the same epoch budget (one model, best of three, the better teacher
   fine-tuned, distillation) and the comparison table: ``baselines``;
5. verdicts computed from the numbers, beyond the spread over seeds: ``report``;
6. the toy task of five noisy sine waves and our 1-64-64-1 regressor: ``toy_task``;
7. the notebook's comparisons per profile, cached as JSON and shipped in ``runs/<profile>/``,
   and the command that computes them: ``experiments`` (with the talk's Imagewoof experiments,
   LeNet and ResNet-18, as full-profile configs that run where Imagewoof is in
   ``COURSE_DATA``: ``experiments.IMAGEWOOF``, ``experiments.show_imagewoof``).
"""
