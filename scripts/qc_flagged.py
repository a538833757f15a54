"""QC mosaic of the cohort's flagged sessions (at most params.max_sessions), for the report."""

from brain_atrophy import paths
from brain_atrophy.inputs.regions import load_regions
from brain_atrophy.measure.mosaic import qc_mosaic
from brain_atrophy.measure.tissue import read_dominant_tissue
from brain_atrophy.scripting import run_script
from brain_atrophy.tables import read_frame


def main(smk):
    qc = read_frame(smk.input.qc)
    flagged = qc[qc["flagged"]].head(smk.params.max_sessions)
    rows = []
    for subject, session in zip(flagged["participant_id"], flagged["session_id"], strict=True):
        sub, ses = paths.subject_label(subject), paths.session_label(session)
        rows.append((subject, session, smk.params.images[sub][ses], smk.params.t1w.get(sub, {}).get(ses)))
    title = f"{int(qc['flagged'].sum())} flagged sessions (showing {len(rows)})"
    if smk.params.tissues:  # tissue maps: outline where each tissue dominates
        regions = {tissue: (k + 1,) for k, tissue in enumerate(smk.params.tissues)}
        qc_mosaic(rows, regions, smk.output[0], title, read=read_dominant_tissue)
    else:
        qc_mosaic(rows, load_regions(smk.input.regions, smk.input.get("label_table")), smk.output[0], title)


run_script(snakemake, main)
