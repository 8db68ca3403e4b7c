"""Rule calibrate_grid: the population profiles (speed, energy rate, acceleration) of the
study's first samples, from which every fixed-grid job builds the energy grid."""

from _common import ProgressLog, job_config, setup, study_flow

from enfopath.io import write_npz
from enfopath.models.networks import pick_device
from enfopath.study.calibration import calibrate
from enfopath.velocity import KineticShaping

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
gc, sc = cfg["grid_calibration"], cfg["sampling"]
device = pick_device()
flow, info = study_flow(sm, cfg, device)
log.info(
    "calibrating on samples 0…%d of %s on %s: RK4, %d steps of [0, %g]",
    gc["n_samples"] - 1,
    info["model"],
    device,
    gc["nodes"],
    sc["t_end"],
)
progress = ProgressLog(log, gc["n_samples"], "samples")
calibration = calibrate(
    flow,
    cfg["seed"],
    gc["n_samples"],
    gc["nodes"],
    (sc["batch_size"], sc["t_end"], KineticShaping.from_config(sc["kts"])),
    device,
    progress=progress.update,
)
for name, profile in calibration.profiles.items():
    peak = int(profile.argmax())
    log.info(
        "%s: mean %.4g, peak %.4g at t = %.3f",
        name,
        profile.mean(),
        profile[peak],
        calibration.t[peak],
    )
write_npz(sm.output.calibration, **calibration.to_arrays())
