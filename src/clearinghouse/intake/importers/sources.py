"""Sources: how a scanner's file is opened and cut into records, in constant memory.

``JsonLines`` reads one line at a time in binary and decodes each strictly (UTF-8, no duplicate
keys, no NaN); a line longer than its limit is skipped without being held. ``JsonDocument`` reads
one JSON document whole, so it refuses files over a size limit before reading them. ``SqliteSource``
opens a database read-only and checks that the tables and columns its subclass needs are there.
"""

from __future__ import annotations

import os
import sqlite3
from abc import abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, ClassVar

from clearinghouse.intake.importers.base import (
    ProgressCallback,
    RawRecord,
    SkippedRecord,
    Source,
    UnreadableFile,
)
from clearinghouse.intake.schema import SubmissionError, parse_json_bytes

MIB = 1024 * 1024
_PROGRESS_EVERY_BYTES = 256 * 1024
_PROGRESS_EVERY_RECORDS = 200


def _open(path: Path) -> BinaryIO:
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise UnreadableFile(f"{path} does not exist") from None
    except IsADirectoryError:
        raise UnreadableFile(f"{path} is a directory, not a file") from None
    except OSError as error:
        raise UnreadableFile(f"cannot open {path}: {error.strerror or error}") from None
    return handle


def _open_nonempty(path: Path) -> tuple[BinaryIO, int]:
    """The file open for reading and its size; an empty file is an error like a missing one."""
    handle = _open(path)
    size = os.fstat(handle.fileno()).st_size
    if size == 0:
        handle.close()
        raise UnreadableFile(f"{path.name} is empty")
    return handle, size


