"""The robustness stage: the study's first samples re-integrated under every solver setting,
each setting's own endpoints scored as the study's are, and the comparison with the reference.
"""


rule robustness_runs:
    input:
        unpack(lambda wc: sampling_inputs(checkpoint=out("models/flow.pt"))),
    output:
        runs=out("robustness/runs.parquet"),
        endpoints=out("robustness/endpoints.npz"),
    log:
        out("logs/robustness_runs.log"),
    benchmark:
        out("benchmarks/robustness_runs.tsv")
    # the longest job after training: it starts beside the shards
    priority: 5
    conda:
        "../envs/enfopath.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        config=job_params("robustness_runs"),
    script:
        "../workflow_scripts/robustness_runs.py"


rule robustness_scores:
    input:
        unpack(
            lambda wc: with_models(
                semantic_models() | space_models(SPACES),
                endpoints=rules.robustness_runs.output.endpoints,
                dataset=rules.prepare_data.output.dataset,
            )
        ),
        references=per_space("features/train_{space}.npz"),
        indexes=per_space("index/{space}.faiss"),
        radii=per_space("index/{space}_radii.npz"),
    output:
        scores=out("robustness/scores.parquet"),
    log:
        out("logs/robustness_scores.log"),
    benchmark:
        out("benchmarks/robustness_scores.tsv")
    conda:
        "../envs/enfopath.yaml"
    resources:
        gpu=gpu_for(semantic_models() | space_models(SPACES)),
    params:
        config=job_params("robustness_scores"),
    script:
        "../workflow_scripts/robustness_scores.py"


rule robustness:
    input:
        runs=rules.robustness_runs.output.runs,
        scores=rules.robustness_scores.output.scores,
        correlations=out("statistics/correlations.csv"),
    output:
        table=report(
            out("statistics/robustness.csv"),
            caption="../report/robustness.rst",
            category="Tables as CSV",
            labels=verified_labels({"table": "robustness to the solver"}),
        ),
        correlations=report(
            out("statistics/robustness_correlations.csv"),
            caption="../report/robustness_correlations.rst",
            category="Tables as CSV",
            labels=verified_labels(
                {"table": "headline correlations per solver setting"}
            ),
        ),
    log:
        out("logs/robustness.log"),
    benchmark:
        out("benchmarks/robustness.tsv")
    conda:
        "../envs/enfopath.yaml"
    params:
        config=job_params("robustness"),
    script:
        "../workflow_scripts/robustness.py"


rule schedules:
    input:
        unpack(schedules_inputs),
    output:
        runs=out("schedules/runs.parquet"),
        table=report(
            out("statistics/schedules.csv"),
            caption="../report/schedules.rst",
            category="Tables as CSV",
            labels=verified_labels({"table": "time grids compared at each NFE"}),
        ),
    log:
        out("logs/schedules.log"),
    benchmark:
        out("benchmarks/schedules.tsv")
    conda:
        "../envs/enfopath.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        config=job_params("schedules"),
    script:
        "../workflow_scripts/schedules.py"
