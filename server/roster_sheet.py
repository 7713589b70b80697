"""Roster files as a table of text cells: CSV (UTF-8) or an Excel workbook (XLSX).

The registrar exports rosters from Excel; saving them as CSV loses leading zeros and mangles
encodings, so the XLSX file itself is accepted. The format is told from the file's first bytes,
not its name: ``PK`` (a zip container) is XLSX, anything else is read as CSV. The legacy binary
XLS format (an OLE2 container) is refused with a message: openpyxl, the reader used here, reads
only the Office Open XML formats, and a second reader for a format Excel stopped writing in 2007
is not worth its weight.

Every cell becomes text the way a person reads it in the spreadsheet: a whole number stays a
whole number (``13800138000``, not ``1.3800138E10``), an empty cell is ``""``. Only the first
worksheet is read.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

MAX_UNPACKED_BYTES = 200 * 1024 * 1024  # a 20 MiB XLSX that unpacks past this is a zip bomb, not a roster
MAX_ROWS = 1_000_000

_XLSX_MAGIC = b"PK\x03\x04"
_XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class SheetError(Exception):
    """The file cannot be read (further) as a table; ``str(exc)`` says why, in words for the admin.

    ``line`` is the line or row where reading stopped (1: the file as a whole).
    """

    def __init__(self, message: str, line: int = 1) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True, slots=True)
class Table:
    """A roster file as text.

    Attributes:
        kind: ``"csv"`` or ``"xlsx"``.
        sheet: the worksheet read (XLSX only, else ``""``).
        header: the header row's cells.
        rows: ``(number, cells)`` for each later row; ``number`` is the CSV line where the record
            ends, or the spreadsheet row number. Reading may raise :class:`SheetError` part-way
            (a CSV syntax error), after the rows before it.
    """

    kind: str
    sheet: str
    header: list[str]
    rows: Iterator[tuple[int, list[str]]]


def read_table(data: bytes) -> Table:
    """Open a roster file's bytes as a :class:`Table`.

    Raises:
        SheetError: legacy XLS, a damaged or oversized XLSX, text that is not UTF-8, no header row.
    """
    if data.startswith(_XLS_MAGIC):
        raise SheetError("this is a legacy Excel 97-2003 .xls file; save it as Excel Workbook (.xlsx) or "
                         "CSV UTF-8 and upload that")
    if data.startswith(_XLSX_MAGIC):
        return _read_xlsx(data)
    return _read_csv(data)


def _read_csv(data: bytes) -> Table:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SheetError(f"the file is not UTF-8 (byte {exc.start}); save it as CSV UTF-8 or XLSX") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise SheetError("the file is empty; expected a header row") from None
    except csv.Error as exc:
        raise SheetError(f"not a CSV file: {exc}") from exc

    def rows() -> Iterator[tuple[int, list[str]]]:
        while True:
            try:
                raw = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise SheetError(f"not valid CSV: {exc}", reader.line_num) from exc
            yield reader.line_num, raw

    return Table("csv", "", header, rows())


def _read_xlsx(data: bytes) -> Table:
    import openpyxl  # imported here: only an XLSX upload pays for it
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            unpacked = sum(i.file_size for i in zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SheetError(f"the file starts like an XLSX workbook but is damaged ({exc}); save it again "
                         f"from Excel") from exc
    if unpacked > MAX_UNPACKED_BYTES:
        raise SheetError(f"the workbook unpacks to {unpacked} bytes; at most {MAX_UNPACKED_BYTES}")
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = book.worksheets[0]
        it = sheet.iter_rows(values_only=True)
        first = next(it, None)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError,
            IndexError, SyntaxError) as exc:  # openpyxl lets the XML/zip layer's errors through
        raise SheetError(f"the XLSX workbook cannot be read ({type(exc).__name__}: {exc}); save it again "
                         f"from Excel") from exc
    if first is None:
        raise SheetError(f"worksheet {sheet.title!r} is empty; expected a header row")

    def rows() -> Iterator[tuple[int, list[str]]]:
        number = 1
        try:
            for values in it:
                number += 1
                if number > MAX_ROWS:
                    raise SheetError(f"worksheet {sheet.title!r} has more than {MAX_ROWS} rows", number)
                yield number, [cell_text(v) for v in values]
        except (KeyError, ValueError, TypeError, SyntaxError, zipfile.BadZipFile) as exc:
            raise SheetError(f"the worksheet is damaged from here on ({type(exc).__name__})", number + 1) from exc
        finally:
            book.close()

    return Table("xlsx", sheet.title, [cell_text(v) for v in first], rows())


def cell_text(value: object) -> str:
    """One spreadsheet cell as the text a person sees: None → "", 42.0 → "42", a date → ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e18 else repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)
