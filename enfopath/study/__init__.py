"""The study's plumbing: the config and its schema (:mod:`.config`), data sets and downloads
(:mod:`.datasets`, :mod:`.cifar`, :mod:`.imagefolder`, :mod:`.download`), shards of sample
endpoints and energy profiles (:mod:`.shards`), the merged tables (:mod:`.tables`), the summary
(:mod:`.summary`), the solver-robustness re-runs (:mod:`.robustness`) and the figures
(:mod:`.figures`).

The top of the import graph: core ← models ← measures ← study. The workflow scripts are thin
adapters over these modules.
"""
