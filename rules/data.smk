rule fetch_asset:
    output:
        manifest=out("downloads/{asset}.json"),
    log:
        out("logs/fetch_asset/{asset}.log"),
    benchmark:
        out("benchmarks/fetch_asset/{asset}.tsv")
    retries: 0  # the download retries network failures itself; nothing else is fixed by a retry
    conda:
        "../envs/enfopath.yaml"
    params:
        key=lambda wc: asset_key(config, wc.asset),
        config=job_params("fetch_asset"),
    script:
        "../workflow_scripts/fetch_asset.py"


rule fetch_hub:
    output:
        manifest=out("downloads/{hub}.json"),
    log:
        out("logs/fetch_hub/{hub}.log"),
    benchmark:
        out("benchmarks/fetch_hub/{hub}.tsv")
    retries: 0
    conda:
        "../envs/enfopath.yaml"
    params:
        config=job_params("fetch_hub"),
    script:
        "../workflow_scripts/fetch_hub.py"


rule prepare_data:
    input:
        unpack(data_inputs),
    output:
        dataset=out("data/dataset.npz"),
    log:
        out("logs/prepare_data.log"),
    benchmark:
        out("benchmarks/prepare_data.tsv")
    conda:
        "../envs/enfopath.yaml"
    params:
        config=job_params("prepare_data"),
    script:
        "../workflow_scripts/prepare_data.py"
