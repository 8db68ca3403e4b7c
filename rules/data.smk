rule prepare_data:
    output:
        dataset=out("data/dataset.npz"),
    log:
        out("logs/prepare_data.log"),
    benchmark:
        out("benchmarks/prepare_data.tsv")
    conda:
        "../envs/enfopath.yaml"
    script:
        "../workflow_scripts/prepare_data.py"
