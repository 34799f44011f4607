"""AWS VPC flow logs (plain-text records, default version 2 format or a custom format with a header line).

Format (AWS documentation, read 2026):

* "Flow log records" (https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html): a record is
  one line of space-separated fields. The default format is the version 2 fields in this order::

      version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status

  ``protocol`` is the IANA number, ``start``/``end`` are Unix seconds, ``action`` is ``ACCEPT`` or ``REJECT``,
  ``log-status`` is ``OK``, ``NODATA`` (no traffic in the capture window) or ``SKIPDATA`` (records were
  skipped). A field that does not apply to a record is written ``-``. In a custom format ``version`` is the
  highest version among the chosen fields (so 3, 4, 5, ... are valid too), and ``flow-direction`` (version 5)
  says ``ingress`` or ``egress`` relative to the interface.
* "Flow log record examples" (https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-records-examples.html):
  the ACCEPT / REJECT / NODATA / SKIPDATA sample lines the fixtures are modelled on.
* "Flow log files" (https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-s3-path.html): files delivered to
  S3 are gzip-compressed text whose first line names the fields (the header); records read from CloudWatch
  Logs have no header. Files exported from CloudWatch Logs to S3 ("Export log data to Amazon S3",
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/S3Export.html) start each line with the event's
  timestamp; a leading ISO-8601 token before a default-format record is therefore tolerated and ignored.

How records become flows:

* With a header line, fields are found by name, so any custom format that includes ``srcaddr``, ``dstaddr``,
  ``dstport`` and ``protocol`` can be read (the other fields are used when present). A header may appear again
  later in the file (concatenated S3 objects); from there on its layout applies. Without a header, the
  default version 2 layout is assumed. Headers and blank lines are not records.
* Direction: the default format has no direction field, so the reader cannot tell outbound from inbound
  traffic. Every record is emitted as a flow from ``srcaddr`` to ``dstaddr`` (an ENI logs both the requests
  it sends and the ones it receives); the replay step, not this reader, uses the compute inventory to drop
  records whose source is not a known compute but whose destination is. Records from a well-known source port
  (< 1024) to an ephemeral one (>= 1024) are the reply halves of connections opened by the other side and are
  skipped here (``reply``). When the layout has ``flow-direction``, ``ingress`` records are skipped instead
  (``inbound``).
* ``log-status`` NODATA / SKIPDATA records carry ``-`` for the addresses: skipped (``no_data``,
  ``skip_data``).
* ``protocol`` 6 / 17 / 1 become TCP / UDP / ICMP. Any other IANA number (50 ESP, 47 GRE, 58 ICMPv6, ...) is
  rejected ``unsupported_protocol``: Azure ML outbound rules only speak TCP, UDP and ICMP, so such a record
  cannot be evaluated. A non-number is ``invalid_protocol``.
* ``start`` → ``ts`` (UTC), ``action`` → ``observed_action`` (ACCEPT allow, REJECT deny), ``bytes`` (bytes
  sent from srcaddr to dstaddr in the window) → ``bytes_out``; ``bytes_in`` is unknown (null): the reply
  direction is a separate record. ``-`` in one of these leaves the column null for that flow.

Rejections (``where`` = ``file:line``, physical line numbers counting headers and blank lines), in the order
they are checked; a record with several faults gets the first:

* the line itself: ``line_too_long`` (over ``limits.AWS_VPC_MAX_LINE_BYTES``, 64 KiB; never held
  whole), ``invalid_utf8``,
  ``invalid_character`` (a carriage return inside the line), ``bad_field_count``, ``missing_field`` (the
  header lacks one of the four needed fields);
* then field by field: ``invalid_version`` / ``unsupported_version`` (not a number / below 2),
  ``invalid_log_status`` (NODATA / SKIPDATA skips come here), ``invalid_flow_direction`` (``inbound`` skips
  come here), protocol (``missing_field`` for ``-``, ``invalid_protocol``, ``unsupported_protocol``), srcaddr
  and dstaddr (``missing_field``, ``invalid_ip``), ``invalid_port`` (srcport or dstport not 0-65535; ``-``
  is fine for srcport and for an ICMP dstport, ``missing_field`` for a TCP/UDP dstport),
  ``invalid_timestamp`` (``start``/``end`` not Unix seconds), ``invalid_bytes``, ``invalid_action``.

What the reader does: it is a ``LineFormat``; the engine reads the file (gzip, blocks of whole lines, over-long
lines, ledger, strict mode, each flow's ``source`` as ``file:line``), and ``parse`` does what is AWS's own, one
block at a time: find header lines (and so the layout of each stretch of lines), split the records of a stretch
with one Arrow CSV call (space-delimited, no quoting), map the lines Arrow refused (wrong field count) back to
their numbers by the row numbers it reports, and check the fields column-wise with Arrow compute and numpy
(``_check``), giving every line one outcome code. Only bytes that are not UTF-8 or a stray carriage return make a
block copy its other lines first; only rejected records are looked at one at a time (for their samples).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ...base import limits
from ..engine.blocks import BOM, LineBlock
from ..engine.cells import ip_cells
from ..engine.files import LogFile
from ..engine.format import NOT_A_RECORD, LineFormat, ParsedLines
from ..engine.ledger import Outcomes
from ..engine.numtext import mask as _np, unsigned as _unsigned

DEFAULT_FIELDS: tuple[str, ...] = (
    "version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport",
    "protocol", "packets", "bytes", "start", "end", "action", "log-status",
)
REQUIRED_FIELDS: tuple[str, ...] = ("srcaddr", "dstaddr", "dstport", "protocol")
USED_FIELDS: tuple[str, ...] = (
    "version", "log-status", "flow-direction", "protocol", "srcaddr", "dstaddr", "srcport", "dstport",
    "start", "end", "bytes", "action",
)
EXPORT_TIMESTAMP = "cloudwatch-export-timestamp"  # the leading token of a CloudWatch Logs export line
MAX_LINE_BYTES = limits.AWS_VPC_MAX_LINE_BYTES

_FIELD_NAME = re.compile(r"^[a-z]+(?:-[a-z]+)*$")
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\S+$")
_V2_RECORD = re.compile(r"^\d+ (?:\d{12}|unknown|-) (?:eni-[0-9a-f]+|-)(?: \S+){11}$")
_MAX_EPOCH = 9_200_000_000  # seconds; beyond this a nanosecond timestamp overflows (year 2261)

_PROTOCOLS = (("6", "TCP"), ("17", "UDP"), ("1", "ICMP"))  # IANA number → flow-schema name
_PROTOCOL_NAMES = pa.array([name for _, name in _PROTOCOLS])
_ICMP = 2
_OBSERVED = pa.array(["allow", "deny", None], pa.string())  # ACCEPT, REJECT, "-"

# Outcomes in the order they are checked (the first that applies names a record's outcome; ``missing_field`` is
# checked first for the layout, then for each needed field in turn).
OUTCOMES = Outcomes(
    skips=("no_data", "skip_data", "inbound", "reply"),
    rejects=("invalid_utf8", "invalid_character", "bad_field_count", "missing_field", "invalid_version",
             "unsupported_version", "invalid_log_status", "invalid_flow_direction", "invalid_protocol",
             "unsupported_protocol", "invalid_ip", "invalid_port", "invalid_timestamp", "invalid_bytes",
             "invalid_action"),
)
# The flow columns a record can give, in order, with their types (a layout without a field leaves its out).
_COLUMNS = {"ts": pa.timestamp("ns", tz="UTC"), "src_ip": pa.string(), "dst_ip": pa.string(),
            "dst_port": pa.int64(), "protocol": pa.string(), "bytes_out": pa.int64(), "bytes_in": pa.int64(),
            "observed_action": pa.string()}


@dataclass(frozen=True)
class _Layout:
    """Where the fields this reader uses sit in a line."""

    n_fields: int
    position: dict[str, int]
    missing: tuple[str, ...]  # needed fields the layout lacks: every record is rejected missing_field
    header_first: str | None  # first name of the header that set this layout (to spot it again mid-file)


def _layout(names: tuple[str, ...] | list[str], header_first: str | None = None) -> _Layout:
    position = {name: names.index(name) for name in USED_FIELDS if name in names}
    missing = tuple(f for f in REQUIRED_FIELDS if f not in position)
    return _Layout(len(names), position, missing, header_first)


_DEFAULT_LAYOUT = _layout(DEFAULT_FIELDS)
_EXPORT_LAYOUT = _layout((EXPORT_TIMESTAMP,) + DEFAULT_FIELDS)


def _header_layout(line: str) -> _Layout | None:
    """The layout a header line names, or None when the line is not a header."""
    names = line.split()
    if len(names) < 2 or not all(_FIELD_NAME.match(n) for n in names) or len(set(names)) != len(names):
        return None
    if not set(names) & set(DEFAULT_FIELDS):
        return None
    return _layout(names, names[0])


def _first_record_layout(line: str) -> _Layout:
    tokens = line.split(" ")
    if len(tokens) == len(DEFAULT_FIELDS) + 1 and _ISO_TIME.match(tokens[0]):
        return _EXPORT_LAYOUT
    return _DEFAULT_LAYOUT


@dataclass
class _FileState:
    """What a file's earlier lines decided: the layout in force (None before the first non-blank line) and the
    first names of its headers so far (a line that starts with one of them may be a header again)."""

    layout: _Layout | None = None
    header_firsts: set[str] = field(default_factory=lambda: {"version"})


class AwsVpcFlowLogFormat(LineFormat):
    names_logged = False  # flow records hold addresses and ports, never a host name
    name = "awsvpc"
    description = "AWS VPC flow logs: default v2 records or a custom format with header (S3 or CloudWatch export)"
    outcomes = OUTCOMES
    max_line_bytes = MAX_LINE_BYTES

    def sniff(self, head: bytes, file_name: str) -> bool:
        head = head.removeprefix(BOM)
        for raw in head.split(b"\n"):
            line = raw.rstrip(b"\r").decode("utf-8", errors="replace").strip()
            if not line:
                continue
            header = _header_layout(line)
            if header is not None:
                return {"srcaddr", "dstaddr"} <= set(header.position)
            first, _, rest = line.partition(" ")
            if _ISO_TIME.match(first):
                line = rest
            return bool(_V2_RECORD.match(line))
        return False

    def start(self, log: LogFile) -> _FileState:
        return _FileState()

    def parse(self, block: LineBlock, state: _FileState) -> ParsedLines:
        lines = _Lines(block)
        codes = np.full(block.n, NOT_A_RECORD, dtype=np.int16)
        lines.flag_bytes(codes)  # invalid_utf8, invalid_character: kept out of the Arrow call
        parts: list[dict[str, pa.Array]] = []
        for lo, hi, layout in _segments(lines, state, codes):
            part = _parse_segment(lines, lo, hi, layout, codes)
            if part:
                parts.append(part)
        return ParsedLines(codes, _joined(parts))


READER = AwsVpcFlowLogFormat()


class _Lines:
    """A block's lines: where each starts and where its content stops (before ``\\n`` or ``\\r\\n``)."""

    def __init__(self, block: LineBlock) -> None:
        self.block = block
        self.data = block.data
        self.arr = np.frombuffer(block.data, dtype=np.uint8)
        bounds = block.starts
        self.starts, ends = bounds[:-1], bounds[1:]
        stops = ends - (self.arr[ends - 1] == 10)
        self.stops = stops - ((stops > self.starts) & (self.arr[stops - 1] == 13))  # the last may lack \n

    def text(self, i: int) -> str:
        return self.data[self.starts[i]:self.stops[i]].decode("utf-8", errors="replace")

    def is_blank(self, i: int) -> bool:
        """Empty or only spaces: not a record."""
        return not self.data[self.starts[i]:self.stops[i]].strip(b" ")

    def flag_bytes(self, codes: np.ndarray) -> None:
        """Code the lines holding bytes that are not UTF-8 (``invalid_utf8``) or a carriage return that ends no
        line (``invalid_character``), in that order."""
        data, arr = self.data, self.arr
        if not data.isascii():
            for i in np.unique(np.searchsorted(self.starts, np.flatnonzero(arr >= 128), side="right") - 1):
                try:
                    data[self.starts[i]:self.stops[i]].decode("utf-8")
                except UnicodeDecodeError:
                    codes[i] = OUTCOMES["invalid_utf8"]
        if b"\r" in data:
            cr = np.flatnonzero(arr == 13)
            stray = cr[(cr + 1 < len(arr)) & (arr[np.minimum(cr + 1, len(arr) - 1)] != 10)]
            for i in np.unique(np.searchsorted(self.starts, stray, side="right") - 1):
                if codes[i] == NOT_A_RECORD:
                    codes[i] = OUTCOMES["invalid_character"]

    def starting_with(self, prefix: bytes, after: int) -> np.ndarray:
        """Indices (from ``after`` on) of the lines whose content begins with ``prefix``."""
        starts, stops, arr = self.starts[after:], self.stops[after:], self.arr
        long_enough = np.flatnonzero(stops - starts >= len(prefix))
        candidates = long_enough[arr[starts[long_enough]] == prefix[0]]
        if not candidates.size:
            return candidates + after
        window = arr[starts[candidates][:, None] + np.arange(len(prefix))]
        return candidates[(window == np.frombuffer(prefix, dtype=np.uint8)).all(axis=1)] + after


