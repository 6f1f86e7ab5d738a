"""Benchmarks: each ``bench_*.py`` module times course_lib against PyTorch in the same run."""
