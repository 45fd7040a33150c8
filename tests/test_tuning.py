import pytest

from certsample.tuning import smallest_sufficient


def test_finds_the_exact_threshold_and_counts_few_calls():
    calls = []

    def error(n):
        calls.append(n)
        return 1.0 / n, f"run {n}"

    found = smallest_sufficient(error, 1 / 37, max_n=1024)
    assert found.met and found.n == 37 and found.value == (1 / 37, "run 37")
    assert len(calls) <= 2 * 7  # doublings to 64, then bisection of [32, 64]


def test_relative_tolerance_stops_early_but_stays_sufficient():
    found = smallest_sufficient(lambda n: 1.0 / n, 1 / 1000, start=4, rel_tol=1 / 16)
    assert found.met and 1000 <= found.n <= 1000 * (1 + 1 / 16) + 1


def test_gives_up_past_max_and_reports_the_last_try():
    found = smallest_sufficient(lambda n: 1.0, 0.5, max_n=64)
    assert not found.met and found.n == 64 and found.value == 1.0
    with pytest.raises(ValueError, match="eps"):
        smallest_sufficient(lambda n: 1.0, 0.0)


def test_the_search_never_goes_below_start():
    from certsample.tuning import smallest_sufficient

    tried = []

    def error(n):
        tried.append(n)
        return 1 / n

    assert smallest_sufficient(error, 0.5, start=5).n == 5 and min(tried) == 5
    with pytest.raises(ValueError, match="start must be an integer >= 1"):
        smallest_sufficient(error, 0.5, start=0)
