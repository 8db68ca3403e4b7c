rule semantics_shard:
    input:
        shard=rules.generate_shard.output.shard,
        classifier=rules.train_classifier.output.checkpoint,
    output:
        table=out("semantics/shard_{shard}.parquet"),
    log:
        out("logs/semantics_shard/{shard}.log"),
    benchmark:
        out("benchmarks/semantics_shard/{shard}.tsv")
    conda:
        "../envs/enfopath.yaml"
    script:
        "../workflow_scripts/semantics_shard.py"
