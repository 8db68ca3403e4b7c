rule page_one:
    input:
        unpack(page_one_inputs),
    output:
        page=out("report/page_one.rst"),
    log:
        out("logs/page_one.log"),
    benchmark:
        out("benchmarks/page_one.tsv")
    conda:
        "../envs/enfopath.yaml"
    params:
        figures=list(STUDY_FIGURES),
    script:
        "../workflow_scripts/page_one.py"


TABLES = study_tables()


rule report_tables:
    input:
        tables=list(TABLES.values()),
    output:
        pages=[
            report(
                out(f"report/tables/{name}.html"),
                caption=f"../report/{name}.rst",
                category="Study tables",
                labels=verified_labels({"table": name}),
            )
            for name in TABLES
        ],
    log:
        out("logs/report_tables.log"),
    benchmark:
        out("benchmarks/report_tables.tsv")
    conda:
        "../envs/enfopath.yaml"
    script:
        "../workflow_scripts/report_tables.py"


rule explorer:
    input:
        unpack(explorer_inputs),
    output:
        page=report(
            out("report/explorer.html"),
            caption="../report/explorer.rst",
            category="Explorer",
            labels=verified_labels({"page": "per-sample explorer"}),
        ),
    log:
        out("logs/explorer.log"),
    benchmark:
        out("benchmarks/explorer.tsv")
    conda:
        "../envs/enfopath.yaml"
    params:
        config=job_params("explorer"),
    script:
        "../workflow_scripts/explorer.py"


rule figure_pages:
    input:
        unpack(figure_page_inputs),
    output:
        pages=[
            report(
                out(f"report/figures/{name}.html"),
                caption="../report/figure_page.rst",
                category="Figures",
                labels=verified_labels({"figure": name}),
            )
            for name in STUDY_FIGURES
        ],
    log:
        out("logs/figure_pages.log"),
    benchmark:
        out("benchmarks/figure_pages.tsv")
    conda:
        "../envs/enfopath.yaml"
    params:
        figures=list(STUDY_FIGURES),
        captions=figure_captions,
    script:
        "../workflow_scripts/figure_pages.py"
