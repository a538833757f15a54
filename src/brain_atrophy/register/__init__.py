"""Registration of each follow-up T1w to its subject's baseline (change_measure: jacobian).

``halfway`` splits a rigid transform in two, ``quality`` judges a registered pair, ``pair``
runs ANTsPy (the only module that imports it) and ``job`` is the per-pair job's command line.
"""
