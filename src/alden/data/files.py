"""The one reader of a user's files: CSV, TSV and JSON Lines as a ``Table`` of strings.

Every command that reads a user's file (``init``, ``benchmark --dataset FILE``, ``predict``
and ``teach``) goes through ``read_table``, so a row has one line number everywhere: the line
of the file on which its record starts, the first line being 1 (a CSV header is line 1, a
quoted cell spanning lines keeps the line it starts on, and JSON Lines split at "\\n" only,
never at the Unicode line separators a JSON string may hold). Errors say where with ``at``,
"FILE, line N: ...", then name the column when one is at fault ("column 'text' has ...").

A delimited file's delimiter is detected (``detect_delimiter``: comma, semicolon, tab or pipe,
so a spreadsheet's export reads as it is) unless the caller forces one; a UTF-8 BOM and CRLF
line ends are read as they come. Messages about a file's columns say how it was split.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from alden.errors import DataError

# File types by extension: the delimiter of a delimited file, None for JSON Lines. Detection
# falls back on it when no candidate splits the header (a file of one column).
SUFFIXES: dict[str, str | None] = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".jsonl": None,
                                   ".ndjson": None}
# The delimiters detection tries, by their names in messages.
DELIMITERS: dict[str, str] = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
SAMPLE_RECORDS = 100  # records read to choose a delimiter


def at(path: object, line: int | None = None) -> str:
    """Where something is, in the one format of every message: "FILE, line N"."""
    return str(path) if line is None else f"{path}, line {line}"


@dataclass(frozen=True)
class Table:
    """A file's rows of strings, each with the file and line it starts on."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    lines: list[int]  # line of the row in its file
    files: list[Path] | None = None  # the file of each row when files were stacked
    delimiter: str | None = None  # how a delimited file was split (None: JSON Lines, a db)

    def file(self, i: int) -> Path:
        """The file row ``i`` comes from."""
        return self.files[i] if self.files else self.path

    def where(self, i: int) -> str:
        """'file, line N' of row ``i``, for error messages."""
        return at(self.file(i), self.lines[i])

    def column(self, name: str, option: str | None = None) -> int:
        """Index of column ``name``; a DataError listing the columns there are otherwise
        (and the option that named the column, when given)."""
        if name not in self.header:
            hint = f"; name the right one with {option}" if option else ""
            if self.delimiter and (looks := looks_split_by(self.header, self.delimiter)):
                hint = f" (read as {split_by(self.delimiter)}){looks}"  # not another name
            raise DataError(f"{self.path}: no column {name!r}; the columns are "
                            + ", ".join(repr(c) for c in self.header) + hint)
        return self.header.index(name)


def decode_file(path: Path, encoding: str = "utf-8", *, option: str | None = "--encoding"
                ) -> str:
    """Read a whole text file; undecodable bytes are a DataError naming the line.

    ``option`` is the command-line option that sets the encoding, named in the message; with
    None the message asks for UTF-8 instead.
    """
    try:
        data = Path(path).read_bytes()
    except IsADirectoryError:
        raise DataError(f"{path} is a folder, expected a file") from None
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read it ({err.strerror})") from None
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        return data.decode(codec)
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        if option is None:
            raise DataError(f"{at(path, line)}: not UTF-8 text (byte {data[err.start]:#04x}); "
                            "save the file as UTF-8") from None
        raise DataError(f"{at(path, line)}: byte {data[err.start]:#04x} is not valid "
                        f"{encoding}; {_guess_encoding(data, option)}") from None
    except LookupError:
        raise DataError(f"unknown encoding {encoding!r} for {path}") from None


def _guess_encoding(data: bytes, option: str) -> str:
    """What to try for bytes that are not UTF-8: Windows-1252 (Excel's CSV on Windows) where
    its printable bytes 0x80-0x9f (curly quotes, dashes, the euro sign) occur, else Latin-1."""
    try:
        data.decode("cp1252")
        windows = any(0x80 <= b <= 0x9F for b in data)
    except UnicodeDecodeError:
        windows = False
    if windows:
        return (f"it reads as Windows-1252 (bytes 0x80-0x9f there are quotes, dashes and the "
                f"like): give {option} cp1252")
    return f"if the file has another encoding, give it, e.g. {option} latin-1"


