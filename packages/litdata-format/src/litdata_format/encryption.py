"""Encrypted datasets, byte-compatible with LitData 0.2.76 (``litdata.utilities.encryption``).

LitData encrypts at one of two levels, recorded in ``index.json`` as
``config.encryption = {"algorithm": "fernet" | "rsa", "level": "sample" | "chunk"}`` (the
object's ``state_dict()``; no key material ever goes into the index):

- ``"sample"``: each serialized item is encrypted on its own; the chunk keeps the classic
  header, whose offsets then delimit the *encrypted* items. Random access stays cheap.
- ``"chunk"``: the whole chunk file (header included) is one ciphertext, encrypted after
  the chunk is assembled and before whole-chunk compression; ``chunk_bytes`` in the index
  is the encrypted size. A reader decrypts the whole chunk before reading any item.

:class:`FernetEncryption` derives its key from a password and a random 16-byte salt
(PBKDF2-HMAC-SHA256, 480,000 iterations), so reading needs the *same* salt: keep the
object, or ``save()`` it to a key file and ``FernetEncryption.load(path, password)``
later. :class:`RSAEncryption` (RSA-2048, OAEP with SHA-256) generates a key pair; it can
only encrypt up to 190 bytes at once, so it suits tiny items only (LitData has the same
limit). Key files have LitData's JSON layout, so either library reads the other's.

The ``cryptography`` package is optional: importing this module never needs it, creating
or loading an encryption object does (``pip install 'litdata[encryption]'``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
from abc import ABC, abstractmethod
from types import SimpleNamespace
from typing import Any, Literal, cast

from .errors import FormatError

INSTALL_HINT = "pip install 'litdata[encryption]'"

SAMPLE = "sample"
CHUNK = "chunk"
LEVELS = (SAMPLE, CHUNK)

EncryptionLevelType = Literal["sample", "chunk"]

#: PBKDF2 settings of LitData 0.2.76's Fernet key derivation (changing them breaks its key files).
FERNET_KDF_ITERATIONS = 480_000
FERNET_SALT_BYTES = 16
RSA_KEY_BITS = 2048
#: OAEP with SHA-256 on a 2048-bit key: 256 - 2 * 32 - 2 bytes of plaintext at most.
RSA_MAX_PLAINTEXT = RSA_KEY_BITS // 8 - 2 * 32 - 2


class EncryptionLevel:
    """The two levels, as LitData names them (``EncryptionLevel.SAMPLE == "sample"``)."""

    SAMPLE = SAMPLE
    CHUNK = CHUNK


class EncryptionError(FormatError):
    """A dataset's encryption and the one given to read it do not go together (none given
    for an encrypted dataset, another algorithm or level)."""


class DecryptionError(EncryptionError):
    """Encrypted bytes could not be decrypted: a wrong password or key, or altered bytes."""


@functools.lru_cache(maxsize=1)
def _cryptography() -> SimpleNamespace:
    """The ``cryptography`` modules this file uses, or a clear error naming the extra."""
    try:
        from cryptography import fernet
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
        from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
    except ImportError as exc:
        raise ModuleNotFoundError(
            f"encrypted datasets need the 'cryptography' package, which is not installed: {INSTALL_HINT}",
            name="cryptography",
        ) from exc
    return SimpleNamespace(
        fernet=fernet, hashes=hashes, serialization=serialization, padding=padding, rsa=rsa, PBKDF2HMAC=PBKDF2HMAC
    )


def _check_level(level: Any) -> str:
    if level not in LEVELS:
        raise ValueError(f"level must be 'sample' or 'chunk', got {level!r}")
    return cast(str, level)


def _check_password(password: Any, what: str) -> str:
    if not isinstance(password, str):
        raise TypeError(f"{what} password must be a str, got {type(password).__name__}")
    return password


class Encryption(ABC):
    """What an encryption object offers (LitData's interface): ``algorithm``, ``level``,
    ``encrypt`` / ``decrypt`` of bytes, ``state_dict()`` (what ``index.json`` records),
    and ``save`` / ``load`` of the key material.

    Subclass it for another algorithm: readers check ``algorithm`` and ``level`` against
    the index and call ``decrypt``.
    """

    level: str

    @property
    @abstractmethod
    def algorithm(self) -> str:
        """The name recorded in ``index.json`` (``"fernet"``, ``"rsa"``)."""

    @abstractmethod
    def encrypt(self, data: bytes) -> bytes:
        """Encrypt one item's or one chunk's bytes, depending on ``level``.

        Args:
            data: The plaintext (an encoded item, or a whole chunk file).

        Returns:
            The ciphertext, stored in place of ``data``.
        """

    @abstractmethod
    def decrypt(self, data: bytes) -> bytes:
        """Undo :meth:`encrypt`.

        Args:
            data: Bytes produced by :meth:`encrypt` with the same key.

        Returns:
            The plaintext.
        """

    def state_dict(self) -> dict[str, Any]:
        """What ``index.json`` records as ``config.encryption``: never any key material."""
        return {"algorithm": self.algorithm, "level": self.level}

    @abstractmethod
    def save(self, file_path: str) -> None:
        """Write what is needed to decrypt later (with the password) to ``file_path``."""

    @classmethod
    @abstractmethod
    def load(cls, file_path: str, password: str) -> Any:
        """The object :meth:`save` wrote to ``file_path``."""


class FernetEncryption(Encryption):
    """Fernet (AES-128-CBC + HMAC-SHA256) with a key derived from ``password``.

    Args:
        password: the secret the key is derived from.
        level: ``"sample"`` (each item encrypted) or ``"chunk"`` (each chunk file).

    A new object draws a new random salt, hence a new key: to read a dataset later, keep
    this object or ``save()`` it and ``FernetEncryption.load(path, password)``.
    """

    def __init__(self, password: str, level: EncryptionLevelType = "sample") -> None:
        m = _cryptography()
        self.password = _check_password(password, "FernetEncryption")
        self.level = _check_level(level)
        self.salt = os.urandom(FERNET_SALT_BYTES)
        self.key = self._derive_key(password, self.salt)
        self.fernet = m.fernet.Fernet(self.key)

    @property
    def algorithm(self) -> str:
        """Always ``"fernet"``."""
        return "fernet"

    def _derive_key(self, password: str, salt: bytes) -> bytes:
        m = _cryptography()
        kdf = m.PBKDF2HMAC(algorithm=m.hashes.SHA256(), length=32, salt=salt, iterations=FERNET_KDF_ITERATIONS)
        return base64.urlsafe_b64encode(kdf.derive(password.encode()))

    def encrypt(self, data: bytes) -> bytes:
        """Encrypt ``data`` into a Fernet token (authenticated, with a fresh IV each call)."""
        return cast(bytes, self.fernet.encrypt(bytes(data)))

    def decrypt(self, data: bytes) -> bytes:
        """Decrypt a Fernet token; raises ``cryptography``'s InvalidToken for a wrong key or altered bytes."""
        return cast(bytes, self.fernet.decrypt(bytes(data)))

    def save(self, file_path: str) -> None:
        """Write the key file LitData writes: ``{"algorithm", "level", "salt"}`` as JSON (the
        password is not stored; :meth:`load` needs it again)."""
        state = self.state_dict()
        state["salt"] = base64.urlsafe_b64encode(self.salt).decode("utf-8")
        with open(file_path, "wb") as f:
            f.write(json.dumps(state).encode("utf-8"))

    @classmethod
    def load(cls, file_path: str, password: str) -> FernetEncryption:
        """The encryption saved in ``file_path`` (by this class or by LitData), for ``password``."""
        state = _read_key_file(file_path)
        if "salt" not in state or state.get("algorithm", "fernet") != "fernet":
            raise ValueError(f"{file_path} is not a Fernet key file (no salt, or algorithm {state.get('algorithm')!r})")
        _cryptography()
        instance = cls.__new__(cls)
        instance.password = _check_password(password, "FernetEncryption")
        instance.level = _check_level(state.get("level"))
        instance.salt = base64.urlsafe_b64decode(state["salt"])
        instance.key = instance._derive_key(password, instance.salt)
        instance.fernet = _cryptography().fernet.Fernet(instance.key)
        return instance

    # DataLoader workers and optimize() workers get the derived key, not a re-derivation.
    def __getstate__(self) -> dict[str, Any]:
        return {"password": self.password, "level": self.level, "salt": self.salt, "key": self.key}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.fernet = _cryptography().fernet.Fernet(self.key)

    def __repr__(self) -> str:
        return f"FernetEncryption(level={self.level!r})"


class RSAEncryption(Encryption):
    """RSA-2048 with OAEP (MGF1 and SHA-256), a fresh key pair per object.

    Args:
        password: protects the private key when it is saved (``save``, ``save_keys``);
            ``""`` saves it unprotected.
        level: ``"sample"`` or ``"chunk"``.

    RSA encrypts at most 190 bytes at once: items (``"sample"``) or whole chunks
    (``"chunk"``) larger than that are refused with a clear error. Use Fernet otherwise.
    """

    def __init__(self, password: str, level: EncryptionLevelType = "sample") -> None:
        m = _cryptography()
        self.password = _check_password(password, "RSAEncryption")
        self.level = _check_level(level)
        self.private_key = m.rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
        self.public_key = self.private_key.public_key()

    @property
    def algorithm(self) -> str:
        """Always ``"rsa"``."""
        return "rsa"

    def _padding(self) -> Any:
        m = _cryptography()
        return m.padding.OAEP(mgf=m.padding.MGF1(algorithm=m.hashes.SHA256()), algorithm=m.hashes.SHA256(), label=None)

    def encrypt(self, data: bytes) -> bytes:
        """Encrypt ``data`` with the public key; refuses more than 190 bytes (the OAEP limit)."""
        if not self.public_key:
            raise AttributeError("RSAEncryption has no public key to encrypt with")
        if len(data) > RSA_MAX_PLAINTEXT:
            raise ValueError(
                f"RSA (2048-bit, OAEP SHA-256) encrypts at most {RSA_MAX_PLAINTEXT} bytes at once; "
                f"this {'item' if self.level == SAMPLE else 'chunk'} has {len(data)} bytes. "
                "Use FernetEncryption for larger data."
            )
        return cast(bytes, self.public_key.encrypt(bytes(data), self._padding()))

    def decrypt(self, data: bytes) -> bytes:
        """Decrypt ``data`` with the private key."""
        if not self.private_key:
            raise AttributeError("RSAEncryption has no private key to decrypt with")
        return cast(bytes, self.private_key.decrypt(bytes(data), self._padding()))

    def __getstate__(self) -> dict[str, Any]:
        """LitData's key file content: both keys as PEM (the private one protected by the
        password when there is one), the password and the level."""
        m = _cryptography()
        ser = m.serialization
        protection = ser.BestAvailableEncryption(self.password.encode()) if self.password else ser.NoEncryption()
        private = (
            self.private_key.private_bytes(
                encoding=ser.Encoding.PEM, format=ser.PrivateFormat.TraditionalOpenSSL, encryption_algorithm=protection
            ).decode("utf-8")
            if self.private_key
            else None
        )
        public = (
            self.public_key.public_bytes(
                encoding=ser.Encoding.PEM, format=ser.PublicFormat.SubjectPublicKeyInfo
            ).decode("utf-8")
            if self.public_key
            else None
        )
        return {"private_key": private, "public_key": public, "password": self.password, "level": self.level}

    def __setstate__(self, state: dict[str, Any]) -> None:
        ser = _cryptography().serialization
        self.password = state.get("password") or ""
        self.level = _check_level(state.get("level"))
        private = state.get("private_key")
        self.private_key = _load_private_pem(private.encode("utf-8"), self.password) if private else None
        public = state.get("public_key")
        self.public_key = ser.load_pem_public_key(public.encode("utf-8")) if public else None

    def save(self, file_path: str) -> None:
        """Write LitData's RSA key file (JSON of both PEM keys, the password and the level)."""
        with open(file_path, "wb") as f:
            f.write(json.dumps(self.__getstate__()).encode("utf-8"))

    @classmethod
    def load(cls, file_path: str, password: str) -> RSAEncryption:
        """The encryption saved in ``file_path``. As in LitData, a password stored in the
        file unlocks its private key; ``password`` is used when the file stores none."""
        state = _read_key_file(file_path)
        if "public_key" not in state and "private_key" not in state:
            raise ValueError(f"{file_path} is not an RSA key file (no public_key or private_key)")
        _cryptography()
        instance = cls.__new__(cls)
        instance.__setstate__({**state, "password": state.get("password") or password})
        return instance

    def save_keys(self, private_key_path: str, public_key_path: str) -> None:
        """Write the private key (PEM, protected by the password) and the public key (PEM)."""
        state = self.__getstate__()
        if not state["private_key"] or not state["public_key"]:
            raise AttributeError("RSAEncryption has no key pair to save")
        with open(private_key_path, "wb") as f:
            f.write(state["private_key"].encode("utf-8"))
        with open(public_key_path, "wb") as f:
            f.write(state["public_key"].encode("utf-8"))

    def load_keys(self, private_key_path: str, public_key_path: str, password: str) -> None:
        """Replace this object's key pair by the PEM files ``save_keys`` wrote."""
        ser = _cryptography().serialization
        with open(private_key_path, "rb") as f:
            self.private_key = _load_private_pem(f.read(), password)
        with open(public_key_path, "rb") as f:
            self.public_key = ser.load_pem_public_key(f.read())

    def __repr__(self) -> str:
        return f"RSAEncryption(level={self.level!r})"


def _load_private_pem(pem: bytes, password: str) -> Any:
    ser = _cryptography().serialization
    protected = b"ENCRYPTED" in pem  # "Proc-Type: 4,ENCRYPTED" or "BEGIN ENCRYPTED PRIVATE KEY"
    try:
        return ser.load_pem_private_key(pem, password=password.encode() if protected and password else None)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot load the RSA private key: wrong password, or not a PEM private key ({exc})") from None


def _read_key_file(file_path: str) -> dict[str, Any]:
    with open(file_path, "rb") as f:
        raw = f.read()
    try:
        state = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{file_path} is not an encryption key file (not JSON: {exc})") from None
    if not isinstance(state, dict):
        raise ValueError(f"{file_path} is not an encryption key file (not a JSON object)")
    return state


# -- what readers and writers use ------------------------------------------------------


def check_declared(value: Any, where: str) -> dict[str, Any] | None:
    """Validate ``config.encryption`` of an index (None, or a dict with a string
    ``algorithm`` and a ``level``); returns it unchanged. Raises ``IndexFormatError``."""
    from .errors import IndexFormatError

    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("algorithm"), str) or value.get("level") not in LEVELS:
        raise IndexFormatError(
            f"{where}.encryption: expected an object with 'algorithm' (a string) and 'level' "
            f"('sample' or 'chunk'), got {value!r}"
        )
    return value


