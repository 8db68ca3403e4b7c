"""Rule robustness_scores: the semantic and density measures of every solver setting's own
endpoints (and the reference's), scored as the study scores its shards."""

import pandas as pd
from _common import feature_models, job_config, semantics_setup, setup

from enfopath.io import read_npz, write_parquet
from enfopath.measures.density import load_references
from enfopath.models.networks import pick_device
from enfopath.study.robustness import setting_endpoints
from enfopath.study.scoring import Scorer, score_endpoints

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
dc = cfg["density"]
endpoints = read_npz(sm.input.endpoints, ("setting", "sample", "label", "x1"))
scorer = Scorer(
    semantic=semantics_setup(sm, cfg),
    models=feature_models(sm, cfg, pick_device()),
    references=load_references(
        dc["spaces"], sm.input.references, sm.input.indexes, sm.input.radii, dc["k"]
    ),
)
parts = []
for j, setting in enumerate(endpoints["setting"]):
    scores = score_endpoints(scorer, setting_endpoints(endpoints, j))
    scores.insert(0, "setting", str(setting))
    parts.append(scores)
    log.info("%s: %d endpoints scored", setting, len(scores))
write_parquet(sm.output.scores, pd.concat(parts, ignore_index=True))
