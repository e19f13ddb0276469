"""Thousands of mutated cfg, YAML, .weights and .h5 inputs (tests/fuzz_inputs.py): darkpy
answers every one with a result or a darkpy error, never another exception. Seeded, so a
failure reruns alone: `python tools/fuzz.py --seed S --start I --count 1 [--shallow]`."""
from __future__ import annotations

import warnings

import pytest

from fuzz_inputs import run_cases

SEED = 20240610


def _report(failures, deep):
    if failures:
        index, error = failures[0]
        flag = "" if deep else " --shallow"
        pytest.fail(f"{len(failures)} case(s) raised a non-darkpy exception; the first, "
                    f"case {index} (tools/fuzz.py --seed {SEED} --start {index} --count 1{flag}):"
                    f"\n{error}")


def test_thousands_of_cfg_and_yaml_mutations_parse_build_and_describe():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # repeated keys and the like warn, as darknet does
        _report(run_cases(SEED, 2000, deep=False), deep=False)


def test_mutated_networks_and_weights_files_run_or_fail_cleanly():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _report(run_cases(SEED, 150, deep=True), deep=True)
