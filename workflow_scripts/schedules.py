"""Rule schedules: the study's first samples re-integrated by each fixed-grid solver at each NFE
budget on each grid (uniform, cosine, the energy grid per profile) and under the robustness
stage's tight reference: the endpoint and KPE errors and the samples' fidelity in every density
space."""

from _common import feature_models, job_config, rerun_settings, setup

from enfopath.io import write_csv, write_parquet
from enfopath.measures.density import load_references
from enfopath.measures.features import sample_features
from enfopath.measures.prdc import RealSet
from enfopath.measures.schedules import compare_schedules
from enfopath.models.networks import pick_device
from enfopath.study.robustness import SolverSetting, setting_endpoints
from enfopath.study.schedules import schedule_settings

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
sc, st = cfg["schedules"], cfg["statistics"]
settings = schedule_settings(sc["solvers"], sc["nfe"], sc["grids"])
reference = SolverSetting.from_config(cfg["robustness"]["reference"])
runs, endpoints = rerun_settings(sm, cfg, log, sc["n_samples"], settings, reference)
grids = {reference.label: "adaptive"} | {s.label: s.grid_name for s in settings}
references, features = {}, {}
if hasattr(sm.input, "references"):  # the training set in every density space: fidelity
    dc = cfg["density"]
    k = min(dc["k"])
    loaded = load_references(
        dc["spaces"], sm.input.references, sm.input.indexes, sm.input.radii, dc["k"]
    )
    references = {space: RealSet.of(ref, k) for space, ref in loaded.items()}
    models = feature_models(sm, cfg, pick_device())
    for j, label in enumerate(endpoints["setting"]):
        ends = setting_endpoints(endpoints, j)
        features[str(label)] = {s: sample_features(s, ends, models) for s in references}
else:
    log.info("no training set: the table has no fidelity columns")
table = compare_schedules(
    runs,
    grids,
    features,
    references,
    n_boot=st["bootstrap"],
    seed=cfg["seed"],
    confidence=st["confidence"],
)
for row in table.itertuples():
    log.info(
        "%s: NFE %.0f, endpoint RMS error %.3g (%.2f of uniform), KPE error %.3g%s",
        row.setting,
        row.nfe,
        row.x1_rms_error,
        row.x1_error_vs_uniform,
        row.kpe_rel_error,
        "".join(f", FD ({s}) {getattr(row, f'fd_{s}'):.4g}" for s in references),
    )
write_parquet(sm.output.runs, runs.assign(grid=runs.setting.map(grids)))
write_csv(sm.output.table, table)