def _segments(lines: _Lines, state: _FileState, codes: np.ndarray) -> Iterator[tuple[int, int, _Layout]]:
    """The block's stretches of lines between header lines, as ``(lo, hi, layout)``; header lines are left
    ``NOT_A_RECORD`` and ``state`` follows the layout. A header is the file's first non-blank line when it names
    fields, or a later line that names fields and starts like ``version`` or an earlier header's first name."""
    n = lines.block.n
    lo = 0
    if state.layout is None:
        first = next((i for i in range(n) if not lines.is_blank(i)), None)
        if first is None:
            return
        found = None if codes[first] == OUTCOMES["invalid_utf8"] else _header_layout(lines.text(first))
        if found is None:
            state.layout = _first_record_layout(lines.text(first))
        else:
            codes[first], state.layout, lo = NOT_A_RECORD, found, first + 1
            state.header_firsts.add(found.header_first)
    layout = state.layout
    candidates = sorted(set().union(*(lines.starting_with(f"{name} ".encode(), lo).tolist()
                                      for name in state.header_firsts)))
    at = 0
    while at < len(candidates):
        i = candidates[at]
        at += 1
        found = None if codes[i] == OUTCOMES["invalid_utf8"] else _header_layout(lines.text(i))
        if found is None:
            continue
        if i > lo:
            yield lo, i, layout
        codes[i], layout, lo = NOT_A_RECORD, found, i + 1
        if found.header_first not in state.header_firsts:
            state.header_firsts.add(found.header_first)
            more = lines.starting_with(f"{found.header_first} ".encode(), lo).tolist()
            candidates = sorted(set(candidates[at:]) | set(more))
            at = 0
    state.layout = layout
    if n > lo:
        yield lo, n, layout


