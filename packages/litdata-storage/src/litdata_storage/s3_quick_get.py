"""A cheaper whole-object GET for S3: a presigned URL sent on the client's own connections.

Small objects (raw image files, a few tens of KB) cost their GET's Python, not their
bytes: ``get_object`` runs botocore's whole request pipeline (parameter validation,
about a dozen event hooks, header signing, response parsing with date parsing), about
2.5 ms of CPU per call here, so one process tops out near 400 objects/s whatever the
number of threads. Signing a URL (``generate_presigned_url``, no network) and sending a
bare GET through the client's own ``http_session`` (the same connection pool, TLS
settings, proxies and timeouts as every other call) does the same request at about half
the CPU.

Only a clean answer is taken: status 200 with a body of the announced length. Anything
else (an error status, a dropped connection, a short body) returns None and the caller
makes the ordinary ``get_object`` call, which retries, resumes and raises the error it
always raised; the cost of an unusual case is one extra request. Where the client lacks
the attribute this relies on (another botocore), the quick path turns itself off.
"""

from __future__ import annotations

from typing import Any

#: Seconds a presigned URL stays valid: it is used at once, so any short time does.
URL_LIFETIME = 300


def quick_get(client: Any, bucket: str, key: str) -> bytes | None:
    """The bytes of ``bucket/key`` through a presigned GET, or None to use ``get_object``."""
    session = getattr(getattr(client, "_endpoint", None), "http_session", None)
    if session is None:
        return None
    from botocore.awsrequest import AWSRequest

    try:
        url = client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=URL_LIFETIME
        )
        response = session.send(AWSRequest(method="GET", url=url).prepare())
        if response.status_code != 200:
            return None
        data: bytes = response.content
    except Exception:  # noqa: BLE001 - any failure: the ordinary call retries and reports it
        return None
    announced = response.headers.get("Content-Length")
    if announced is not None and int(announced) != len(data):
        return None
    return data
