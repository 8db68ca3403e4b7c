"""What is measured about each sample besides its energy: local density from exact kNN
(:mod:`.density`), precision / recall / density / coverage (:mod:`.prdc`), Fréchet distance and
KID (:mod:`.fidelity`), semantic scores
(:mod:`.semantics`), the feature spaces they are computed in (:mod:`.features`) and the
statistics that relate them to the KPE (:mod:`.stats`).

Imports the core and :mod:`enfopath.models`, never :mod:`enfopath.study`.
"""
