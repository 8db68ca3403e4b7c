"""Rule plane: a 2-D study's trajectories and velocity field, for its figures."""

from _common import flow_options, job_config, setup

from enfopath.io import write_npz
from enfopath.models.flows import load_flow
from enfopath.models.networks import pick_device
from enfopath.study.plane import field_times, plane_field, plane_paths
from enfopath.velocity import KineticShaping

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
sc = cfg["sampling"]
device = pick_device()
flow, info = load_flow(sm.input.checkpoint, device, **flow_options(sm, cfg))
shaping = KineticShaping.from_config(sc["kts"])
n = min(cfg["figures"]["plane_paths"], sc["n_samples"])
paths = plane_paths(flow, cfg["seed"], n, sc["t_end"], device, shaping)
times = field_times(sc["t_end"])
field = plane_field(flow, times, device, shaping)
log.info("%d paths of %s at %d times; field at t = %s", n, info["model"], len(paths["t"]), times)
write_npz(sm.output.paths, **paths)
write_npz(sm.output.field, **field)
