"""Bulk decoding of reading batches into numpy columns.

``ReadingDecoder.decode`` turns the values of one poll() batch into columns
(point index, sensor id, kind code, event time in int64 ns UTC, value in the
kind's canonical unit) and a list of rejects with precise reasons.

The rules are those of ``streams.schemas.Reading`` (required fields, types,
id pattern, known kind, valid unit, time-zone-aware time, finite value,
``schema_version`` 1, no extra fields). The fast path accepts a strict subset
of what ``Reading`` accepts, checked column by column:

- the value is a JSON object with exactly the six fields (plus an optional
  ``schema_version`` that is the integer 1);
- ``point_id`` is a known risk point (unknown ones are rejected with
  ``unknown risk point 'X'``);
- ``sensor_id`` matches the identifier pattern (checked once per distinct id);
- ``(kind, unit)`` is a valid pair (conversion factor cached per pair);
- ``observed_at`` is ``YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM)``, parsed
  arithmetically on the whole column;
- ``value`` is a JSON number and finite.

Every record outside that subset is validated on its own with
``Reading.model_validate``: it is rejected with pydantic's message, or, when
pydantic accepts it (a Unix time stamp, a number in a string, ...), decoded
from the validated model. So both paths apply the same rules by construction.
One rule is added: a value that overflows when converted to the canonical
unit is rejected, as no model can use it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter

import numpy as np
import orjson
from pydantic import ValidationError

from streams.schemas import Reading
from streams.scorer_state import KIND_CODE, SeriesIndex
from streams.units import UnitError, unit_factor

log = logging.getLogger(__name__)

_FIELDS = ("point_id", "sensor_id", "kind", "observed_at", "value", "unit")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_S = 1_000_000_000
_MAX_TIME_LEN = 32  # "YYYY-MM-DDTHH:MM:SS.ffffff+HH:MM"


@dataclass(frozen=True)
class Reject:
    """A record of the batch that could not be decoded, by its position in the batch."""

    index: int
    reason: str


def datetime_to_ns(value: datetime) -> int:
    """Nanoseconds since the Unix epoch of a time-zone-aware datetime (exact)."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _NS_PER_S + delta.microseconds * 1000