def _describe(declared: dict[str, Any]) -> str:
    return f"{declared['algorithm']}, {declared['level']} level"


def _hint(declared: dict[str, Any]) -> str:
    known = {"fernet": "FernetEncryption.load(key_file, password)", "rsa": "RSAEncryption.load(key_file, password)"}
    return known.get(declared["algorithm"], f"an Encryption object for {declared['algorithm']!r}")


def resolve_encryption(
    declared: dict[str, Any] | None, encryption: Any, where: str, *, tokens: bool = False
) -> Any:
    """The encryption to read a dataset with, checked against what its index declares.

    ``declared`` is the index's ``config.encryption``. An encrypted dataset without an
    ``encryption`` object, or with one of another algorithm or level, raises
    :class:`EncryptionError` naming the dataset. An object given for a dataset that is not
    encrypted is ignored (as LitData does) and None is returned.
    """
    if declared is None:
        return None
    if encryption is None:
        raise EncryptionError(
            f"{where} is encrypted ({_describe(declared)}): pass encryption= with its key, "
            f"e.g. encryption={_hint(declared)}"
        )
    for attribute in ("algorithm", "level", "decrypt"):
        if not hasattr(encryption, attribute):
            raise TypeError(f"encryption must be an Encryption object, got {type(encryption).__name__}")
    if encryption.algorithm != declared["algorithm"]:
        raise EncryptionError(
            f"{where} is encrypted with {declared['algorithm']!r}, the encryption given is {encryption.algorithm!r}"
        )
    if encryption.level != declared["level"]:
        raise EncryptionError(
            f"{where} is encrypted at the {declared['level']!r} level, the encryption given is for "
            f"the {encryption.level!r} level"
        )
    if tokens and declared["level"] == SAMPLE:
        raise EncryptionError(f"{where}: a TokensLoader dataset cannot be read with sample-level encryption")
    return encryption