def _parse_segment(lines: _Lines, lo: int, hi: int, layout: _Layout, codes: np.ndarray) -> dict[str, pa.Array] | None:
    """Code lines ``lo .. hi - 1`` (records of ``layout``) and return the columns of those that are flows."""
    flagged = codes[lo:hi] >= 0  # invalid_utf8 / invalid_character, coded already
    starts, block_starts = lines.starts, lines.block.starts
    if flagged.any():  # copy the other lines: Arrow must see neither
        idx = lo + np.flatnonzero(~flagged)
        lengths = np.diff(block_starts[lo:hi + 1])
        data = lines.arr[block_starts[lo]:block_starts[hi]][np.repeat(~flagged, lengths)].tobytes()
    else:
        idx = np.arange(lo, hi)
        data = pa.py_buffer(lines.data).slice(int(block_starts[lo]), int(block_starts[hi] - block_starts[lo]))
    in_arrow = idx[lines.stops[idx] > starts[idx]]  # Arrow passes over empty lines without numbering them
    split = _read_fields(data, layout)
    rows = None
    if split is not None and split[1].max(initial=0) <= len(in_arrow):
        cols, refused_rows = split
        refused = in_arrow[refused_rows - 1] if refused_rows.size else refused_rows
        rows = np.setdiff1d(in_arrow, refused, assume_unique=True) if refused.size else in_arrow
        if len(rows) != len(next(iter(cols.values()))):
            rows = None
    if rows is None:  # Arrow did not see the rows the lines are (not expected): split line by line
        cols, rows, refused = _split_in_python(lines, in_arrow, layout)
    for i in refused.tolist():
        codes[i] = NOT_A_RECORD if lines.is_blank(i) else OUTCOMES["bad_field_count"]
    blank = np.zeros(len(rows), dtype=bool)  # only spaces, as many as a record has: not a record either
    for r in np.flatnonzero(lines.arr[starts[rows]] == 32).tolist():
        blank[r] = lines.is_blank(int(rows[r]))
    if blank.any():
        keep = pa.array(np.flatnonzero(~blank))
        rows, cols = rows[~blank], {f: c.take(keep) for f, c in cols.items()}
    if not len(rows):
        return None
    if layout.missing:
        codes[rows] = OUTCOMES["missing_field"]
        return None
    row_codes, columns = _check(cols, len(rows))
    codes[rows] = row_codes
    return columns


