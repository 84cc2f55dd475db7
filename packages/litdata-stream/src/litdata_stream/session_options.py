"""``StreamingDataset(session_options=...)``: LitData's ``boto3.Session`` arguments for S3.

LitData builds its S3 client as ``boto3.Session(**session_options).client("s3",
**storage_options)``: the session holds the credentials, profile and region, and the
client's ``storage_options`` win where both name a setting. The S3 store of
litdata-storage takes the same settings as plain options, so the session's are
translated into store options under the ``storage_options`` given. They matter only
for ``s3://`` datasets, as in LitData.
"""

from __future__ import annotations

import warnings
from typing import Any

#: ``boto3.Session`` argument -> option of litdata-storage's S3 store.
_TO_STORE_OPTION = {
    "aws_access_key_id": "aws_access_key_id",
    "aws_secret_access_key": "aws_secret_access_key",
    "aws_session_token": "aws_session_token",
    "region_name": "region_name",
    "profile_name": "profile",
}
#: Accepted by ``boto3.Session`` but of no use to S3 object reads.
_IGNORED = ("aws_account_id",)


def merge_session_options(
    input_dir: str, storage_options: dict[str, Any] | None, session_options: dict[str, Any] | None
) -> dict[str, Any] | None:
    """``storage_options`` completed with what ``session_options`` sets for an S3 dataset."""
    if not session_options:
        return storage_options
    if not isinstance(session_options, dict):
        raise TypeError(f"session_options must be a dict of boto3.Session arguments, got {type(session_options).__name__}")
    for key in session_options:
        if key == "botocore_session":
            raise TypeError(
                "session_options: botocore_session is not supported (a live session cannot reach DataLoader "
                "workers); pass profile_name, region_name or credentials instead"
            )
        if key not in _TO_STORE_OPTION and key not in _IGNORED:
            raise TypeError(
                f"session_options: unexpected boto3.Session argument {key!r} "
                f"(accepted: {', '.join(sorted([*_TO_STORE_OPTION, *_IGNORED]))})"
            )
    if not str(input_dir).startswith("s3://"):
        warnings.warn(
            f"session_options configure S3 sessions only; they change nothing for {input_dir}",
            UserWarning,
            stacklevel=3,
        )
        return storage_options
    ignored = [key for key in session_options if key in _IGNORED]
    if ignored:
        warnings.warn(f"session_options: {', '.join(ignored)} changes nothing for S3 reads", UserWarning, stacklevel=3)
    merged = {_TO_STORE_OPTION[k]: v for k, v in session_options.items() if k in _TO_STORE_OPTION and v is not None}
    merged.update(storage_options or {})
    return merged
