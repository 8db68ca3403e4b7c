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
        key=lambda wc: ASSET_KEYS[wc.asset],
        config=lambda wc: config_slice(ASSET_KEYS[wc.asset]),
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
        config=lambda wc: config_slice(*HUB_KEYS[wc.hub]),
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
        config=config_slice("seed", "data"),
    script:
        "../workflow_scripts/prepare_data.py"
