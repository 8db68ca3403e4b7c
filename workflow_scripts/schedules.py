"""Rule schedules: the study's first samples re-integrated by each fixed-grid solver at each NFE
budget on each grid (uniform, cosine, the energy grid per profile) and under the robustness
stage's tight reference: the endpoint and KPE errors and the samples' pixel-space fidelity."""

from _common import job_config, rerun_settings, setup

from enfopath.io import write_csv, write_parquet
from enfopath.measures.density import load_reference
from enfopath.measures.images import shard_images
from enfopath.measures.schedules import PixelReference, compare_schedules
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
pixels = {
    str(label): shard_images(setting_endpoints(endpoints, j)).reshape(len(endpoints["sample"]), -1)
    for j, label in enumerate(endpoints["setting"])
}
reference = None
if hasattr(sm.input, "reference"):  # the training set in pixel space: the samples' fidelity
    pixels_ref = load_reference(
        "pixels", sm.input.reference, sm.input.index, sm.input.radii, cfg["density"]["k"]
    )
    k = min(pixels_ref.ks)
    reference = PixelReference(
        pixels_ref.features, pixels_ref.index, pixels_ref.radii[pixels_ref.ks.index(k)], k
    )
else:
    log.info("no training set in pixel space: fd, precision and recall are left NaN")
table = compare_schedules(
    runs,
    grids,
    pixels,
    reference,
    n_boot=st["bootstrap"],
    seed=cfg["seed"],
    confidence=st["confidence"],
)
for row in table.itertuples():
    log.info(
        "%s: NFE %.0f, endpoint RMS error %.3g (%.2f of uniform), KPE error %.3g, FD %.4g",
        row.setting,
        row.nfe,
        row.x1_rms_error,
        row.x1_error_vs_uniform,
        row.kpe_rel_error,
        row.fd,
    )
write_parquet(sm.output.runs, runs.assign(grid=runs.setting.map(grids)))
write_csv(sm.output.table, table)
