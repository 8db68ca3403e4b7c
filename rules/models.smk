if PRETRAINED:

    rule import_flow:
        input:
            manifest=out("downloads/flow.json"),
        output:
            checkpoint=out("models/flow.pt"),
        log:
            out("logs/import_flow.log"),
        benchmark:
            out("benchmarks/import_flow.tsv")
        conda:
            "../envs/enfopath.yaml"
        params:
            config=job_params("import_flow"),
        script:
            "../workflow_scripts/import_flow.py"

    rule import_rung:
        input:
            manifest=out("downloads/flow_step_{step}.json"),
        output:
            checkpoint=out("models/flow_step_{step}.pt"),
        log:
            out("logs/import_rung/{step}.log"),
        benchmark:
            out("benchmarks/import_rung/{step}.tsv")
        conda:
            "../envs/enfopath.yaml"
        params:
            config=job_params("import_rung"),
        script:
            "../workflow_scripts/import_flow.py"

elif PLUGIN:

    rule plugin_flow:
        input:
            unpack(
                lambda wc: (
                    {"manifest": out("downloads/flow.json")}
                    if ASSETS.get("flow")
                    else {}
                )
            ),
            dataset=rules.prepare_data.output.dataset,
        output:
            checkpoint=out("models/flow.pt"),
        log:
            out("logs/plugin_flow.log"),
        benchmark:
            out("benchmarks/plugin_flow.tsv")
        conda:
            "../envs/enfopath.yaml"
        params:
            config=job_params("plugin_flow"),
        script:
            "../workflow_scripts/plugin_flow.py"

    rule import_rung:
        input:
            manifest=out("downloads/flow_step_{step}.json"),
            dataset=rules.prepare_data.output.dataset,
        output:
            checkpoint=out("models/flow_step_{step}.pt"),
        log:
            out("logs/import_rung/{step}.log"),
        benchmark:
            out("benchmarks/import_rung/{step}.tsv")
        conda:
            "../envs/enfopath.yaml"
        params:
            config=job_params("import_rung"),
        script:
            "../workflow_scripts/plugin_flow.py"

elif EMPIRICAL:

    rule empirical_flow:
        input:
            dataset=rules.prepare_data.output.dataset,
        output:
            checkpoint=out("models/flow.pt"),
        log:
            out("logs/empirical_flow.log"),
        benchmark:
            out("benchmarks/empirical_flow.tsv")
        conda:
            "../envs/enfopath.yaml"
        script:
            "../workflow_scripts/empirical_flow.py"

elif T2I:

    localrules:
        pipeline,

    rule pipeline:
        output:
            manifest=out("models/pipeline.json"),
        log:
            out("logs/pipeline.log"),
        benchmark:
            out("benchmarks/pipeline.tsv")
        retries: 0
        conda:
            "../envs/enfopath.yaml"
        params:
            config=job_params("pipeline"),
        script:
            "../workflow_scripts/pipeline.py"

    rule encode_prompts:
        input:
            pipeline=rules.pipeline.output.manifest,
            prompts=PROMPT_FILE,
        output:
            embeddings=out("prompts/embeddings.safetensors"),
        log:
            out("logs/encode_prompts.log"),
        benchmark:
            out("benchmarks/encode_prompts.tsv")
        conda:
            "../envs/enfopath.yaml"
        resources:
            gpu=1,
        params:
            config=job_params("encode_prompts"),
        script:
            "../workflow_scripts/encode_prompts.py"

else:

    rule train_flow:
        input:
            dataset=rules.prepare_data.output.dataset,
        output:
            checkpoint=out("models/flow.pt"),
            losses=report(
                out("models/flow_losses.csv"),
                caption="../report/flow_losses.rst",
                category="Models",
                labels=verified_labels({"model": "flow", "table": "training loss"}),
            ),
            metrics=report(
                out("models/flow_metrics.json"),
                caption="../report/flow_metrics.rst",
                category="Models",
                labels=verified_labels({"model": "flow", "table": "held-out loss"}),
            ),
            kpe=report(
                out("models/flow_kpe.csv"),
                caption="../report/flow_kpe.rst",
                category="Models",
                labels=verified_labels(
                    {"model": "flow", "table": "KPE during training"}
                ),
            ),
        log:
            out("logs/train_flow.log"),
        benchmark:
            out("benchmarks/train_flow.tsv")
        # first on the critical path, on one core: the classifier's jobs run beside it
        priority: 10
        conda:
            "../envs/enfopath.yaml"
        threads: 1
        resources:
            gpu=1,
        params:
            config=job_params("train_flow"),
            train_seed=config["seed"],
        script:
            "../workflow_scripts/train_flow.py"


rule train_classifier:
    input:
        dataset=rules.prepare_data.output.dataset,
    output:
        checkpoint=out("models/classifier.pt"),
        metrics=report(
            out("models/classifier_metrics.json"),
            caption="../report/classifier_metrics.rst",
            category="Models",
            labels=verified_labels({"model": "classifier", "table": "test metrics"}),
        ),
    log:
        out("logs/train_classifier.log"),
    benchmark:
        out("benchmarks/train_classifier.tsv")
    conda:
        "../envs/enfopath.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        config=job_params("train_classifier"),
    script:
        "../workflow_scripts/train_classifier.py"
