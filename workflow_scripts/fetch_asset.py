"""Rule fetch_asset: download (or find locally) one configured file, checked, and record it.

A failure that trying again cannot fix (a checksum mismatch, an HTTP 4xx) is recorded in
``downloads/<name>.failed.json``; a retry of the same job (``attempt`` > 1, e.g. from a cluster
profile's ``retries``) then fails at once instead of downloading again. A new run starts afresh.
"""

from pathlib import Path
from urllib.parse import urlparse

from _common import setup

from enfopath.download import Asset, ChecksumError, DownloadError, fetch, file_digest
from enfopath.io import write_json

sm = snakemake  # noqa: F821
log = setup(sm, network=True)
name = sm.wildcards.asset
key = {"data": "data.source", "flow": "flow.pretrained.checkpoint"}[name]
cfg = sm.params.config
section = cfg["data"]["source"] if name == "data" else cfg["flow"]["pretrained"]["checkpoint"]
asset = Asset(name=f"{key} ({name})", **section)
folder = Path(sm.output.manifest).with_suffix("")
failed = folder.with_name(f"{name}.failed.json")
if sm.attempt > 1 and failed.exists():
    raise DownloadError(
        f"not retried: {failed.read_text().strip()} (trying again cannot fix this; see "
        f"{failed} and the config key {key})",
        permanent=True,
    )
failed.unlink(missing_ok=True)
dest = folder / (Path(urlparse(asset.url).path).name if asset.url else Path(asset.path).name)
try:
    path = fetch(asset, dest)
except (ChecksumError, DownloadError) as err:
    if err.permanent:
        failed.write_text(str(err) + "\n")
    raise
record = {
    "config_key": key,
    "source": asset.url or asset.path,
    "path": str(path.resolve()),
    "sha256": file_digest(path, "sha256"),
    "verified": asset.checksum is not None,
}
log.info("%s: %s", key, record)
write_json(sm.output.manifest, record)
