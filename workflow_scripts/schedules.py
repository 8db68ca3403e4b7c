"""Rule schedules: the study's first samples re-integrated by each fixed-grid solver at each NFE
budget on each grid (uniform, cosine, the energy grid per profile) and under the robustness
stage's tight reference: the endpoint and KPE errors and the samples' pixel-space fidelity."""

from _common import ProgressLog, flow_options, job_config, setup, study_sampling

from enfopath.io import read_npz, write_csv, write_parquet
from enfopath.measures.density import load_index
from enfopath.measures.images import shard_images
from enfopath.measures.schedules import PixelReference, compare_schedules
from enfopath.models.flows import load_flow
from enfopath.models.networks import pick_device
from enfopath.study.robustness import SolverSetting, integrate_settings, setting_endpoints
from enfopath.study.schedules import schedule_settings

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
sc, st = cfg["schedules"], cfg["statistics"]
device = pick_device()
flow, info = load_flow(sm.input.checkpoint, device, **flow_options(sm, cfg, decoded=True))
settings = schedule_settings(sc["solvers"], sc["nfe"], sc["grids"])
reference = SolverSetting.from_config(cfg["robustness"]["reference"])
log.info(
    "samples 0…%d of %s on %s: reference %s; %d settings",
    sc["n_samples"] - 1,
    info["model"],
    device,
    reference.label,
    len(settings),
)
progress = ProgressLog(log, sc["n_samples"], "samples")
runs, endpoints = integrate_settings(
    flow,
    cfg["seed"],
    sc["n_samples"],
    settings,
    reference,
    study_sampling(sm, cfg),
    device,
    progress=progress.update,
)
grids = {reference.label: "adaptive"} | {s.label: s.grid_name for s in settings}
pixels = {
    str(label): shard_images(setting_endpoints(endpoints, j)).reshape(len(endpoints["sample"]), -1)
    for j, label in enumerate(endpoints["setting"])
}
reference = None
if hasattr(sm.input, "reference"):  # the training set in pixel space: the samples' fidelity
    k = min(cfg["density"]["k"])
    radii = read_npz(sm.input.radii, ("k", "radii"), expect={"space": "pixels"})
    reference = PixelReference(
        read_npz(sm.input.reference, ("features",), expect={"space": "pixels"})["features"],
        load_index(sm.input.index, expect={"space": "pixels"}),
        radii["radii"][list(radii["k"]).index(k)],
        k,
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
