"""``python -m brain_atrophy_demo OUT_DIR``: build the demo cohort (see brain_atrophy_demo.demo)."""

from .demo import main

main()
