"""Fine-tuning memory (issue 22): the workload, the per-GPU accounting, searches and fixes, and
training launch commands. Pure: no I/O beyond the reader a caller passes to launch.py.

Entry points for the assess() pipeline:
- workload.make_workload(...) -> TrainingWorkload (validated; TrainingInputError = exit 64)
- accounting.training_memory(spec, workload) -> TrainingMemory (per-GPU peak + terms + sources)
- search.max_micro_batch / max_seq_len / fixes(spec, workload, budget_bytes)
- launch.parse_training_command(argv, read) -> TrainingLaunch | None
"""
