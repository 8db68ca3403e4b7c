"""The early-rejection stage: the study's first samples stopped at each check time by their
partial energy E(s), the rest integrated on, the compute counted, and what is kept judged.
"""


rule early_rejection_runs:
    input:
        unpack(
            lambda wc: sampling_inputs(decoded=False, checkpoint=out("models/flow.pt"))
        ),
    output:
        partial=out("early_rejection/partial.parquet"),
        compute=out("early_rejection/compute.parquet"),
    log:
        out("logs/early_rejection_runs.log"),
    benchmark:
        out("benchmarks/early_rejection_runs.tsv")
    priority: 5
    conda:
        "../envs/enfopath.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        config=job_params("early_rejection_runs"),
    script:
        "../workflow_scripts/early_rejection_runs.py"


rule early_rejection:
    input:
        partial=rules.early_rejection_runs.output.partial,
        compute=rules.early_rejection_runs.output.compute,
        table=out("samples.parquet"),
        features=per_shard("features/shard_{shard}.npz"),
        references=per_space("features/train_{space}.npz"),
        indexes=per_space("index/{space}.faiss"),
        radii=per_space("index/{space}_radii.npz"),
    output:
        table=report(
            out("statistics/early_rejection.csv"),
            caption="../report/early_rejection.rst",
            category="Tables as CSV",
            labels=verified_labels(
                {"table": "early rejection: compute saved and quality kept"}
            ),
        ),
    log:
        out("logs/early_rejection.log"),
    benchmark:
        out("benchmarks/early_rejection.tsv")
    conda:
        "../envs/enfopath.yaml"
    params:
        config=job_params("early_rejection"),
    script:
        "../workflow_scripts/early_rejection.py"
