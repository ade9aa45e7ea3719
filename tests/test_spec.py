"""Ring specs and key files without processes: every error names the file and line, the
starting spec reads back, keys are private, and the clock offsets of remote stations."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ringemu.errors import ConfigError
from ringemu.live.keyfiles import KeyDir, make_keys, read_cert, secret_path
from ringemu.live.monitor.stations import ClockOffset
from ringemu.live.spec import SpecError, load_spec
from ringemu.live.spec_template import placement, starting_spec
from ringemu.live.tomllines import TomlLines

ADDRESSES = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("spec") / "keys"
    make_keys(folder, 6)
    return folder


@pytest.fixture
def spec_text() -> str:
    return starting_spec(6, ADDRESSES, "keys")


def write(tmp_path: Path, keys: Path, text: str) -> Path:
    (tmp_path / "keys").symlink_to(keys)
    path = tmp_path / "ring.toml"
    path.write_text(text)
    return path


def line_of(text: str, needle: str, after: str | None = None) -> int:
    lines = text.splitlines()
    start = 0 if after is None else next(i for i, x in enumerate(lines) if x == after)
    return next(i for i, x in enumerate(lines) if i >= start and x.startswith(needle)) + 1


def test_the_starting_spec_reads_back(tmp_path, keys, spec_text):
    spec = load_spec(write(tmp_path, keys, spec_text))
    assert [s.host for s in spec.stations] == ["127.0.0.1"] * 2 + ["127.0.0.2"] * 2 + \
        ["127.0.0.3"] * 2
    assert spec.monitor.endpoints() == {"report": "tcp://127.0.0.1:7000",
                                        "control": "tcp://127.0.0.1:7001",
                                        "events": "tcp://127.0.0.1:7002"}
    assert spec.stations[5].ring_endpoint == "tcp://127.0.0.3:7020"
    assert spec.options["snapshot_interval"] == pytest.approx(0.2)
    assert spec.options["recovery"] == "purge" and spec.startup_timeout == 60
    assert spec.parts_on("127.0.0.2") == (False, [2, 3])
    placed = spec.placement(frozenset({0, 1}))
    assert placed.same_clock == {0, 1} and placed.launched_here == {0, 1}
    assert placed.addresses == set(ADDRESSES)
    assert set(spec.local_hosts()) == set(ADDRESSES)  # loopback addresses are this machine's
    spec.check_keys(True, list(range(6)), operator=True)


def test_placement_is_in_blocks_one_per_host():
    assert placement(8, 3) == [0, 0, 0, 1, 1, 1, 2, 2]
    assert placement(2, 2) == [0, 1]


# each row: how to break the starting spec, and what the error must say; the line is the one
# of the key named (looked up in the broken text)
BROKEN = [
    ("stations.3 -> host d", lambda t: t.replace('[stations.3]\nhost = "127.0.0.2"',
                                                '[stations.3]\nhost = "d"'),
     "unknown host 'd'", ("host = \"d\"", None)),
    ("unknown station in active-monitor", lambda t: t.replace("active-monitor = 0",
                                                              "active-monitor = 9"),
     "no station 9", ("active-monitor", None)),
    ("a missing station", lambda t: t.replace("[stations.2]", "[stations.7]"),
     "station 2 is missing", ("[stations.7]", None)),
    ("a port used twice", lambda t: t.replace("ring = 7016", "ring = 7014"),
     "duplicate address", ("ring = 7014", "[stations.3]")),
    ("two hosts, one address", lambda t: t.replace('address = "127.0.0.3"',
                                                  'address = "127.0.0.2"'),
     "duplicate address", ('address = "127.0.0.2"', '[hosts."127.0.0.3"]')),
    ("NaN", lambda t: t.replace("load = 0.1", "load = nan"), "not nan", ("load", None)),
    ("infinity", lambda t: t.replace("restart-delay = 0.5", "restart-delay = inf"),
     "not inf", ("restart-delay", None)),
    ("out of range", lambda t: t.replace("load = 0.1", "load = 1.5"), "ring.load",
     ("load", None)),
    ("a bad choice", lambda t: t.replace('recovery = "purge"', 'recovery = "pray"'),
     "one of purge, rollback, none", ("recovery", None)),
    ("a string for a number", lambda t: t.replace("ring = 7010", 'ring = "7010"'),
     "must be a port", ("ring = \"7010\"", None)),
    ("a port out of range", lambda t: t.replace("cmd = 7011", "cmd = 70000"),
     "must be a port", ("cmd = 70000", None)),
    ("a misspelt key", lambda t: t.replace("seed = 1", "sead = 1"), "unknown key 'sead'",
     ("sead", None)),
    ("a syntax error", lambda t: t.replace("seed = 1", "seed = = 1"), "Invalid value",
     ("seed = = 1", None)),
    ("no keys folder", lambda t: t.replace('dir = "keys"', 'dir = "nokeys"'), "no folder",
     ("dir = ", None)),
    ("a link's time without its unit", lambda t: t + "\n[links.2]\ndelay = 5\n",
     "links.2: delay: 5 needs a unit", ("delay = 5", "[links.2]")),
    ("a link of no station", lambda t: t + "\n[links.9]\ndelay = 5\n", "unknown station '9'",
     ("[links.9]", None)),
    ("NaN in an impairment", lambda t: t + "\n[impairments]\nloss = nan\n",
     "impairments.loss must be a finite number, not nan", ("loss = nan", "[impairments]")),
    ("an unknown impairment key", lambda t: t + '\n[impairments]\nlatency = "5ms"\n',
     "unknown impairment key 'latency'", ("latency", "[impairments]")),
]


@pytest.mark.parametrize("why,breaking,needle,where", BROKEN, ids=[r[0] for r in BROKEN])
def test_a_broken_spec_is_one_error_naming_file_and_line(tmp_path, keys, spec_text, why,
                                                         breaking, needle, where):
    text = breaking(spec_text)
    assert text != spec_text
    path = write(tmp_path, keys, text)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    message = str(err.value)
    want = line_of(text, *where)
    assert message.startswith(f"{path}:"), message
    assert message.startswith(f"{path}:{want}: "), (message, want)
    assert needle in message, message
    assert "\n" not in message


def test_a_specs_impairments_reach_every_link_and_one_link_on_top(tmp_path, keys, spec_text):
    """[impairments] sets every link; [links.K] puts its keys on top of those for link K
    alone, as --impair K:... does on the command line."""
    from ringemu.cli.spec_run import spec_config

    text = spec_text + '\n[impairments]\ndelay = "2ms"\n\n[links.3]\nloss = "1%"\n'
    spec = load_spec(write(tmp_path, keys, text))
    cfg = spec_config(_Ctx(), spec, {})
    assert cfg.impairment_for(0).delay == pytest.approx(0.002) and cfg.impairment_for(0).loss == 0
    three = cfg.impairment_for(3)
    assert (three.delay, three.loss) == (pytest.approx(0.002), pytest.approx(0.01))
    assert cfg.to_json()["link_impairments"] == {"3": three.to_json()}


class _Ctx:
    """No option came from the command line."""

    def get_parameter_source(self, name):
        return None


def test_missing_and_unsafe_key_files_are_named(tmp_path, spec_text):
    folder = tmp_path / "keys"
    make_keys(folder, 6)
    path = tmp_path / "ring.toml"
    path.write_text(spec_text)
    spec = load_spec(path)
    secret_path(folder, "station-4").unlink()
    spec.check_keys(False, [0, 1], operator=False)  # station 4 lives elsewhere: fine here
    with pytest.raises(SpecError, match=r"ring\.toml:\d+: .*station-4\.key_secret: no such key"):
        spec.check_keys(False, [4], operator=False)
    os.chmod(secret_path(folder, "operator"), 0o644)
    with pytest.raises(SpecError, match="others may read"):
        spec.check_keys(True, [], operator=True)
    (folder / "station-2.key").unlink()
    with pytest.raises(SpecError, match="station-2.key: no such key file"):
        spec.check_keys(False, [], operator=False)


def test_key_files_are_private_checked_and_never_overwritten(tmp_path):
    folder = tmp_path / "k"
    written = make_keys(folder, 2)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    for p in written:
        mode = stat.S_IMODE(os.stat(p).st_mode)
        assert mode == (0o600 if p.name.endswith("_secret") else 0o644), p
    with pytest.raises(ConfigError, match="never overwritten"):
        make_keys(folder, 2)
    keys = KeyDir(folder, 2)
    pair = keys.pair("station-1")
    assert keys.for_station(1).own == pair and keys.for_station(1).stations[1] == pair.public
    assert keys.for_monitor().operator == keys.public("operator")
    # a secret that does not belong to its public key
    other = read_cert(secret_path(folder, "station-0"), secret=True)[1]
    text = secret_path(folder, "station-1").read_text()
    secret_path(folder, "station-1").write_text(text.replace(pair.secret, other))
    with pytest.raises(ConfigError, match="does not belong"):
        keys.pair("station-1")


def test_toml_lines_finds_keys_tables_and_dotted_keys():
    text = '\n'.join([
        "# c", "[ring]", "a = 1", 'b = """', "x = 2", '"""', "c = [", " 1,", "]",
        '[hosts."10.0.0.1"]', "address = '10.0.0.1'", "d.e = 3", "[[arr]]", "k = 1", "[[arr]]",
        "k = 2"])
    lines = TomlLines(text)
    assert lines.line("ring") == 2 and lines.line("ring", "a") == 3
    assert lines.line("ring", "x") == 2  # inside a multi-line string: not a key
    assert lines.line("ring", "c") == 7
    assert lines.line("hosts", "10.0.0.1", "address") == 11
    assert lines.line("hosts", "10.0.0.1", "d", "e") == 12
    assert lines.line("arr", 1, "k") == 16 and lines.line("arr", 0) == 13
    assert lines.line("nothing") is None


def test_a_remote_clock_is_moved_by_the_best_exchange():
    c = ClockOffset(same=False)
    c.hello(now=100.0, station_t=40.0)  # one-way latency unknown: a first guess
    assert c.offset == 60.0
    c.asked(200.0)
    c.answered(200.010, station_t=139.990)  # rtt 10 ms, midpoint 200.005
    assert c.offset == pytest.approx(60.015)
    c.asked(230.0)
    c.answered(230.100, station_t=170.0)  # a slow exchange does not replace a better one
    assert c.offset == pytest.approx(60.015)
    c.answered(231.0, station_t=1.0)  # no request outstanding: ignored
    assert c.offset == pytest.approx(60.015)
    c.asked(300.0)
    c.answered(300.100, station_t=240.0)  # the best is a minute old: a newer one replaces it
    assert c.offset == pytest.approx(60.05)
    same = ClockOffset()
    same.hello(5.0, 1.0)
    same.asked(1.0)
    same.answered(2.0, 0.0)
    assert same.offset == 0.0
