"""QC mosaic of the cohort's flagged sessions (at most params.max_sessions), for the report."""

from brain_atrophy import paths
from brain_atrophy.inputs.regions import load_regions
from brain_atrophy.measure.mosaic import qc_mosaic
from brain_atrophy.measure.tissue import read_dominant_tissue
from brain_atrophy.scripting import run_script
from brain_atrophy.tables import read_frame


def main(smk):
    qc = read_frame(smk.input.qc)
    flagged = qc[qc["flagged"]]
    # with change_measure: jacobian a follow-up may have a T1w only: its subject's own mosaic
    # shows it warped onto the baseline
    labelled = [
        (subject, session)
        for subject, session in zip(flagged["participant_id"], flagged["session_id"], strict=True)
        if paths.session_label(session) in smk.params.images.get(paths.subject_label(subject), {})
    ]
    rows = []
    for subject, session in labelled[: smk.params.max_sessions]:
        sub, ses = paths.subject_label(subject), paths.session_label(session)
        rows.append((subject, session, smk.params.images[sub][ses], smk.params.t1w.get(sub, {}).get(ses)))
    title = f"{len(flagged)} flagged sessions (showing {len(rows)})"
    if len(labelled) < len(flagged):
        title += f"; {len(flagged) - len(labelled)} without labels: see their subjects' mosaics"
    if smk.params.tissues:  # tissue maps: outline where each tissue dominates
        regions = {tissue: (k + 1,) for k, tissue in enumerate(smk.params.tissues)}
        qc_mosaic(rows, regions, smk.output[0], title, read=read_dominant_tissue)
    else:
        qc_mosaic(rows, load_regions(smk.input.regions, smk.input.get("label_table")), smk.output[0], title)


run_script(snakemake, main)
