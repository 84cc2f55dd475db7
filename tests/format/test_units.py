import pytest

from litdata_format import parse_size


@pytest.mark.parametrize(
    "text, expected",
    [("64MB", 64_000_000), ("64mb", 64_000_000), ("1.5 GB", 1_500_000_000), ("2KiB", 2048), ("100", 100), (7, 7)],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["64 parsecs", "MB", "", "-3MB", "0", 0, -1])
def test_parse_size_refuses_nonsense(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_parse_size_refuses_wrong_types():
    with pytest.raises(TypeError):
        parse_size(1.5)
    with pytest.raises(TypeError):
        parse_size(True)
