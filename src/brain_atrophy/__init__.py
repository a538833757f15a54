"""brain-atrophy: regional brain volumes and volume-loss rates from longitudinal label images.

Modules (import what you need; nothing heavy is imported here, so per-subject jobs stay cheap):
``images`` reading label images, ``volumes`` counting labels, ``regions`` region tables,
``bids`` input discovery and dates, ``rates`` per-subject rates, ``subject`` one subject's job,
``mixed`` the REML mixed model, ``group`` group statistics, ``demo`` the demo cohort.
"""

__version__ = "0.1.0"
