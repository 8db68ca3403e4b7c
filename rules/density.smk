rule features_shard:
    input:
        unpack(
            lambda wc: with_models(
                space_models(SPACES), shard=out(f"trajectories/shard_{wc.shard}.npz")
            )
        ),
    output:
        features=out("features/shard_{shard}.npz"),
    log:
        out("logs/features_shard/{shard}.log"),
    benchmark:
        out("benchmarks/features_shard/{shard}.tsv")
    conda:
        "../envs/enfopath.yaml"
    resources:
        gpu=gpu_for(space_models(SPACES)),
    params:
        config=job_params("features_shard"),
    script:
        "../workflow_scripts/features_shard.py"


if SELF_DENSITY:

    rule self_density:
        input:
            features=per_shard("features/shard_{shard}.npz"),
        output:
            tables=per_shard("density/shard_{shard}.parquet"),
        log:
            out("logs/self_density.log"),
        benchmark:
            out("benchmarks/self_density.tsv")
        conda:
            "../envs/enfopath.yaml"
        params:
            config=job_params("self_density"),
        script:
            "../workflow_scripts/self_density.py"

else:

    rule reference_index:
        input:
            unpack(
                lambda wc: with_models(
                    space_models([wc.space]), dataset=rules.prepare_data.output.dataset
                )
            ),
        output:
            features=out("features/train_{space}.npz"),
            index=out("index/{space}.faiss"),
            radii=out("index/{space}_radii.npz"),
        log:
            out("logs/reference_index/{space}.log"),
        benchmark:
            out("benchmarks/reference_index/{space}.tsv")
        conda:
            "../envs/enfopath.yaml"
        resources:
            gpu=lambda wc: gpu_for(space_models([wc.space])),
        params:
            config=job_params("reference_index"),
        script:
            "../workflow_scripts/reference_index.py"

    rule density_shard:
        input:
            features=rules.features_shard.output.features,
            references=per_space("features/train_{space}.npz"),
            indexes=per_space("index/{space}.faiss"),
            radii=per_space("index/{space}_radii.npz"),
        output:
            table=out("density/shard_{shard}.parquet"),
        log:
            out("logs/density_shard/{shard}.log"),
        benchmark:
            out("benchmarks/density_shard/{shard}.tsv")
        conda:
            "../envs/enfopath.yaml"
        params:
            config=job_params("density_shard"),
        script:
            "../workflow_scripts/density_shard.py"
