"""Benchmark: retrieve throughput (MB/s) of the lung1 CT series from a local Orthanc, DICOMweb vs DIMSE.

Usage::

    .venv/bin/python bench/pacs.py              # 5 runs per method
    .venv/bin/python bench/pacs.py --runs 9

Starts a private Orthanc on loopback (Debian packages ``orthanc`` + ``orthanc-dicomweb``), uploads
the lung1 DICOM sample (48 files, fetched with ``medws samples fetch``), then retrieves it with each
method into an empty managed storage and study index per run. ``transfer`` times only the transfer
of the series into the storage; ``end_to_end`` times :func:`app.io.pacs.retrieve` (series and
instance listing, transfer, and import into the study index). Prints one JSON object with medians.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _orthanc_module():
    spec = importlib.util.spec_from_file_location("medws_bench_orthanc", ROOT / "tests/app/io/pacs/orthanc_server.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def main() -> int:
    """Run the benchmark and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    orthanc = _orthanc_module()
    reason = orthanc.unavailable_reason()
    if reason:
        print(json.dumps({"error": reason}))
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="medws-bench-pacs-"))
    os.environ["MEDWS_DATA_DIR"] = str(tmp / "data")
    os.environ["MEDWS_CONFIG_DIR"] = str(tmp / "config")
    from app.io import samples

    samples.fetch_samples()
    files = sorted(p for p in Path(samples.get_sample("lung1-dicom").path).iterdir() if p.is_file())
    size_mb = sum(p.stat().st_size for p in files) / 1e6

    from app.io.pacs import dicomweb, dimse, retrieve
    from app.io.pacs.servers import PacsServer, secret_env_var
    from app.io.pacs.storage import SeriesStore
    from app.io.study_index import StudyIndex

    own_port = orthanc.free_port()
    server = orthanc.OrthancServer(tmp / "orthanc", {"MEDWS": ("MEDWSBENCH", "127.0.0.1", own_port)}).start()
    try:
        server.upload(files)
        import pydicom

        first = pydicom.dcmread(files[0], stop_before_pixels=True)
        study, series = str(first.StudyInstanceUID), str(first.SeriesInstanceUID)
        os.environ[secret_env_var("bench-web")] = orthanc.PASSWORD
        methods = {
            "dicomweb": PacsServer("bench-web", url=server.dicomweb_url, auth="basic", user=orthanc.USER),
            "dimse-c-move": PacsServer("bench-move", ae_title=orthanc.AET, host="127.0.0.1", port=server.dicom_port,
                                       own_ae_title="MEDWSBENCH", own_port=own_port, retrieve="move"),
            "dimse-c-get": PacsServer("bench-get", ae_title=orthanc.AET, host="127.0.0.1", port=server.dicom_port,
                                      own_ae_title="MEDWSBENCH", own_port=own_port, retrieve="get"),
        }
        results = {}
        for label, srv in methods.items():
            backend = dicomweb if srv.kind == "dicomweb" else dimse
            transfer, end_to_end = [], []
            for run in range(args.runs):
                os.environ["MEDWS_DATA_DIR"] = str(tmp / f"data-{label}-{run}-t")
                instances = backend.list_instances(srv, study, series)
                store = SeriesStore(srv.name, study, series)
                missing = {i.sop_instance_uid for i in instances}
                t0 = time.perf_counter()
                if srv.kind == "dicomweb":
                    backend.retrieve_series(srv, study, series, missing, len(instances), store)
                else:
                    backend.retrieve_series(srv, study, series, instances, missing, store)
                transfer.append(store.bytes_written / 1e6 / (time.perf_counter() - t0))
                os.environ["MEDWS_DATA_DIR"] = str(tmp / f"data-{label}-{run}-e")
                t0 = time.perf_counter()
                result = retrieve(srv, study, index=StudyIndex())
                end_to_end.append(result.bytes_received / 1e6 / (time.perf_counter() - t0))
                assert result.received == len(files)
            results[label] = {
                "transfer_MBps": round(statistics.median(transfer), 1),
                "end_to_end_MBps": round(statistics.median(end_to_end), 1),
                "transfer_MBps_runs": [round(x, 1) for x in transfer],
            }
        version = server.rest("GET", "/system")["Version"]
    finally:
        server.stop()
        orthanc.remove_tree(tmp)
    print(json.dumps({
        "series": "lung1-dicom",
        "files": len(files),
        "size_MB": round(size_mb, 2),
        "runs": args.runs,
        "orthanc": version,
        "network": "loopback",
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "results": results,
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
