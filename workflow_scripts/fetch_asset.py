"""Rule fetch_asset: download (or find locally) one configured file, checked, and record it.

A download goes to the cache shared by the machine's experiments (``$ENFOPATH_CACHE``, default
``resources/``), keyed by its checksum, so a second experiment naming the same file finds it
there; this experiment's manifest records the file, its source and its sha256.

Transient network failures are retried inside :func:`enfopath.study.download.fetch`; the rule
itself has ``retries: 0``, so a profile's job retries never repeat a download (a checksum
mismatch or an HTTP 4xx is not fixed by trying again).
"""

from _common import job_config, setup

from enfopath.io import file_digest, write_json
from enfopath.study.download import Asset, cache_path, cache_root, fetch
from enfopath.study.jobs import asset_section

sm = snakemake  # noqa: F821
log = setup(sm, network=True)
key = sm.params.key
section = job_config(sm)
for part in key.split("."):
    section = section[part]
section = asset_section(section, sm.wildcards.asset)  # a ladder's rung: its own entry
asset = Asset(name=f"{key} ({sm.wildcards.asset})", **section)
path = fetch(asset, cache_path(asset, cache_root()) if asset.url else asset.path)
record = {
    "config_key": key,
    "source": asset.url or asset.path,
    "path": str(path.resolve()),
    "sha256": file_digest(path, "sha256"),
    "verified": asset.checksum is not None,
}
log.info("%s: %s", key, record)
write_json(sm.output.manifest, record)