def decrypt_chunk(encryption: Any, data: Any, name: str) -> bytes:
    """The plaintext of a chunk file encrypted at the chunk level."""
    try:
        return cast(bytes, encryption.decrypt(bytes(data)))
    except Exception as exc:  # noqa: BLE001 - any algorithm's failure means the same thing here
        raise DecryptionError(
            f"chunk {name} cannot be decrypted with the {encryption.algorithm} key given: wrong password or key "
            f"(a Fernet key also needs the salt of the key file the dataset was written with), "
            f"or the file was altered ({type(exc).__name__})"
        ) from None


def decrypt_item(encryption: Any, data: Any) -> bytes:
    """The plaintext of one item encrypted at the sample level (callers name the chunk and item)."""
    try:
        return cast(bytes, encryption.decrypt(bytes(data)))
    except Exception as exc:  # noqa: BLE001
        raise DecryptionError(
            f"the item cannot be decrypted with the {encryption.algorithm} key given: wrong password or key "
            f"(a Fernet key also needs the salt of the key file the dataset was written with), or the file "
            f"was altered ({type(exc).__name__})"
        ) from None


def check_for_writing(encryption: Any, tokens: bool) -> Any:
    """Refuse what cannot be written or read back: not an encryption object, an unknown level,
    a token dataset (LitData's TokensLoader reads no encrypted chunks)."""
    if encryption is None:
        return None
    for attribute in ("algorithm", "level", "encrypt", "state_dict"):
        if not hasattr(encryption, attribute):
            raise TypeError(f"encryption must be an Encryption object, got {type(encryption).__name__}")
    _check_level(encryption.level)
    if tokens:
        raise ValueError("encryption is not supported with item_loader='TokensLoader' (LitData cannot read it back)")
    return encryption


def key_fingerprint(encryption: Any) -> str:
    """A digest that changes with the key (not only the algorithm): a resumed run must not
    mix chunks encrypted under two keys. Other classes: their ``state_dict()``."""
    if isinstance(encryption, FernetEncryption):
        material = encryption.key
    elif isinstance(encryption, RSAEncryption) and encryption.public_key is not None:
        ser = _cryptography().serialization
        material = encryption.public_key.public_bytes(ser.Encoding.DER, ser.PublicFormat.SubjectPublicKeyInfo)
    else:
        material = json.dumps(encryption.state_dict(), sort_keys=True, default=str).encode()
    return hashlib.sha256(material).hexdigest()[:16]


__all__ = [
    "CHUNK",
    "INSTALL_HINT",
    "SAMPLE",
    "DecryptionError",
    "Encryption",
    "EncryptionError",
    "EncryptionLevel",
    "EncryptionLevelType",
    "FernetEncryption",
    "RSAEncryption",
    "check_declared",
    "check_for_writing",
    "decrypt_chunk",
    "decrypt_item",
    "key_fingerprint",
    "resolve_encryption",
]