def read_table(path: str | Path, *, encoding: str = "utf-8", ragged: bool = False,
               encoding_option: str | None = "--encoding", delimiter: str | None = None,
               need_rows: bool = True) -> Table:
    """A CSV/TSV/JSON Lines file as a Table of strings, the format chosen by the extension.

    A delimited file is split at ``delimiter``, else at the one ``detect_delimiter`` finds.
    With ``ragged`` a delimited row with another number of fields than the header is kept
    as it is (the caller reports it) instead of failing the file.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(f"{path}: unknown file type {suffix or '(none)'}; expected one of "
                        + ", ".join(SUFFIXES))
    text = decode_file(path, encoding, option=encoding_option)
    if SUFFIXES[suffix] is None:
        return parse_json_lines(path, text)
    return parse_delimited(path, text, delimiter=delimiter, ragged=ragged,
                           need_rows=need_rows)


def read_delimited(path: Path, *, delimiter: str = ",", header: Sequence[str] | None = None,
                   encoding: str = "utf-8", skip_lines: int = 0,
                   skipinitialspace: bool = False) -> Table:
    """Parse a CSV/TSV file: its first row is the header unless ``header`` names the columns."""
    return parse_delimited(Path(path), decode_file(path, encoding), delimiter=delimiter,
                           header=header, skip_lines=skip_lines,
                           skipinitialspace=skipinitialspace)


def allow_fields_of(size: int) -> None:
    """Let the csv module read a field as long as ``size`` characters (its default limit,
    131,072, refuses a long text in one cell; no field is longer than its file)."""
    if csv.field_size_limit() < size:
        csv.field_size_limit(size)


def shown(delimiter: str) -> str:
    """A delimiter as one types it on a command line: ';', tab."""
    return "tab" if delimiter == "\t" else repr(delimiter)


def split_by(delimiter: str) -> str:
    """'semicolon-separated', "'#'-separated": how a file was split, in words."""
    return f"{DELIMITERS.get(delimiter, repr(delimiter))}-separated"


def looks_split_by(header: Sequence[str], delimiter: str) -> str:
    """'; the header looks semicolon-separated: give --delimiter ';'' when a header read
    with ``delimiter`` is one column holding another candidate ('id;label' read with
    commas), else ''."""
    other = next((d for d in DELIMITERS if d != delimiter and len(header) == 1
                  and d in header[0]), None)
    if other is None:
        return ""
    return f"; the header looks {split_by(other)}: give --delimiter {shown(other)}"


def detect_delimiter(path: Path, text: str, default: str = ",") -> str:
    """The delimiter of a delimited text: the candidate (comma, semicolon, tab, pipe) that
    splits the header into two columns or more and the most of the first records into as
    many fields as the header; ``default`` when none splits the header (one column).

    Each candidate is tried by parsing the sample (quotes respected), not by counting
    characters as ``csv.Sniffer`` does, which guesses wrong on a few rows or quoted commas.
    Two candidates that fit equally well are a DataError naming both, for --delimiter.
    """
    allow_fields_of(len(text) + 1)
    fits: dict[str, tuple[int, float]] = {}
    for candidate in DELIMITERS:
        records = _sample(text, candidate)
        if records and len(records[0]) > 1:
            width = len(records[0])
            rows = records[1:]
            fits[candidate] = (width, sum(len(r) == width for r in rows) / len(rows)
                               if rows else 1.0)
    if not fits:
        return default
    best = max(fit for _, fit in fits.values())
    top = [d for d, (_, fit) in fits.items() if fit == best]
    if len(top) == 1:
        return top[0]
    readings = " or ".join(f"{split_by(d)} ({fits[d][0]} columns)" for d in top)
    raise DataError(f"{path}: cannot tell the delimiter: the file reads as {readings}; "
                    f"say which with --delimiter, e.g. --delimiter {shown(top[0])}")


def _sample(text: str, delimiter: str) -> list[list[str]]:
    """The first ``SAMPLE_RECORDS`` non-empty records of ``text`` split at ``delimiter``
    (those read before a parse error, if any)."""
    records: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            if row:
                records.append(row)
            if len(records) == SAMPLE_RECORDS:
                break
    except csv.Error:
        pass  # the parse proper reports it, with its line
    return records


def parse_delimited(path: Path, text: str, *, delimiter: str | None = ",",
                    header: Sequence[str] | None = None, skip_lines: int = 0,
                    skipinitialspace: bool = False, ragged: bool = False,
                    need_rows: bool = True) -> Table:
    """Rows of a delimited text, each with the line its record starts on; with ``delimiter``
    None it is detected (falling back on the extension's, see ``SUFFIXES``)."""
    if not text.strip():
        raise DataError(f"{path} is empty")
    allow_fields_of(len(text) + 1)
    if delimiter is None:
        delimiter = detect_delimiter(path, text, SUFFIXES.get(Path(path).suffix.lower()) or ",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter,
                        skipinitialspace=skipinitialspace)
    rows: list[list[str]] = []
    lines: list[int] = []
    start = 1
    try:
        for row in reader:
            line, start = start, reader.line_num + 1
            if line <= skip_lines or not row:  # an empty line; "  " is an empty value
                continue
            if header is None:
                header = [cell.strip() for cell in row]
                continue
            if len(row) != len(header) and not ragged:
                raise DataError(f"{at(path, line)}: {len(row)} fields, expected "
                                f"{len(header)} like the header (read as {split_by(delimiter)}; "
                                f"the columns are {', '.join(map(repr, header))})"
                                + looks_split_by(header, delimiter))
            rows.append(row)
            lines.append(line)
    except csv.Error as err:
        raise DataError(f"{at(path, start)}: {err}") from None
    if not rows and need_rows:
        raise DataError(f"{path} has a header but no rows")
    return Table(Path(path), list(header or []), rows, lines, delimiter=delimiter)


def read_json_lines(path: Path, *, encoding: str = "utf-8") -> Table:
    """JSON Lines, one object per line, as a Table (columns: keys in order of appearance)."""
    return parse_json_lines(Path(path), decode_file(path, encoding))


def parse_json_lines(path: Path, text: str) -> Table:
    """The objects of a JSON Lines text; lines split at "\\n" only (see the module)."""
    if not text.strip():
        raise DataError(f"{path} is empty")
    records: list[dict] = []
    lines: list[int] = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{at(path, number)}: not valid JSON ({err.msg} at character "
                            f"{err.colno})") from None
        if not isinstance(record, dict):
            raise DataError(f"{at(path, number)}: expected a JSON object {{...}}, "
                            f"found {type(record).__name__}")
        records.append(record)
        lines.append(number)
    header = list(dict.fromkeys(key for record in records for key in record))
    rows = [[json_cell(record.get(key)) for key in header] for record in records]
    return Table(Path(path), header, rows, lines)


def json_cell(value: object) -> str:
    """A JSON value as a cell's string: null is empty, strings as they are, the rest as JSON."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)
