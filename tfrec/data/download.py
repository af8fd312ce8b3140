"""Fetching a MovieLens archive -- only when the user asks for it, and only one that checks out.

* https only (plain ``http://`` needs ``insecure=True``, i.e. ``--insecure``); ``file://`` for
  local mirrors and tests; a timeout on every network read.
* The archive is checked before anything lands: against ``sha256`` when given; for ml-100k
  every data file against its official SHA-256 (files without a known checksum -- the two
  helper scripts of the archive -- are not unpacked).
* Members are unpacked one by one under the target folder only (no ``..`` or absolute paths:
  zip-slip), into a temporary folder renamed into place.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from tfrec.data.movielens import GROUPLENS_URL, VARIANTS
from tfrec.errors import DataError

logger = logging.getLogger(__name__)

#: SHA-256 of every data file of the official ml-100k archive.
ML100K_SHA256 = {
    "README": "4883b8cf340ed0059971b33f56ad3adc88a40792108ebca3d24aafc4c82e8b52",
    "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
    "u.genre": "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb",
    "u.info": "5b0a40b2e47a729ee6203063f6dcf8790c2e63f5a18663e6ee318a72c5f3c27b",
    "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
    "u.occupation": "cd5fbec9afe345d993a62fc7817df1a4a9079c4feb267b3118763b8fd942137d",
    "u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
    "u1.base": "ce253ec86c448b44fb3ba9a30d12dcfc2e9210cbde71efada3730c22e9ac212a",
    "u1.test": "18c6014a4b2c7324f250a63f8904a7b16b2b19f911129e346141507b0cbac950",
    "u2.base": "6c06f0b5df4b256da1a994f3ac66edc8da4d3f09bc9282df6b14d893366d703e",
    "u2.test": "4de658d1e04ed9104629509a2e2528fce833ac8e048280183f1df167632038c3",
    "u3.base": "afdc155c291c6edc41c0407e39d7462eb98d341e064f0b0a12175b80b3c4af5d",
    "u3.test": "0f548b51c78327de4c156461d3e430b7e5579fe2b5681586a59416e48fd35f6d",
    "u4.base": "219f0f4d40dfe9c5141d425f53fa91ee23ed275f14e280bbf1b50117afb064ca",
    "u4.test": "7c02ad0a1e7ab1083c8b9d4b627203a051dd7b5eab46d99fa44de33470de8db9",
    "u5.base": "a9574e59ce961eec2121627760b6e9b0974ce1637b3fe69ac32cb14a4bfab485",
    "u5.test": "351cc52e0d15b6c721466276fc24671d40936899e3d01fadeaf312915b8c5634",
    "ua.base": "67b5bcdb380c29f85d56a012ecd88612ae020f30a6730d117a334ee8203b91f2",
    "ua.test": "d0497e202417720f57a184ec8c66be2d1afa4ff41bb53787c57b28d6bf79bc42",
    "ub.base": "237254d253b6ad7de84f919d041055428646254f34ed8f562703c899430cd881",
    "ub.test": "d54a72d05730d5892062734b2bec73e976f9b713d18c828a18b968d6cce442da",
}
KNOWN_CHECKSUMS = {"ml-100k": ML100K_SHA256}
TIMEOUT_SECONDS = 60.0


def _fetch(url: str, archive: Path, *, insecure: bool, timeout: float) -> None:
    scheme = urllib.parse.urlparse(url).scheme.lower()
    if scheme not in ("https", "file") and not (scheme == "http" and insecure):
        raise DataError(f"refusing to download over {scheme or 'an unknown scheme'}: {url}",
                        fix="use an https:// address (or pass --insecure to accept plain http).")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(archive, "wb") as out:
            shutil.copyfileobj(response, out)
    except TimeoutError:
        raise DataError(f"download failed: no answer within {timeout:g} s", path=url,
                        fix="check the network or the mirror, or download the zip by hand.") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"download failed: {exc}", path=url,
                        fix="check the network, or download the zip by hand and unpack it.") from None


def _unpack(archive: Path, unpack: Path, name: str, url: str) -> Path:
    """Unpacks ``archive`` (checked member by member) and returns the data folder."""
    expected = KNOWN_CHECKSUMS.get(name)
    try:
        zipped = zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise DataError("the download is not a zip archive", path=url,
                        fix="check the address; it must point at the MovieLens .zip file.") from None
    found = set()
    with zipped:
        for member in zipped.infolist():
            parts = PurePosixPath(member.filename).parts
            if member.is_dir() or not parts:
                continue
            if member.filename.startswith("/") or ".." in parts:
                raise DataError(f"the archive holds an unsafe path {member.filename!r}", path=url,
                                fix="this is not an official MovieLens archive; do not use it.")
            relative = PurePosixPath(*parts[1:]) if parts[0] == name and len(parts) > 1 else PurePosixPath(*parts)
            if expected is not None and str(relative) not in expected:
                logger.info("%s: skipped %s (no known checksum)", url, member.filename)
                continue
            data = zipped.read(member)
            if expected is not None:
                digest = hashlib.sha256(data).hexdigest()
                if digest != expected[str(relative)]:
                    raise DataError(f"checksum of {relative} is {digest}, expected {expected[str(relative)]}",
                                    path=url, fix=f"the archive is not the official {name}; retry.")
            target = unpack / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            found.add(str(relative))
    missing = sorted(set(expected or ()) - found)
    if missing:
        raise DataError(f"the archive lacks {missing[:5]}", path=url,
                        fix=f"the archive is not the official {name}; retry.")
    return unpack


def download(name: str, dest: str | os.PathLike, *, sha256: str | None = None,
             url: str | None = None, insecure: bool = False, timeout: float = TIMEOUT_SECONDS) -> Path:
    """Downloads and unpacks a MovieLens variant.

    Args:
        name: One of :data:`~tfrec.data.movielens.VARIANTS`.
        dest: Parent folder; the data land in ``dest/name``.
        sha256: Expected SHA-256 of the zip archive (required for variants without known
            per-file checksums).
        url: Override the GroupLens URL (a mirror, or ``file://``).
        insecure: Accept a plain ``http://`` address.
        timeout: Seconds to wait for the server on each read.

    Returns:
        The unpacked folder.

    Raises:
        DataError: Unknown variant, missing checksum, refused scheme, timeout, not a zip, unsafe
            member path, checksum mismatch or a missing file.
    """
    if name not in VARIANTS:
        raise DataError(f"unknown MovieLens variant {name!r}", fix=f"choose one of {list(VARIANTS)}.")
    if sha256 is None and name not in KNOWN_CHECKSUMS:
        raise DataError(f"downloading {name} needs its checksum",
                        fix="pass --sha256 with the SHA-256 of the zip published by GroupLens.")
    dest = Path(dest)
    target = dest / name
    if target.exists():
        raise DataError("already exists", path=target, fix="remove it first, or load it as it is.")
    dest.mkdir(parents=True, exist_ok=True)
    url = url or GROUPLENS_URL.format(name=name)
    with tempfile.TemporaryDirectory(dir=dest, prefix=f".{name}-") as tmp:
        archive = Path(tmp) / f"{name}.zip"
        _fetch(url, archive, insecure=insecure, timeout=timeout)
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        if sha256 is not None and digest != sha256.lower():
            raise DataError(f"archive checksum {digest} does not match the expected {sha256}",
                            path=url, fix="retry the download, or check the checksum you passed.")
        inner = _unpack(archive, Path(tmp) / "unpacked", name, url)
        os.replace(inner, target)
    logger.info("downloaded %s to %s", name, target)
    return target
