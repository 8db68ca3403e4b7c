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
    params:
        config=job_params("merge_samples"),
    script:
        "../workflow_scripts/merge_samples.py"


rule summary:
    input:
        unpack(summary_inputs),
    output:
        summary=report(
            out("statistics/summary.csv"),
            caption="../report/summary.rst",
            category="Tables as CSV",
            labels=verified_labels({"table": "summary"}),
        ),
        json=out("statistics/summary.json"),
    log:
        out("logs/summary.log"),
    benchmark:
        out("benchmarks/summary.tsv")
    priority: 3
    conda:
        "../envs/enfopath.yaml"
    params:
        config=job_params("summary"),
    script:
        "../workflow_scripts/summary.py"


rule statistics:
    input:
        table=out("samples.parquet"),
        summary=out("statistics/summary.json"),
    output:
        correlations=report(
            out("statistics/correlations.csv"),
            caption="../report/correlations.rst",
            category="Tables as CSV",
            labels=verified_labels({"table": "correlations"}),
        ),
        groups=report(
            out("statistics/groups.csv"),
            caption="../report/groups.rst",
            category="Tables as CSV",
            labels=verified_labels({"table": "low vs high KPE groups"}),
        ),
        composition=report(
            out("statistics/class_composition.csv"),
            caption="../report/class_composition.rst",
            category="Tables as CSV",
            labels=verified_labels({"table": "class composition of the KPE groups"}),
        ),
        curves=report(
            out("statistics/quantile_curves.csv"),
            caption="../report/quantile_curves.rst",
            category="Tables as CSV",
            labels=verified_labels({"table": "quantile curves"}),
        ),
        json=out("statistics/statistics.json"),
    log:
        out("logs/statistics.log"),
    benchmark:
        out("benchmarks/statistics.tsv")
    # the longest analysis jobs first: figures wait on them (one thread: numpy loops)
    priority: 3
    conda:
        "../envs/enfopath.yaml"
    threads: 1
    params:
        config=job_params("statistics"),
    script:
        "../workflow_scripts/statistics.py"


rule partial_correlations:
    input:
        table=out("samples.parquet"),
    output:
        table=report(
            out("statistics/partial_correlations.csv"),
            caption="../report/partial_correlations.rst",
            category="Tables as CSV",
            labels=verified_labels({"table": "partial correlations (confounds)"}),
        ),
    log:
        out("logs/partial_correlations.log"),
    benchmark:
        out("benchmarks/partial_correlations.tsv")
    priority: 3
    conda:
        "../envs/enfopath.yaml"
    params:
        config=job_params("partial_correlations"),
    script:
        "../workflow_scripts/partial_correlations.py"


rule early_prediction:
    input:
        table=out("samples.parquet"),
    output:
        table=report(
            out("statistics/early_prediction.csv"),
            caption="../report/early_prediction.rst",
            category="Tables as CSV",
            labels=verified_labels({"table": "early prediction from E(s)"}),
        ),
    log:
        out("logs/early_prediction.log"),
    benchmark:
        out("benchmarks/early_prediction.tsv")
    priority: 3
    conda:
        "../envs/enfopath.yaml"
    params:
        config=job_params("early_prediction"),
    script:
        "../workflow_scripts/early_prediction.py"


if T2I:

    rule prompt_effects:
        input:
            table=out("samples.parquet"),
        output:
            table=report(
                out("statistics/prompt_effects.csv"),
                caption="../report/prompt_effects.rst",
                category="Tables as CSV",
                labels=verified_labels({"table": "prompt effects"}),
            ),
        log:
            out("logs/prompt_effects.log"),
        benchmark:
            out("benchmarks/prompt_effects.tsv")
        priority: 3
        conda:
            "../envs/enfopath.yaml"
        params:
            config=job_params("prompt_effects"),
        script:
            "../workflow_scripts/prompt_effects.py"


rule memorization:
    input:
        table=out("samples.parquet"),
    output:
        table=report(
            out("statistics/memorization.csv"),
            caption="../report/memorization.rst",
            category="Tables as CSV",
            labels=verified_labels({"table": "memorization per KPE bin"}),
        ),
    log:
        out("logs/memorization.log"),
    benchmark:
        out("benchmarks/memorization.tsv")
    conda:
        "../envs/enfopath.yaml"
    params:
        config=job_params("memorization"),
    script:
        "../workflow_scripts/memorization.py"


rule prdc:
    input:
        table=out("samples.parquet"),
        features=per_shard("features/shard_{shard}.npz"),
        references=per_space("features/train_{space}.npz"),
        indexes=per_space("index/{space}.faiss"),
        radii=per_space("index/{space}_radii.npz"),
    output:
        table=report(
            out("statistics/prdc.csv"),
            caption="../report/prdc.rst",
            category="Tables as CSV",
            labels=verified_labels(
                {"table": "precision / recall / density / coverage per KPE group"}
            ),
        ),
    log:
        out("logs/prdc.log"),
    benchmark:
        out("benchmarks/prdc.tsv")
    conda:
        "../envs/enfopath.yaml"
    params:
        config=job_params("prdc"),
    script:
        "../workflow_scripts/prdc.py"


rule fidelity:
    input:
        table=out("samples.parquet"),
        features=per_shard("features/shard_{shard}.npz"),
        references=per_space("features/train_{space}.npz"),
    output:
        table=report(
            out("statistics/fidelity.csv"),
            caption="../report/fidelity.rst",
            category="Tables as CSV",
            labels=verified_labels(
                {"table": "Fréchet distance and KID per KPE group"}
            ),
        ),
    log:
        out("logs/fidelity.log"),
    benchmark:
        out("benchmarks/fidelity.tsv")
    conda:
        "../envs/enfopath.yaml"
    params:
        config=job_params("fidelity"),
    script:
        "../workflow_scripts/fidelity.py"


rule comparison:
    input:
        unpack(baseline_inputs),
        table=out("samples.parquet"),
        summary=out("statistics/summary.json"),
    output:
        table=report(
            out("statistics/comparison.csv"),
            caption="../report/comparison.rst",
            category="Tables as CSV",
            labels=verified_labels({"table": "comparison with the baseline study"}),
        ),
        per_sample=out("comparison/per_sample.parquet"),
    log:
        out("logs/comparison.log"),
    benchmark:
        out("benchmarks/comparison.tsv")
    conda:
        "../envs/enfopath.yaml"
    params:
        config=job_params("comparison"),
    script:
        "../workflow_scripts/comparison.py"


rule figure:
    input:
        unpack(figure_inputs),
    output:
        figure=report(
            out("figures/{name}.png"),
            caption="../report/figure.rst",
            category="Figure files",
            labels=verified_labels(lambda wc: {"figure": wc.name}),
        ),
        other_formats=[
            out(f"figures/{{name}}.{f}") for f in FIGURE_FORMATS if f != "png"
        ],
    log:
        out("logs/figure/{name}.log"),
    benchmark:
        out("benchmarks/figure/{name}.tsv")
    conda:
        "../envs/enfopath.yaml"
    params:
        config=job_params("figure"),
    script:
        "../workflow_scripts/figure.py"


rule inventory:
    input:
        study_targets,
    output:
        inventory=out("inventory.json"),
    log:
        out("logs/inventory.log"),
    benchmark:
        out("benchmarks/inventory.tsv")
    conda:
        "../envs/enfopath.yaml"
    script:
        "../workflow_scripts/inventory.py"
