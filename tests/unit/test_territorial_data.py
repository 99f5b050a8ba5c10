"""The embedded files are read with their traps handled (see services/data/territoire/SOURCES.md)."""

import math

from services import territorial_data as data


def test_codes_stay_strings_and_keep_their_width():
    caf = data.read_caf_iris()
    assert caf["CODGEO"].map(len).eq(9).all()
    assert data.read_communes().index.map(len).to_series().eq(5).all()
    epci = data.read_epci_mapping()
    assert epci.loc["11069", "EPCI"] == "200035715"


def test_byte_order_mark_and_decimal_commas_are_handled():
    filo = data.read_filosofi_communes()
    assert "CODGEO" in filo.columns  # not "\ufeffCODGEO"
    assert filo.loc["11069", "RD"] == 3.6
    iris = data.read_filosofi_iris().set_index("IRIS")
    assert iris.loc["110690102", "DISP_TP6019"] == 43.6


def test_secret_cells_stay_missing_never_zero():
    caf = data.read_caf_iris().set_index("CODGEO")
    secret = caf.loc["110690601"]
    assert secret["NOTE"] != 0
    assert math.isnan(secret["ARSAS"])
    # a single blank cell in a published IRIS is secret too
    assert math.isnan(caf.loc["110690401", "A_ETUD"])


def test_the_joined_table_agrees_with_the_census_pyramid():
    communes = data.read_communes()
    pyramid = data.read_age_pyramid()
    for code in ["11069", "31555", "34172"]:
        assert data.population_by_age(pyramid, code, 80, None) == communes.loc[code, "pop_80p"]
        assert data.population_by_age(pyramid, code, 0, 2) == communes.loc[code, "pop_0_2"]
