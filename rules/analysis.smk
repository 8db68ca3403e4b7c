rule merge_samples:
    input:
        kpe=per_shard("kpe/shard_{shard}.parquet"),
        semantics=per_shard("semantics/shard_{shard}.parquet"),
        density=per_shard("density/shard_{shard}.parquet"),
    output:
        table=out("samples.parquet"),
    log:
        out("logs/merge_samples.log"),
    benchmark:
        out("benchmarks/merge_samples.tsv")
    conda:
        "../envs/enfopath.yaml"
    script:
        "../workflow_scripts/merge_samples.py"


rule statistics:
    input:
        unpack(statistics_inputs),
    output:
        correlations=report(
            out("statistics/correlations.csv"),
            caption="../report/correlations.rst",
            category="Statistics",
        ),
        groups=report(
            out("statistics/groups.csv"),
            caption="../report/groups.rst",
            category="Statistics",
        ),
        curves=report(
            out("statistics/quantile_curves.csv"),
            caption="../report/quantile_curves.rst",
            category="Statistics",
        ),
        summary=report(
            out("statistics/summary.csv"),
            caption="../report/summary.rst",
            category="Statistics",
        ),
        json=out("statistics/statistics.json"),
    log:
        out("logs/statistics.log"),
    benchmark:
        out("benchmarks/statistics.tsv")
    conda:
        "../envs/enfopath.yaml"
    threads: 2
    script:
        "../workflow_scripts/statistics.py"


rule figure:
    input:
        unpack(figure_inputs),
    output:
        figure=report(
            out("figures/{name}.png"),
            caption="../report/figure.rst",
            category="Figures",
        ),
    log:
        out("logs/figure/{name}.log"),
    benchmark:
        out("benchmarks/figure/{name}.tsv")
    conda:
        "../envs/enfopath.yaml"
    script:
        "../workflow_scripts/figure.py"
