"""Printed forms of fixed graphs against checked-in text (see golden.py).

Adding a golden graph is one line in CASES: a name and a function returning text.
"""

import pytest

from tests.printing.golden import check_golden
from tests.printing.graphs import (
    inner_graph_example,
    lazy_ifelse_function,
    logreg,
    scan_poly_function,
    scan_pow_function,
)
from theanine.printing import debugprint, pprint

CASES = {
    "logreg_prediction_pprint": lambda: pprint(logreg().prediction),
    "logreg_prediction_debugprint": lambda: debugprint(logreg().prediction, file="str"),
    "logreg_prediction_debugprint_types": lambda: debugprint(
        logreg().prediction, file="str", print_type=True),
    "logreg_predict_debugprint": lambda: debugprint(logreg().predict, file="str"),
    "logreg_train_debugprint": lambda: debugprint(logreg().train, file="str"),
    "logreg_train_pprint": lambda: pprint(logreg().train),
    "logreg_predict_pprint": lambda: pprint(logreg().predict),
    "inner_graphs_debugprint": lambda: debugprint(inner_graph_example(), file="str"),
    "inner_graphs_pprint": lambda: pprint(inner_graph_example()),
    "scan_pow_debugprint": lambda: debugprint(scan_pow_function(), file="str"),
    "scan_pow_pprint": lambda: pprint(scan_pow_function()),
    "scan_poly_debugprint": lambda: debugprint(scan_poly_function(), file="str"),
    "lazy_ifelse_debugprint": lambda: debugprint(lazy_ifelse_function(), file="str"),
    "lazy_ifelse_pprint": lambda: pprint(lazy_ifelse_function()),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name):
    check_golden(name, CASES[name]())
