"""In-process emulator of the QuickSight asset-bundle API and the Q Apps export, get and upload API.

The archiver must be testable offline and without an AWS account, yet it should talk to its
services through unmodified boto3 clients. This package therefore serves the *wire protocol* of
botocore's ``quicksight`` and ``qapps`` services (both rest-json, routed and read by botocore's
own service models) on ``127.0.0.1``, plus the S3-style presigned links those services hand out,
from a background thread:

>>> with ServiceEmulator() as emulator:                                  # doctest: +SKIP
...     qs = emulator.client("quicksight")

Time inside the emulator is *virtual* (:class:`VirtualClock`): jobs progress and links expire
only when a test advances the clock, so tests never sleep and never flake on timing.

Implemented operations: ``StartAssetBundleExportJob``, ``DescribeAssetBundleExportJob``,
``ExportQAppSessionData`` and ``GetQApp``; for restores, ``StartAssetBundleImportJob``,
``DescribeAssetBundleImportJob`` (the bundle read inline or from S3, i.e. moto in process) and
``CreatePresignedUrl`` with the S3 POST upload it signs; for discovery, QuickSight's ``ListDashboards``,
``ListAnalyses``, ``ListDataSets``, ``ListDataSources``, ``ListThemes``, ``ListFolders``, ``ListFolderMembers``
(paged by ``NextToken``, ``MaxResults`` 1 to 100), ``ListTagsForResource``, ``DescribeDashboard``,
``DescribeAnalysis`` and ``DescribeDataSet``, and Q Apps' ``ListQApps`` and ``ListLibraryItems``. Any other
request answers 404 ``UnknownOperationException`` so that a missing feature is loud rather than silently wrong.
SigV4 signatures of API calls are not verified (any credentials work); the links carry an HMAC
signature that *is* verified, like a real presigned S3 URL.

Modules: :mod:`.clock` (virtual time), :mod:`.blobs` (lazy byte sources and the zip bundle),
:mod:`.links` (the download and upload host), :mod:`.quicksight` (asset-bundle jobs),
:mod:`.quicksight_assets` (the assets, their List and Describe calls, edits and deletions), :mod:`.qapps` (Q Apps'
state and operations), :mod:`.paging` (List calls' pages and tokens), :mod:`.faults` (fault injection),
:mod:`.wire` (requests, responses, errors, model-driven routing), :mod:`.server` (the HTTP host) and :mod:`.service`
(:class:`ServiceEmulator`, which joins them).
"""

from tests.local.emulator.clock import DEFAULT_EPOCH, VirtualClock
from tests.local.emulator.qapps import cards_with_file_upload, file_upload_card_id, text_input_card_id
from tests.local.emulator.service import ServiceEmulator

__all__ = [
    "DEFAULT_EPOCH",
    "ServiceEmulator",
    "VirtualClock",
    "cards_with_file_upload",
    "file_upload_card_id",
    "text_input_card_id",
]
