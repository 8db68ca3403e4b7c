"""Rule fetch_asset: download (or find locally) one configured file, checked, and record it.

Transient network failures are retried inside :func:`enfopath.study.download.fetch`; the rule itself
has ``retries: 0``, so a profile's job retries never repeat a download (a checksum mismatch or
an HTTP 4xx is not fixed by trying again).
"""

from pathlib import Path
from urllib.parse import urlparse

from _common import setup

from enfopath.io import file_digest, write_json
from enfopath.study.download import Asset, fetch

sm = snakemake  # noqa: F821
log = setup(sm, network=True)
name = sm.wildcards.asset
key = {"data": "data.source", "flow": "flow.pretrained.checkpoint"}[name]
cfg = sm.params.config
section = cfg["data"]["source"] if name == "data" else cfg["flow"]["pretrained"]["checkpoint"]
asset = Asset(name=f"{key} ({name})", **section)
folder = Path(sm.output.manifest).with_suffix("")
dest = folder / (Path(urlparse(asset.url).path).name if asset.url else Path(asset.path).name)
path = fetch(asset, dest)
record = {
    "config_key": key,
    "source": asset.url or asset.path,
    "path": str(path.resolve()),
    "sha256": file_digest(path, "sha256"),
    "verified": asset.checksum is not None,
}
log.info("%s: %s", key, record)
write_json(sm.output.manifest, record)
