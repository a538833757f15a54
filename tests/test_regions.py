"""Region tables: parsing, the FreeSurfer preset, and malformed tables."""

from pathlib import Path

import pytest

from brain_atrophy.errors import InputError
from brain_atrophy.inputs.regions import load_regions, parse_labels, read_region_table

PRESETS = Path(__file__).resolve().parents[1] / "config" / "regions"


def test_parse_labels_with_ranges():
    assert parse_labels("41 2 1000-1002 2") == (2, 41, 1000, 1001, 1002)


@pytest.mark.parametrize("text", ["", "a", "3-1", "0 2", "2,3", "-4"])
def test_parse_labels_refuses_bad_text(text):
    with pytest.raises(ValueError):
        parse_labels(text)


def test_freesurfer_preset_defines_the_five_regions():
    regions = read_region_table(PRESETS / "freesurfer.tsv")
    assert list(regions) == ["whole_brain", "white_matter", "cortical_gray_matter", "thalamus", "cerebellum"]
    assert regions["thalamus"] == (10, 49)
    assert regions["cerebellum"] == (7, 8, 46, 47)
    assert set(regions["cortical_gray_matter"]) == {3, 42, *range(1000, 1036), *range(2000, 2036)}
    whole = set(regions["whole_brain"])
    for part in ("white_matter", "cortical_gray_matter", "thalamus", "cerebellum"):
        assert set(regions[part]) <= whole
    assert not whole & {4, 5, 14, 15, 24, 31, 43, 44, 63, 72}  # ventricles, CSF, choroid plexus


def write(tmp_path, text):
    path = tmp_path / "regions.tsv"
    path.write_text(text)
    return path


def test_custom_table_with_comments_and_extra_columns(tmp_path):
    path = write(tmp_path, "# my atlas\nregion\tlabels\tnote\nhippo\t17 53\tboth\namyg\t18\t\n")
    assert read_region_table(path) == {"hippo": (17, 53), "amyg": (18,)}


@pytest.mark.parametrize(
    "text, fault",
    [
        ("name\tlabels\nx\t1\n", "missing"),
        ("region\tlabels\nx\t1\nx\t2\n", "defined twice"),
        ("region\tlabels\n1x\t1\n", "region name"),
        ("region\tlabels\nx\tone\n", "not a label number"),
        ("region\tlabels\n", "no regions"),
        ("region labels\nx 1\n", "missing"),
    ],
)
def test_malformed_tables_name_file_and_fault(tmp_path, text, fault):
    path = write(tmp_path, text)
    with pytest.raises(InputError, match=fault) as err:
        read_region_table(path)
    assert str(path) in str(err.value)


def test_regions_by_name_through_a_dseg_lookup(tmp_path):
    lookup = tmp_path / "dseg.tsv"
    lookup.write_text(
        "index\tname\tabbreviation\n10\tLeft-Thalamus\tLT\n49\tRight-Thalamus\tRT\n17\tLeft-Hippocampus\tLH\n"
    )
    table = write(
        tmp_path, "region\tlabels\nthalamus\tLeft-Thalamus Right-Thalamus\nmixed\t17 Right-Thalamus\n"
    )
    assert load_regions(table, lookup) == {"thalamus": (10, 49), "mixed": (17, 49)}
    with pytest.raises(InputError, match="no dseg.tsv names labels"):
        read_region_table(table)
    (tmp_path / "bad.tsv").write_text("region\tlabels\nx\tLeft-Amygdala\n")
    with pytest.raises(InputError, match="'Left-Amygdala' is not in the lookup table"):
        load_regions(tmp_path / "bad.tsv", lookup)


def test_malformed_lookup_table(tmp_path):
    lookup = tmp_path / "dseg.tsv"
    lookup.write_text("label\tname\n1\tx\n")
    with pytest.raises(InputError, match="'index' and 'name'"):
        load_regions(write(tmp_path, "region\tlabels\nx\t1\n"), lookup)