def _read_fields(data: bytes | pa.Buffer, layout: _Layout) -> tuple[dict[str, pa.Array], np.ndarray] | None:
    """The used fields of the lines of ``data`` as Arrow strings, ``-`` as null, in one Arrow CSV call; and the
    numbers (from 1, empty lines not counted) of the lines it refused for their field count. None if Arrow gives
    up."""
    names = [f"f{i}" for i in range(layout.n_fields)]
    wanted = {field: names[pos] for field, pos in layout.position.items()}
    columns = list(dict.fromkeys([*wanted.values(), names[0]]))  # one column at least: the rows are counted
    refused: list[int] = []

    def refuse(row: pacsv.InvalidRow) -> str:
        refused.append(row.number)
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=" ", quote_char=False, double_quote=False,
                                             escape_char=False, invalid_row_handler=refuse),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in columns},
                                                 include_columns=columns, null_values=["-"],
                                                 strings_can_be_null=True),
        )
    except pa.ArrowInvalid:
        return None
    if any(number is None or number < 1 for number in refused):
        return None
    cols = {field: table.column(col).combine_chunks() for field, col in wanted.items()}
    return cols or {"": table.column(names[0]).combine_chunks()}, np.array(refused, dtype=np.int64)


def _split_in_python(lines: _Lines, idx: np.ndarray, layout: _Layout) -> tuple[dict[str, pa.Array], np.ndarray,
                                                                              np.ndarray]:
    """What ``_read_fields`` gives, line by line: the reference, and the way out when Arrow gives up."""
    rows, refused, fields = [], [], []
    for i in idx.tolist():
        parts = lines.text(i).split(" ")
        (rows if len(parts) == layout.n_fields else refused).append(i)
        if len(parts) == layout.n_fields:
            fields.append(parts)
    cols = {f: pa.array([None if r[pos] == "-" else r[pos] for r in fields], pa.string())
            for f, pos in layout.position.items()}
    return cols or {"": pa.nulls(len(rows), pa.string())}, np.array(rows, dtype=np.int64), \
        np.array(refused, dtype=np.int64)


