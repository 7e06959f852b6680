"""Downloadable objects: byte sources read in chunks, never materialised whole, and the zip laid out over them."""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

CHUNK_SIZE = 64 * 1024
#: The largest padding member a bundle can hold: plain (non-zip64) zip offsets are 32-bit.
MAX_PADDING_BYTES = 2**32 - 2**24
_ZIP_MADE_BY_UNIX = (3 << 8) | 20  # so the member permissions in the external attributes count
_ZIP_STORED, _ZIP_DEFLATED = 0, 8


class Source(Protocol):
    @property
    def size(self) -> int: ...

    def read(self, offset: int, length: int) -> bytes: ...


@dataclass(frozen=True)
class BytesSource:
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, offset: int, length: int) -> bytes:
        return self.data[offset : offset + length]


@dataclass(frozen=True)
class PaddingSource:
    """Deterministic pseudo-random bytes, generated block by block on demand.

    Random (incompressible) content keeps the stored size honest, and generating it per block
    lets a multi-GiB bundle be served without ever holding it in memory.
    """

    seed: str
    length: int
    block_size: int = CHUNK_SIZE

    @property
    def size(self) -> int:
        return self.length

    def _block(self, index: int) -> bytes:
        # str seeds are hashed with SHA-512 by ``random``, so blocks are stable across runs.
        rng = random.Random(f"{self.seed}:{index}")
        return rng.randbytes(min(self.block_size, self.length - index * self.block_size))

    def read(self, offset: int, length: int) -> bytes:
        stop = min(offset + length, self.length)
        pieces = []
        while offset < stop:
            index, within = divmod(offset, self.block_size)
            piece = self._block(index)[within : within + (stop - offset)]
            pieces.append(piece)
            offset += len(piece)
        return b"".join(pieces)

    def crc32(self) -> int:
        crc = 0
        for index in range((self.length + self.block_size - 1) // self.block_size):
            crc = zlib.crc32(self._block(index), crc)
        return crc


class Blob:
    """An immutable object made of consecutive sources, served whole in chunks."""

    def __init__(self, sources: Sequence[Source], *, content_type: str, etag: str, last_modified: float) -> None:
        self._sources = list(sources)
        self.size = sum(source.size for source in self._sources)
        self.content_type = content_type
        self.etag = etag
        self.last_modified = last_modified

    def chunks(self) -> Iterator[bytes]:
        """Yield every byte, in chunks of at most 64 KiB."""
        for source in self._sources:
            for offset in range(0, source.size, CHUNK_SIZE):
                yield source.read(offset, min(CHUNK_SIZE, source.size - offset))

    def read_all(self) -> bytes:
        return b"".join(self.chunks())


@dataclass(frozen=True)
class ZipMember:
    name: str
    source: Source
    crc: int
    uncompressed_size: int
    method: int

    @classmethod
    def deflated(cls, name: str, data: bytes) -> ZipMember:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate, as zip expects
        packed = compressor.compress(data) + compressor.flush()
        return cls(name, BytesSource(packed), zlib.crc32(data), len(data), _ZIP_DEFLATED)

    @classmethod
    def stored_padding(cls, name: str, padding: PaddingSource) -> ZipMember:
        return cls(name, padding, padding.crc32(), padding.size, _ZIP_STORED)


def _dos_datetime(epoch: float) -> tuple[int, int]:
    moment = datetime.fromtimestamp(epoch, UTC)
    dos_time = (moment.hour << 11) | (moment.minute << 5) | (moment.second // 2)
    dos_date = ((moment.year - 1980) << 9) | (moment.month << 5) | moment.day
    return dos_time, dos_date


def zip_blob(members: Sequence[ZipMember], *, modified: float, etag: str) -> Blob:
    """Lay out a zip archive whose member data are sources, so big members stay lazy.

    Written by hand rather than with :mod:`zipfile` because zipfile needs the data in hand,
    while here the padding member is generated on the fly when (and where) it is read.
    """
    dos_time, dos_date = _dos_datetime(modified)
    sources: list[Source] = []
    central: list[bytes] = []
    offset = 0
    for member in members:
        name = member.name.encode()
        flags = 0 if member.name.isascii() else 0x800  # bit 11: the name is UTF-8
        common = (member.method, dos_time, dos_date, member.crc, member.source.size, member.uncompressed_size)
        local = struct.pack("<IHH" + "HHHIII" + "HH", 0x04034B50, 20, flags, *common, len(name), 0) + name
        central.append(
            struct.pack(
                "<IHHH" + "HHHIII" + "HHHHHII",
                *(0x02014B50, _ZIP_MADE_BY_UNIX, 20, flags, *common),
                *(len(name), 0, 0, 0, 0, 0o644 << 16, offset),
            )
            + name
        )
        sources += [BytesSource(local), member.source]
        offset += len(local) + member.source.size
    directory = b"".join(central)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(directory), offset, 0)
    sources.append(BytesSource(directory + end))
    return Blob(sources, content_type="application/zip", etag=etag, last_modified=modified)
