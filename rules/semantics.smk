rule semantics_shard:
    input:
        unpack(
            lambda wc: with_models(
                semantic_models(),
                shard=out(f"trajectories/shard_{wc.shard}.npz"),
                dataset=rules.prepare_data.output.dataset,
            )
        ),
    output:
        table=out("semantics/shard_{shard}.parquet"),
    log:
        out("logs/semantics_shard/{shard}.log"),
    benchmark:
        out("benchmarks/semantics_shard/{shard}.tsv")
    conda:
        "../envs/enfopath.yaml"
    resources:
        gpu=gpu_for(semantic_models()),
    params:
        config=job_params("semantics_shard"),
    script:
        "../workflow_scripts/semantics_shard.py"
