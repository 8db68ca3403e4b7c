rule generate_shard:
    input:
        unpack(generation_inputs),
    output:
        shard=out("trajectories/shard_{shard}.npz"),
    log:
        out("logs/generate_shard/{shard}.log"),
    benchmark:
        out("benchmarks/generate_shard/{shard}.tsv")
    # one thread each, so that shards run side by side; ahead of the analysis jobs
    priority: 5
    conda:
        "../envs/enfopath.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        config=job_params("generate_shard"),
    script:
        "../workflow_scripts/generate_shard.py"


rule kpe_shard:
    input:
        shard=rules.generate_shard.output.shard,
    output:
        table=out("kpe/shard_{shard}.parquet"),
    log:
        out("logs/kpe_shard/{shard}.log"),
    benchmark:
        out("benchmarks/kpe_shard/{shard}.tsv")
    conda:
        "../envs/enfopath.yaml"
    script:
        "../workflow_scripts/kpe_shard.py"


if PLANE:

    rule plane:
        input:
            checkpoint=out("models/flow.pt"),
        output:
            paths=out("plane/paths.npz"),
            field=out("plane/field.npz"),
        log:
            out("logs/plane.log"),
        benchmark:
            out("benchmarks/plane.tsv")
        conda:
            "../envs/enfopath.yaml"
        resources:
            gpu=1,
        params:
            config=job_params("plane"),
        script:
            "../workflow_scripts/plane.py"


rule calibrate_grid:
    input:
        unpack(calibration_inputs),
    output:
        calibration=out("grids/calibration.npz"),
    log:
        out("logs/calibrate_grid.log"),
    benchmark:
        out("benchmarks/calibrate_grid.tsv")
    priority: 5
    conda:
        "../envs/enfopath.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        config=job_params("calibrate_grid"),
    script:
        "../workflow_scripts/calibrate_grid.py"