def _joined(parts: list[dict[str, pa.Array]]) -> dict[str, pa.Array]:
    """The flows of a block's stretches as one set of columns (a column a layout lacks is null in its rows)."""
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return {}
    names = [c for c in _COLUMNS if any(c in p for p in parts)]
    return {c: pa.concat_arrays([p[c] if c in p else pa.nulls(len(next(iter(p.values()))), _COLUMNS[c])
                                 for p in parts]) for c in names}


def _equal(col: pa.Array, value: str) -> np.ndarray:
    return _np(pc.equal(col, value))


def _check(cols: dict[str, pa.Array], n: int) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """Check every used field of ``n`` well-formed records at once (``-`` cells are null): each record's outcome
    code (0: a flow), and the flow columns of the records that are flows."""
    failures: list[tuple[np.ndarray, str]] = []  # (rows, outcome) in check order: the first that applies wins
    dash = {f: _np(pc.is_null(c)) for f, c in cols.items()}

    if "version" in cols:
        numeric, value = _unsigned(cols["version"])
        failures += [(~numeric, "invalid_version"), (numeric & (value < 2), "unsupported_version")]
    if "log-status" in cols:
        status = cols["log-status"]
        no_data, skip_data = _equal(status, "NODATA"), _equal(status, "SKIPDATA")
        failures += [(~(_equal(status, "OK") | no_data | skip_data), "invalid_log_status"),
                     (no_data, "no_data"), (skip_data, "skip_data")]
    if "flow-direction" in cols:
        direction = cols["flow-direction"]
        inbound = _equal(direction, "ingress")
        failures += [(~(_equal(direction, "egress") | inbound | dash["flow-direction"]), "invalid_flow_direction"),
                     (inbound, "inbound")]

    protocol = np.full(n, -1, dtype=np.int8)
    for code, (number, _) in enumerate(_PROTOCOLS):
        protocol[_equal(cols["protocol"], number)] = code
    failures.append((dash["protocol"], "missing_field"))
    if (protocol < 0).any():
        numeric, value = _unsigned(cols["protocol"])
        failures += [(~numeric | (value > 255), "invalid_protocol"), (protocol < 0, "unsupported_protocol")]
    for name in ("srcaddr", "dstaddr"):
        failures += [(dash[name], "missing_field"), (~ip_cells(cols[name]), "invalid_ip")]

    icmp = protocol == _ICMP
    src_port = None
    if "srcport" in cols:
        numeric, src_port = _unsigned(cols["srcport"])
        failures.append((~dash["srcport"] & ~(numeric & (src_port <= 65535)), "invalid_port"))
    numeric, dst_port = _unsigned(cols["dstport"])
    failures += [(dash["dstport"] & ~icmp, "missing_field"),
                 (~dash["dstport"] & ~(numeric & (dst_port <= 65535)), "invalid_port")]
    if src_port is not None and "flow-direction" not in cols:
        # Without a direction field, a record from a well-known port to an ephemeral one is the answer of a
        # server (the reply half of a connection the other side opened), not a connection this side opened.
        reply = ~icmp & ~dash["srcport"] & ~dash["dstport"] & (src_port < 1024) & (dst_port >= 1024)
        failures.append((reply, "reply"))

    times: dict[str, np.ndarray] = {}
    for name in ("start", "end"):
        if name in cols:
            numeric, times[name] = _unsigned(cols[name])
            failures.append((~dash[name] & ~(numeric & (times[name] <= _MAX_EPOCH)), "invalid_timestamp"))
    if "bytes" in cols:
        numeric, sent = _unsigned(cols["bytes"])
        failures.append((~dash["bytes"] & ~numeric, "invalid_bytes"))
    if "action" in cols:
        accept, reject = _equal(cols["action"], "ACCEPT"), _equal(cols["action"], "REJECT")
        failures.append((~(accept | reject | dash["action"]), "invalid_action"))

    codes = np.zeros(n, dtype=np.int16)
    for rows, reason in reversed(failures):
        if rows.any():
            codes[rows] = OUTCOMES[reason]
    if codes.any():
        keep = np.flatnonzero(codes == OUTCOMES.FLOW)
        pick = lambda values: values[keep]  # noqa: E731
        take = lambda array: pc.take(array, pa.array(keep))  # noqa: E731
    else:  # every record is a flow: no copies
        pick = take = lambda values: values  # noqa: E731

    out: dict[str, pa.Array] = {}
    if "start" in cols:
        out["ts"] = _ints(pick(times["start"]) * 1_000_000_000, pick(dash["start"])).cast(_COLUMNS["ts"])
    out["src_ip"] = take(cols["srcaddr"])
    out["dst_ip"] = take(cols["dstaddr"])
    out["dst_port"] = _ints(pick(dst_port), pick(dash["dstport"]))
    out["protocol"] = pc.take(_PROTOCOL_NAMES, pa.array(pick(protocol)))
    if "bytes" in cols:
        out["bytes_out"] = _ints(pick(sent), pick(dash["bytes"]))
        out["bytes_in"] = pa.nulls(len(out["bytes_out"]), pa.int64())
    if "action" in cols:
        observed = np.where(accept, 0, np.where(reject, 1, 2)).astype(np.int8)
        out["observed_action"] = pc.take(_OBSERVED, pa.array(pick(observed)))
    return codes, out


def _ints(values: np.ndarray, null: np.ndarray) -> pa.Array:
    return pa.array(values, type=pa.int64(), mask=null if null.any() else None)