def decode_json_record(raw: bytes) -> object:
    """Strict UTF-8 and strict JSON (the rules of intake/schema.py). Raises SubmissionError with a
    ``reason`` that names the column, not "the body"."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SubmissionError(
            None, f"invalid byte at column {error.start + 1}", code="invalid_encoding"
        ) from None
    try:
        return parse_json_bytes(raw)
    except SubmissionError as error:
        reason = error.reason.removeprefix("malformed JSON: ").replace(
            " at line 1 column ", " at column "
        )
        raise SubmissionError(error.field, reason, code=error.code) from None


def _decode_skip(number: int, error: SubmissionError) -> SkippedRecord:
    if error.code == "invalid_encoding":
        return SkippedRecord(number, "not valid UTF-8", error.reason)
    if error.field is not None:  # a duplicate key is the only error that names a field
        return SkippedRecord(number, "not valid JSON", f"{error.reason}: {error.field!r}")
    return SkippedRecord(number, "not valid JSON", error.reason)


@dataclass(frozen=True)
class JsonLines(Source):
    """One JSON value per line. Blank lines are passed over; line numbers count them."""

    max_line_bytes: int = 16 * MIB
    record_unit: ClassVar[str] = "line"
    progress_unit: ClassVar[str] = "bytes"

    def records(
        self, path: Path, progress: ProgressCallback
    ) -> Iterator[RawRecord | SkippedRecord]:
        handle, size = _open_nonempty(path)
        with handle:
            progress(0, size)
            done = reported = number = seen = 0
            while True:
                try:
                    line = handle.readline(self.max_line_bytes + 1)
                except OSError as error:
                    raise UnreadableFile(f"reading {path.name} failed: {error}") from None
                if not line:
                    break
                number += 1
                done += len(line)
                if len(line) > self.max_line_bytes and not line.endswith(b"\n"):
                    done += _discard_rest_of_line(handle)
                    yield SkippedRecord(
                        number,
                        "line too long",
                        f"over {self.max_line_bytes // MIB} MiB; not read into memory",
                    )
                elif line.strip():
                    seen += 1
                    try:
                        value = decode_json_record(line)
                    except SubmissionError as error:
                        yield _decode_skip(number, error)
                    else:
                        yield RawRecord(number, value)
                if done - reported >= _PROGRESS_EVERY_BYTES:
                    reported = done
                    progress(done, max(size, done))
            progress(done, max(size, done))
            if number > 0 and seen == 0:
                raise UnreadableFile(f"{path.name} holds only blank lines")


def _discard_rest_of_line(handle: BinaryIO) -> int:
    """Read and drop the rest of an over-long line, a megabyte at a time; the bytes dropped."""
    dropped = 0
    while chunk := handle.readline(MIB):
        dropped += len(chunk)
        if chunk.endswith(b"\n"):
            break
    return dropped


@dataclass(frozen=True)
class JsonDocument(Source):
    """One JSON object whose records are the array at ``records_at`` (a path of keys).

    The standard library has no streaming JSON parser, so the document is read whole: files over
    ``max_bytes`` are refused with an error that says so. The document itself is yielded first as
    the header record (number 0, ``header=True``), then each element of the array (numbers from 1).
    """

    records_at: tuple[str, ...] = ("results",)
    max_bytes: int = 64 * MIB
    record_unit: ClassVar[str] = "result"
    progress_unit: ClassVar[str] = "records"

    def records(
        self, path: Path, progress: ProgressCallback
    ) -> Iterator[RawRecord | SkippedRecord]:
        handle, size = _open_nonempty(path)
        with handle:
            if size > self.max_bytes:
                raise UnreadableFile(
                    f"{path.name} is {size / MIB:.1f} MiB; this importer reads one JSON document "
                    f"into memory and accepts at most {self.max_bytes // MIB} MiB"
                )
            raw = handle.read(self.max_bytes + 1)
        if len(raw) > self.max_bytes:
            raise UnreadableFile(f"{path.name} grew past {self.max_bytes // MIB} MiB while read")
        try:
            document = decode_json_record(raw)
        except SubmissionError as error:
            raise UnreadableFile(f"{path.name} is not valid JSON: {error.reason}") from None
        del raw
        where = ".".join(self.records_at)
        items: object = document
        for key in self.records_at:
            items = items.get(key) if isinstance(items, dict) else None
        if not isinstance(items, list):
            raise UnreadableFile(f"{path.name} has no array at {where!r}")
        total = len(items)
        progress(0, total)
        yield RawRecord(0, document, header=True)
        for index, item in enumerate(items, start=1):
            yield RawRecord(index, item)
            if index % _PROGRESS_EVERY_RECORDS == 0:
                progress(index, total)
        progress(total, total)


class SqliteSource(Source):
    """A SQLite database opened read-only; subclasses name the columns they need and cut records.

    ``required_columns`` maps each table to the columns read from it: a database without one of
    them is refused with an error naming every one that is missing (and, when ``version_table``
    exists, the schema revision found beside the one the importer was written for).
    """

    schema_name: ClassVar[str]
    required_columns: ClassVar[Mapping[str, tuple[str, ...]]]
    version_table: ClassVar[str | None] = None
    known_version: ClassVar[str] = ""
    record_unit: ClassVar[str] = "conversation"
    progress_unit: ClassVar[str] = "conversations"

    def records(
        self, path: Path, progress: ProgressCallback
    ) -> Iterator[RawRecord | SkippedRecord]:
        _open(path).close()  # the same clear errors as the other sources for a missing file
        try:
            connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as error:
            raise UnreadableFile(f"cannot open {path.name} as SQLite: {error}") from None
        try:
            connection.row_factory = sqlite3.Row
            self._check_schema(connection, path)
            yield from self.rows(connection, progress)
        except sqlite3.DatabaseError as error:
            raise UnreadableFile(f"{path.name}: {error}") from None
        finally:
            connection.close()

    def _check_schema(self, connection: sqlite3.Connection, path: Path) -> None:
        try:
            tables = [
                str(row[0])
                for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            ]
        except sqlite3.DatabaseError as error:
            raise UnreadableFile(f"{path.name} is not a SQLite database ({error})") from None
        columns = {table: self._columns(connection, table) for table in tables}
        missing: list[str] = []
        for table, needed in self.required_columns.items():
            if table not in columns:
                missing.append(f"table {table}")
                continue
            missing.extend(
                f"column {table}.{name}" for name in needed if name not in columns[table]
            )
        if not missing:
            return
        found = self._schema_version(connection, tables)
        hint = ""
        if found is not None:
            hint = f" (its schema revision is {found}; this importer reads {self.known_version})"
        raise UnreadableFile(
            f"{path.name} is not a {self.schema_name} this importer can read{hint}: "
            f"missing {', '.join(missing)}"
        )

    @staticmethod
    def _columns(connection: sqlite3.Connection, table: str) -> set[str]:
        quoted = table.replace('"', '""')
        return {str(row[1]) for row in connection.execute(f'PRAGMA table_info("{quoted}")')}

    def _schema_version(self, connection: sqlite3.Connection, tables: list[str]) -> str | None:
        if self.version_table is None or self.version_table not in tables:
            return None
        quoted = self.version_table.replace('"', '""')
        try:
            row = connection.execute(f'SELECT version_num FROM "{quoted}" LIMIT 1').fetchone()  # noqa: S608 - a class constant
        except sqlite3.Error:
            return None
        return str(row[0]) if row is not None else None

    @abstractmethod
    def rows(
        self, connection: sqlite3.Connection, progress: ProgressCallback
    ) -> Iterator[RawRecord | SkippedRecord]:
        """Yield one record per candidate finding, reading a bounded amount for each."""
