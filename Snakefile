"""EnfoPath: kinetic path energy of flow-matching trajectories vs. semantics and density.

Run the default study:  snakemake --cores all
Another study:          snakemake --cores all --configfile configs/<name>.yaml
The HTML report:        snakemake --report results/<experiment>/report.html
"""

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "rules/common.smk"


localrules:
    all,
    fetch_asset,
    fetch_hub,


rule all:
    default_target: True
    input:
        all_outputs,


include: "rules/data.smk"
include: "rules/models.smk"
include: "rules/sampling.smk"
include: "rules/semantics.smk"
include: "rules/density.smk"
include: "rules/analysis.smk"
include: "rules/robustness.smk"
include: "rules/rejection.smk"
include: "rules/replicates.smk"
include: "rules/report.smk"


report: report_description()
