"""Replication across training seeds (replicates.flow_seeds): one more flow per seed, the
study's noise through each, scored as the study's samples are, and the spread of every ρ; and
the checkpoint ladder along training (replicates.flow_steps): the EMA weights of each training
run at each rung, run and scored the same way, and every relation per rung.
"""


rule replicate_flow:
    input:
        dataset=rules.prepare_data.output.dataset,
    output:
        checkpoint=out("replicates/seed_{replicate}/flow.pt"),
        losses=out("replicates/seed_{replicate}/flow_losses.csv"),
        kpe=out("replicates/seed_{replicate}/flow_kpe.csv"),
        rungs=expand(
            out("replicates/seed_{{replicate}}/flow_step_{step}.pt"), step=FLOW_STEPS
        ),
        metrics=out("replicates/seed_{replicate}/flow_metrics.json"),
    log:
        out("logs/replicate_flow/{replicate}.log"),
    benchmark:
        out("benchmarks/replicate_flow/{replicate}.tsv")
    priority: 10
    conda:
        "../envs/enfopath.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        config=job_params("replicate_flow"),
        train_seed=lambda wc: int(wc.replicate),
    script:
        "../workflow_scripts/train_flow.py"


rule replicate_samples:
    input:
        unpack(
            lambda wc: with_models(
                semantic_models() | space_models(SPACES),
                checkpoint=out(f"replicates/seed_{wc.replicate}/flow.pt"),
                dataset=rules.prepare_data.output.dataset,
            )
        ),
        references=per_space("features/train_{space}.npz"),
        indexes=per_space("index/{space}.faiss"),
        radii=per_space("index/{space}_radii.npz"),
    output:
        table=out("replicates/seed_{replicate}/samples.parquet"),
    log:
        out("logs/replicate_samples/{replicate}.log"),
    benchmark:
        out("benchmarks/replicate_samples/{replicate}.tsv")
    priority: 5
    conda:
        "../envs/enfopath.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        config=job_params("replicate_samples"),
    script:
        "../workflow_scripts/replicate_samples.py"


rule replicates:
    input:
        table=out("samples.parquet"),
        replicates=expand(
            out("replicates/seed_{replicate}/samples.parquet"), replicate=FLOW_SEEDS
        ),
    output:
        table=report(
            out("statistics/replicates.csv"),
            caption="../report/replicates.rst",
            category="Tables as CSV",
            labels=verified_labels({"table": "correlations per training seed"}),
        ),
        spread=report(
            out("statistics/replicates_spread.csv"),
            caption="../report/replicates_spread.rst",
            category="Tables as CSV",
            labels=verified_labels(
                {"table": "spread of each ρ across training seeds"}
            ),
        ),
    log:
        out("logs/replicates.log"),
    benchmark:
        out("benchmarks/replicates.tsv")
    priority: 3
    conda:
        "../envs/enfopath.yaml"
    params:
        config=job_params("replicates"),
    script:
        "../workflow_scripts/replicates.py"


rule rung_samples:
    input:
        unpack(
            lambda wc: with_models(
                semantic_models() | space_models(SPACES),
                checkpoint=rung_checkpoint(wc),
                dataset=rules.prepare_data.output.dataset,
            )
        ),
        references=per_space("features/train_{space}.npz"),
        indexes=per_space("index/{space}.faiss"),
        radii=per_space("index/{space}_radii.npz"),
    output:
        table=out("replicates/seed_{replicate}/step_{step}/samples.parquet"),
    log:
        out("logs/rung_samples/{replicate}_{step}.log"),
    benchmark:
        out("benchmarks/rung_samples/{replicate}_{step}.tsv")
    priority: 5
    conda:
        "../envs/enfopath.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        config=job_params("rung_samples"),
    script:
        "../workflow_scripts/replicate_samples.py"


rule ladder:
    input:
        table=out("samples.parquet"),
        replicates=expand(
            out("replicates/seed_{replicate}/samples.parquet"), replicate=FLOW_SEEDS
        ),
        rungs=expand(
            out("replicates/seed_{replicate}/step_{step}/samples.parquet"),
            replicate=LADDER_SEEDS,
            step=RUNG_STEPS,
        ),
        # the training monitor's record of each run trained here (its held-out loss per rung)
        training=(
            []
            if RUNGS_ELSEWHERE
            else expand(
                out("replicates/seed_{replicate}/flow_kpe.csv"), replicate=LADDER_SEEDS
            )
        ),
    output:
        table=report(
            out("statistics/ladder.csv"),
            caption="../report/ladder.rst",
            category="Tables as CSV",
            labels=verified_labels({"table": "correlations per training step"}),
        ),
        rungs=report(
            out("statistics/ladder_rungs.csv"),
            caption="../report/ladder_rungs.rst",
            category="Tables as CSV",
            labels=verified_labels({"table": "quality and KPE per training step"}),
        ),
    log:
        out("logs/ladder.log"),
    benchmark:
        out("benchmarks/ladder.tsv")
    priority: 3
    conda:
        "../envs/enfopath.yaml"
    params:
        config=job_params("ladder"),
        rungs=RUNG_STEPS,
        top=TOP_STEP,
    script:
        "../workflow_scripts/ladder.py"
