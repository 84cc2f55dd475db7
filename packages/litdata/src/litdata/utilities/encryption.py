"""``from litdata.utilities.encryption import FernetEncryption`` works as in LitData 0.2.76.

The classes live in :mod:`litdata_format.encryption`; this module only re-exports them
(they need the ``cryptography`` package: ``pip install 'litdata[encryption]'``).
"""

from litdata_format.encryption import (
    Encryption,
    EncryptionLevel,
    EncryptionLevelType,
    FernetEncryption,
    RSAEncryption,
)

__all__ = ["Encryption", "EncryptionLevel", "EncryptionLevelType", "FernetEncryption", "RSAEncryption"]