def ns_to_datetime(ns: int) -> datetime:
    """The UTC datetime of nanoseconds since the epoch (truncated to microseconds)."""
    seconds, rest = divmod(int(ns), _NS_PER_S)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000)


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (m + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def parse_times(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Parse ISO 8601 times with a UTC offset in bulk: (ns since epoch int64, ok mask).

    Accepts exactly ``YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|+HH:MM|-HH:MM)`` with a
    real calendar date, hours 0-23, minutes and seconds 0-59, offsets up to
    23:59 and years 1900-2999; ``ok`` is False for anything else (the caller
    validates those records one by one). ``texts`` must hold strings only.
    """
    n = len(texts)
    ns = np.zeros(n, dtype=np.int64)
    if n == 0:
        return ns, np.zeros(0, dtype=bool)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n)
    joined = "".join(texts)
    if not joined.isascii():
        ascii_rows = np.fromiter(map(str.isascii, texts), dtype=bool, count=n)
        where = np.flatnonzero(ascii_rows)
        if where.size:
            sub_ns, sub_ok = parse_times([texts[j] for j in where])
            ns[where] = sub_ns
            ok = np.zeros(n, dtype=bool)
            ok[where] = sub_ok
            return ns, ok
        return ns, np.zeros(n, dtype=bool)
    buffer = np.frombuffer(joined.encode("ascii") + bytes(_MAX_TIME_LEN + 1), dtype=np.uint8)
    starts = np.cumsum(lengths) - lengths
    ok = (lengths >= 20) & (lengths <= _MAX_TIME_LEN)
    # One contiguous row per character position: (19, n), small integers.
    head = buffer[_HEAD_POSITIONS + starts]
    raw_digit = head - np.uint8(48)  # wraps below '0': one comparison tests 0..9
    ok &= (raw_digit[_DATE_DIGITS] < 10).all(axis=0)
    ok &= (head[_DATE_SEPARATORS] == _DATE_SEPARATOR_CODES).all(axis=0)
    digit = raw_digit.astype(np.int32)
    year = digit[0] * 1000 + digit[1] * 100 + digit[2] * 10 + digit[3]
    month = digit[5] * 10 + digit[6]
    day = digit[8] * 10 + digit[9]
    hour = digit[11] * 10 + digit[12]
    minute = digit[14] * 10 + digit[15]
    second = digit[17] * 10 + digit[18]
    ok &= (year >= 1900) & (year <= 2999) & (month >= 1) & (month <= 12) & (day >= 1)
    ok &= (hour <= 23) & (minute <= 59) & (second <= 59)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    ok &= day <= _DAYS_IN_MONTH[np.clip(month, 0, 12)] + ((month == 2) & leap)

    # The tail (".ffffff" and "Z" or "+HH:MM") has few distinct layouts: one pass per layout.
    zulu = buffer[starts + lengths - 1] == ord("Z")
    tail_len = lengths - 19 - np.where(zulu, 1, 6)  # length of ".fff" (0 without a fraction)
    frac_ns = np.zeros(n, dtype=np.int64)
    offset_s = np.zeros(n, dtype=np.int64)
    layout_ok = np.zeros(n, dtype=bool)
    for tail in np.unique(tail_len[ok]).tolist():
        if tail != 0 and not 2 <= tail <= 7:
            continue
        rows = np.flatnonzero(ok & (tail_len == tail))
        width = tail + 6
        chunk = buffer[np.arange(19, 19 + width)[:, None] + starts[rows]].astype(np.int32)
        good = np.ones(rows.size, dtype=bool)
        if tail:
            good &= chunk[0] == ord(".")
            fdig = chunk[1:tail] - 48
            good &= ((fdig >= 0) & (fdig <= 9)).all(axis=0)
            frac_ns[rows] = (fdig.astype(np.int64) * _FRACTION_SCALE[: tail - 1, None]).sum(axis=0)
        is_z = zulu[rows]
        if is_z.all():
            layout_ok[rows] = good
            continue
        off = chunk[tail:tail + 6]
        odig = off[[1, 2, 4, 5]] - 48
        offset_ok = ((off[0] == ord("+")) | (off[0] == ord("-"))) & (off[3] == ord(":"))
        offset_ok &= ((odig >= 0) & (odig <= 9)).all(axis=0)
        hh = odig[0] * 10 + odig[1]
        mm = odig[2] * 10 + odig[3]
        offset_ok &= (hh <= 23) & (mm <= 59)
        sign = np.where(off[0] == ord("-"), -1, 1)
        offset_s[rows] = np.where(is_z, 0, sign * (hh * 3600 + mm * 60))
        good &= is_z | offset_ok
        layout_ok[rows] = good
    ok &= layout_ok
    days = _days_from_civil(year.astype(np.int64), month.astype(np.int64), day.astype(np.int64))
    seconds = days * 86_400 + (hour * 3600 + minute * 60 + second).astype(np.int64)
    ns = np.where(ok, (seconds - offset_s) * _NS_PER_S + frac_ns, 0)
    return ns, ok


_HEAD_POSITIONS = np.arange(19, dtype=np.int64)[:, None]
_DATE_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
_DATE_SEPARATORS = [4, 7, 10, 13, 16]
_DATE_SEPARATOR_CODES = np.array([ord(c) for c in "--T::"], dtype=np.uint8)[:, None]
_FRACTION_SCALE = np.array([10 ** (8 - k) for k in range(6)], dtype=np.int64)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = []
        for error in exc.errors(include_url=False):
            where = ".".join(str(part) for part in error["loc"])
            parts.append(f"{where}: {error['msg']}" if where else error["msg"])
        return "invalid reading: " + "; ".join(parts)
    return f"invalid reading: {exc}"


@dataclass(frozen=True)
class DecodedReadings:
    """Columns of the accepted readings of one batch (same length each).

    index: position of the record in the batch (int64).
    series: slot of (point, sensor, kind) in the decoder's ``SeriesIndex`` (int64).
    point: index of the risk point in ``SeriesIndex.point_ids`` (int32).
    kind: kind code, ``KINDS[code]`` (int8).
    observed_ns: event time, nanoseconds since 1970-01-01T00:00:00Z (int64).
    value: value in the kind's canonical unit (float64).
    """

    index: np.ndarray
    series: np.ndarray
    point: np.ndarray
    kind: np.ndarray
    observed_ns: np.ndarray
    value: np.ndarray

    def __len__(self) -> int:
        return len(self.index)


_GET_KEY = itemgetter("point_id", "sensor_id", "kind")
_GET_PAIR = itemgetter("kind", "unit")
_GET_TIME = itemgetter("observed_at")
_GET_VALUE = itemgetter("value")
_BAD = object()


class ReadingDecoder:
    """Decodes batches of reading values against a registry of known points.

    Holds the ``SeriesIndex`` (points and series registered on first sight)
    and caches the unit factor of every (kind, unit) pair it has seen.
    """

    def __init__(self, known_points: Mapping[str, str] | None = None,
                 index: SeriesIndex | None = None) -> None:
        self.index = index or SeriesIndex()
        self._pairs: dict[tuple[str, str], int] = {}
        self._pair_factor: list[float] = []
        if known_points is not None:
            self.index.set_known_points(known_points)

    def set_known_points(self, known_points: Mapping[str, str]) -> int:
        return self.index.set_known_points(known_points)

    def decode(self, values: Sequence[bytes | None]) -> tuple[DecodedReadings, list[Reject]]:
        """Decode raw message values; return accepted columns and rejects (by batch position)."""
        n = len(values)
        rejects: list[Reject] = []
        try:
            objects = list(map(orjson.loads, values))
            positions = np.arange(n, dtype=np.int64)
        except (orjson.JSONDecodeError, TypeError):
            objects, positions = self._loads_each(values, rejects)
        slow: list[int] = []  # positions in the batch to validate one by one with pydantic

        # 1. JSON objects with the six fields, plus at most schema_version == 1.
        if set(map(type, objects)) != {dict} and objects:
            is_dict = np.fromiter((type(obj) is dict for obj in objects), dtype=bool,
                                  count=len(objects))
            objects, positions = _split(objects, positions, is_dict, slow)
        sizes = np.fromiter(map(len, objects), dtype=np.int64, count=len(objects))
        shape_ok = sizes == 6
        for j in np.flatnonzero(sizes == 7).tolist():
            version = objects[j].get("schema_version", _BAD)
            shape_ok[j] = type(version) is int and version == 1
        if not shape_ok.all():
            objects, positions = _split(objects, positions, shape_ok, slow)
        try:
            keys = list(map(_GET_KEY, objects))
            pairs = list(map(_GET_PAIR, objects))
            times = list(map(_GET_TIME, objects))
            raw_values = list(map(_GET_VALUE, objects))
        except KeyError:
            has_all = np.fromiter((all(f in obj for f in _FIELDS) for obj in objects), dtype=bool,
                                  count=len(objects))
            objects, positions = _split(objects, positions, has_all, slow)
            keys = list(map(_GET_KEY, objects))
            pairs = list(map(_GET_PAIR, objects))
            times = list(map(_GET_TIME, objects))
            raw_values = list(map(_GET_VALUE, objects))
        m = len(objects)
        good = np.ones(m, dtype=bool)

        # 2. Series (point, sensor, kind): known slots, or registered after checking the key.
        index = self.index
        try:
            slots = list(map(index.slot_of.get, keys))
        except TypeError:  # an unhashable field: look each up on its own
            slots = [self._slot(key) for key in keys]
        if None in slots:
            slots = [self._slot(key) if slot is None else slot for slot, key in zip(slots, keys)]
        series = np.asarray(slots, dtype=np.int64) if m else np.zeros(0, dtype=np.int64)
        good &= series >= 0
        safe_series = np.where(good, series, 0)
        point = index.series_point[safe_series] if index.n_series else np.zeros(m, np.int32)
        good &= index.point_known[point] if index.n_points else False  # left the registry?

        # 3. Units: the conversion factor is cached per (kind, unit).
        try:
            pair_ids = list(map(self._pairs.get, pairs))
        except TypeError:
            pair_ids = [self._pair(pair) for pair in pairs]
        if None in pair_ids:
            pair_ids = [self._pair(pair) if p is None else p for p, pair in zip(pair_ids, pairs)]
        factors = np.asarray(self._pair_factor + [np.nan], dtype=np.float64)
        factor = factors[np.asarray(pair_ids, dtype=np.int64)] if m else np.zeros(0)
        good &= np.isfinite(factor)

        # 4. Values: JSON numbers (not booleans), finite.
        if set(map(type, raw_values)) <= {float, int}:
            raw = np.asarray(raw_values, dtype=np.float64) if m else np.zeros(0)
        else:
            numeric = [type(v) is float or type(v) is int for v in raw_values]
            raw = np.fromiter((float(v) if ok else np.nan for v, ok in zip(raw_values, numeric)),
                              dtype=np.float64, count=m)
        good &= np.isfinite(raw)
        with np.errstate(over="ignore", invalid="ignore"):
            value = raw * factor

        # 5. Times.
        if set(map(type, times)) <= {str}:
            observed, time_ok = parse_times(times)
        else:
            observed = np.zeros(m, dtype=np.int64)
            time_ok = np.zeros(m, dtype=bool)
            where = [j for j, t in enumerate(times) if type(t) is str]
            if where:
                observed[where], time_ok[where] = parse_times([times[j] for j in where])
        good &= time_ok

        overflow = good & ~np.isfinite(value)
        for j in np.flatnonzero(overflow).tolist():
            rejects.append(Reject(int(positions[j]), _OVERFLOW))
        good &= ~overflow
        if not good.all():
            slow.extend(positions[~good & ~overflow].tolist())
            keep = np.flatnonzero(good)
            positions, series, point, observed, value = (
                positions[keep], series[keep], point[keep], observed[keep], value[keep])
        columns = {"index": positions, "series": series, "point": point.astype(np.int32),
                   "kind": index.series_kind[series] if len(series) else np.zeros(0, np.int8),
                   "observed_ns": observed, "value": value}
        if slow:
            self._validate_each(values, sorted(slow), rejects, columns)
        rejects.sort(key=lambda r: r.index)
        return DecodedReadings(**columns), rejects

    # -- helpers ------------------------------------------------------------------------------

    def _loads_each(self, values: Sequence[bytes | None], rejects: list[Reject]
                    ) -> tuple[list, np.ndarray]:
        objects, kept = [], []
        for i, raw in enumerate(values):
            if raw is None:
                rejects.append(Reject(i, "empty message (no value)"))
                continue
            try:
                objects.append(orjson.loads(raw))
            except orjson.JSONDecodeError as exc:
                rejects.append(Reject(i, f"invalid JSON: {exc}"))
                continue
            kept.append(i)
        return objects, np.asarray(kept, dtype=np.int64)

    def _slot(self, key: object) -> int:
        try:
            slot = self.index.slot_of.get(key)  # type: ignore[arg-type]
        except TypeError:
            return -1
        if slot is not None:
            return slot
        if not self.index.check_key(key):
            return -1
        return self.index.register(key)  # type: ignore[arg-type]

    def _pair(self, pair: object) -> int:
        """Id of a valid (kind, unit) pair, -1 for an invalid one (its factor is NaN)."""
        try:
            pair_id = self._pairs.get(pair)  # type: ignore[arg-type]
        except TypeError:
            return -1
        if pair_id is not None:
            return pair_id
        kind, unit = pair  # type: ignore[misc]
        if type(kind) is not str or type(unit) is not str or kind not in KIND_CODE:
            return -1
        if not 1 <= len(unit) <= 16:
            return -1
        try:
            factor = unit_factor(kind, unit)
        except UnitError:
            return -1
        pair_id = len(self._pair_factor)
        self._pairs[(kind, unit)] = pair_id
        self._pair_factor.append(factor)
        return pair_id

    def _validate_each(self, values: Sequence[bytes | None], positions: list[int],
                       rejects: list[Reject], columns: dict[str, np.ndarray]) -> None:
        """The slow path: pydantic's verdict for each record, decoded when it accepts."""
        extra: dict[str, list] = {key: [] for key in columns}
        for i in positions:
            try:
                reading = Reading.model_validate(orjson.loads(values[i]))  # type: ignore[arg-type]
            except Exception as exc:  # noqa: BLE001 - ValidationError, or OverflowError on odd times
                rejects.append(Reject(i, _reason(exc)))
                continue
            if not self.index.is_known(reading.point_id):
                rejects.append(Reject(i, f"unknown risk point {reading.point_id!r}"))
                continue
            if not math.isfinite(reading.value):
                rejects.append(Reject(i, _OVERFLOW))
                continue
            slot = self.index.register((reading.point_id, reading.sensor_id, reading.kind.value))
            extra["index"].append(i)
            extra["series"].append(slot)
            extra["point"].append(self.index.series_point[slot])
            extra["kind"].append(KIND_CODE[reading.kind.value])
            extra["observed_ns"].append(datetime_to_ns(reading.observed_at))
            extra["value"].append(reading.value)
        if extra["index"]:
            for key, column in columns.items():
                columns[key] = np.concatenate([column, np.asarray(extra[key], dtype=column.dtype)])


_OVERFLOW = "invalid reading: value overflows when converted to the canonical unit"


def _split(objects: list, positions: np.ndarray, keep: np.ndarray, slow: list[int]
           ) -> tuple[list, np.ndarray]:
    """Keep ``objects[keep]``; send the others' batch positions to the slow path."""
    slow.extend(positions[~keep].tolist())
    kept = np.flatnonzero(keep)
    return [objects[j] for j in kept.tolist()], positions[kept]


KnownPoints = Callable[[], Mapping[str, str]]
"""How the scorer learns the registry: ``() -> {point id: hazard type}``."""
