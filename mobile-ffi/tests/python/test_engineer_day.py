"""An engineer's day through the generated Python bindings of mobile-ffi, against a real
`lastmile` server process. These tests check the glue an app relies on (records, enums,
optional values, bytes, errors as exceptions, callbacks from Rust into Python, objects across
an app restart); the behaviour behind it is covered by the Rust tests.
"""

import gc
import hashlib
import io
import threading
import time

import lastmile
import pytest
from PIL import Image

from conftest import PASSWORD, Office, Proxy, camera_jpeg, signature_png

SITE = (31.2304, 121.4737)  # the order's site
NEAR = lastmile.GeoPosition(lat=SITE[0] + 0.0004, lon=SITE[1], accuracy_m=12.0)  # ~45 m


class Listener(lastmile.ClientListener):
    """The app's listener: records what the library tells it, from whatever thread."""

    def __init__(self):
        self.changed = []
        self.progress = []
        self.revoked = threading.Event()

    def orders_changed(self, order_ids):
        self.changed.append(list(order_ids))

    def sync_progress(self, progress):
        self.progress.append(progress)

    def device_revoked(self):
        self.revoked.set()


def config(workdir, url, **kw):
    return lastmile.ClientConfig(
        database_path=f"{workdir}/lastmile.db", server_url=url, request_timeout_ms=5000, **kw
    )


def chiller_template():
    return lastmile.FormTemplate(
        id="chiller-service",
        version=3,
        name="Chiller service",
        fields=[
            lastmile.FormField(key="pressure_bar", label="Refrigerant pressure (bar)", required=True,
                               kind=lastmile.FieldKind.NUMBER(min=0.0, max=40.0)),
            lastmile.FormField(key="filters_replaced", label="Filters replaced", required=True,
                               kind=lastmile.FieldKind.INTEGER(min=0, max=12)),
            lastmile.FormField(key="condition", label="Condition", required=True,
                               kind=lastmile.FieldKind.CHOICE(options=["good", "worn", "failed"])),
            lastmile.FormField(key="leak_test_passed", label="Leak test passed", required=False,
                               kind=lastmile.FieldKind.BOOL()),
        ],
    )


def work_the_order(client, oid):
    """Everything done on site, offline: check in, report, three photos, parts, signature,
    complete, check out. Returns the photo and signature hashes."""
    client.start_travel(oid)
    checked = client.check_in(oid, NEAR)
    assert checked.off_site is False and 30 < checked.distance_m < 60
    assert checked.status == lastmile.OrderStatus.ON_SITE

    client.save_form_template(chiller_template())
    client.use_form_template(oid, "chiller-service", 3)
    client.set_answer(oid, "pressure_bar", lastmile.FormValue.NUMBER(value=11.5))
    client.set_answer(oid, "filters_replaced", lastmile.FormValue.INTEGER(value=2))
    with pytest.raises(lastmile.ApiError.InvalidInput):
        client.set_answer(oid, "condition", lastmile.FormValue.CHOICE(value="broken"))
    problems = client.validate_report(oid)
    assert [p.key for p in problems] == ["condition"]
    with pytest.raises(lastmile.ApiError.ReportIncomplete):
        client.complete(oid)
    client.set_answer(oid, "condition", lastmile.FormValue.CHOICE(value="worn"))
    client.set_answer(oid, "leak_test_passed", lastmile.FormValue.BOOL(value=True))
    client.set_notes(oid, "Condenser fan seized; replaced. 压缩机运行正常。")
    client.set_fault_code(oid, "F-FAN")
    client.set_resolution_code(oid, "R-REPLACED")

    timer = client.start_labour(oid, "repair")
    photos = []
    for i in range(3):
        p = client.add_photo(oid, camera_jpeg(seed=i), f"photo {i + 1}")
        # Sideways 4000 x 3000 camera bytes come out upright, 1200 x 1600.
        assert (p.width, p.height) == (1200, 1600)
        assert p.bytes < p.original_bytes
        assert p.location is None
        photos.append(p.hash)
    client.stop_labour(oid, timer)
    client.add_labour(oid, int(time.time() * 1000) - 3_600_000, int(time.time() * 1000) - 1_800_000, "travel")

    line = client.consume_part(oid, lastmile.PartUse(sku="FAN-220", qty=1, serial="FAN220-9001",
                                                     replaced_serial="FAN220-0007"))
    wrong = client.consume_part(oid, lastmile.PartUse(sku="FLT-100", qty=3))
    client.void_part(oid, wrong)
    client.consume_part(oid, lastmile.PartUse(sku="FLT-100", qty=2))
    client.request_parts(oid, "BRG-6204", 2, "bearings for the follow-up")
    van = {v.sku: v for v in client.van_stock()}
    assert van["FLT-100"].pending_use == 2 and van["FAN-220"].pending_use == 1

    sig = client.sign(oid, signature_png(), "Wei Zhang")
    with pytest.raises(lastmile.ApiError.InvalidState):
        client.sign(oid, signature_png(), "Someone Else")
    assert client.complete(oid) == lastmile.OrderStatus.COMPLETED
    client.check_out(oid, NEAR)
    assert line
    return photos, sig.hash


def hex_hash(h):
    """The document JSON carries content hashes as their 32 bytes."""
    return h if isinstance(h, str) else bytes(h).hex()


def assert_office_sees_it_all(office, oid, photos, signature):
    doc = office.document(oid)
    assert doc["status"] == "completed"
    (visit,) = doc["visits"]
    assert visit["check_in"]["off_site"] is False
    assert visit["check_out"] is not None
    report = visit["report"]
    assert report["template"] == ["chiller-service", 3]
    assert report["answers"]["condition"] == {"type": "choice", "value": "worn"}
    assert report["answers"]["pressure_bar"] == {"type": "number", "value": 11.5}
    assert report["notes"].startswith("Condenser fan seized")
    assert (report["fault_code"], report["resolution_code"]) == ("F-FAN", "R-REPLACED")
    assert [hex_hash(p["hash"]) for p in report["photos"]] == photos
    assert report["signature"]["signer_name"] == "Wei Zhang"
    assert hex_hash(report["signature"]["hash"]) == signature
    in_force = [p for p in visit["parts"] if p["voids"] is None and
                not any(q["voids"] == p["id"] for q in visit["parts"])]
    assert sorted((p["sku"], p["qty"]) for p in in_force) == [("FAN-220", 1), ("FLT-100", 2)]
    assert any(p["serial"] == "FAN220-9001" for p in visit["parts"])
    assert len(visit["labour"]) >= 2
    assert doc["parts_requests"][0]["sku"] == "BRG-6204"
    for digest in photos + [signature]:
        status, body = office.blob(oid, digest)
        assert status == 200
        assert hashlib.sha256(body).hexdigest() == digest
        status, thumb = office.blob(oid, digest, thumbnail=True)
        assert status == 200
        assert max(Image.open(io.BytesIO(thumb)).size) == 320
    # Stored upright: portrait photos.
    status, body = office.blob(oid, photos[0])
    assert Image.open(io.BytesIO(body)).size == (1200, 1600)


def test_a_full_engineers_day_against_a_real_server(server, workdir):
    dispatcher, ((eng_id, eng_email),) = server.org(engineers=1)
    office = Office(server.url, dispatcher)
    oid = office.order_for(eng_id, *SITE, start_ms=int(time.time() * 1000))
    proxy = Proxy(server.url)
    try:
        client = lastmile.FieldClient.open(config(workdir, proxy.url), None)
        listener = Listener()
        client.set_listener(listener)
        with pytest.raises(lastmile.ApiError.InvalidState):
            client.sync()  # not signed in yet
        with pytest.raises(lastmile.ApiError.Unauthorized):
            client.login(eng_email, "wrong password", None, None)
        creds = client.login(eng_email, PASSWORD, None, "Pixel 9")
        assert creds.user_id == eng_id and creds.token

        first = client.sync()
        assert first.received == [oid]
        assert [oid] in listener.changed
        assert any(p.phase == lastmile.SyncPhase.DOCUMENTS for p in listener.progress)
        today = client.list_orders(lastmile.OrderQuery(window=lastmile.OrderWindow.TODAY(utc_offset_minutes=0)))
        assert [o.id for o in today] == [oid]
        near = client.list_orders(lastmile.OrderQuery(sort=lastmile.OrderSort.DISTANCE, position=NEAR))
        assert near[0].distance_m == pytest.approx(44.5, abs=2)
        assert client.search_orders("Acme chiller", 10)[0].id == oid
        order = client.get_order(oid)
        assert order.status == lastmile.OrderStatus.ASSIGNED and order.customer.name == "Acme Cold Storage"

        # No signal from here until the end of the job.
        proxy.down()
        with pytest.raises(lastmile.ApiError.TransitionNotAllowed):
            client.complete(oid)
        photos, signature = work_the_order(client, oid)
        with pytest.raises(lastmile.ApiError.Network):
            client.sync()
        status = client.sync_status()
        assert (status.pending_orders, status.pending_uploads) == (1, 4)
        local = client.get_order(oid)
        assert local.pending_upload and local.status == lastmile.OrderStatus.COMPLETED
        assert all(p.local and not p.uploaded for p in local.visits[0].report.photos)
        assert hashlib.sha256(client.blob(photos[0])).hexdigest() == photos[0]

        # Back in coverage.
        proxy.up()
        report = client.sync()
        assert report.sent == [oid] and report.refused == [] and report.rejected == []
        assert (report.uploads_done, report.uploads_pending, report.upload_failures) == (4, 0, [])
        assert any(p.phase == lastmile.SyncPhase.UPLOADS for p in listener.progress)
        assert client.sync_status().pending_orders == 0
        assert all(p.uploaded for p in client.get_order(oid).visits[0].report.photos)
        assert_office_sees_it_all(office, oid, photos, signature)
    finally:
        proxy.close()


def test_network_cut_in_the_middle_of_the_photo_upload_and_an_app_restart(server, workdir):
    dispatcher, ((eng_id, eng_email),) = server.org(engineers=1)
    office = Office(server.url, dispatcher)
    oid = office.order_for(eng_id, *SITE)
    proxy = Proxy(server.url)
    try:
        cfg = config(workdir, proxy.url, upload_chunk_bytes=32 * 1024)
        client = lastmile.FieldClient.open(cfg, None)
        creds = client.login(eng_email, PASSWORD, None, "Pixel 9")
        client.sync()
        proxy.down()
        photos, signature = work_the_order(client, oid)
        total = sum(len(client.blob(h)) for h in photos + [signature])

        # Signal returns, and drops again 300 KB into the sync: the documents and the signature
        # get through, the photos are cut.
        proxy.cut_after(300_000)
        cut = client.sync()
        assert cut.sent == [oid]
        assert cut.upload_error is not None
        assert 0 < cut.upload_bytes_sent < total
        pending = client.sync_status().pending_uploads
        assert 1 <= pending <= 3, pending
        # Signatures go first: the cut never leaves the signature behind the photos.
        status, _ = office.blob(oid, signature)
        assert status == 200

        # The app is killed and started again with the credentials from secure storage.
        del client
        gc.collect()
        proxy.up()
        client = lastmile.FieldClient.open(cfg, creds)
        assert client.credentials() == creds
        assert client.sync_status().pending_uploads == pending
        resumed = client.sync()
        assert resumed.uploads_pending == 0 and resumed.upload_failures == []
        assert resumed.upload_bytes_sent < total - cut.upload_bytes_sent + 32 * 1024, \
            "the cut photo resumed from the server's offset instead of starting over"
        assert_office_sees_it_all(office, oid, photos, signature)
    finally:
        proxy.close()


def test_errors_panics_and_bytes_cross_the_boundary(workdir):
    client = lastmile.FieldClient.open(config(workdir, "http://127.0.0.1:9"), None)
    with pytest.raises(lastmile.ApiError.InvalidInput):
        lastmile.FieldClient.open(lastmile.ClientConfig(database_path=f"{workdir}/x.db", server_url="ftp://x"), None)
    with pytest.raises(lastmile.ApiError.InvalidInput):
        client.get_order("not-a-uuid")
    assert client.blob("0" * 64) is None
    assert client.list_orders(lastmile.OrderQuery()) == []
    assert client.sync_status().signed_in is False


def test_a_revoked_device_hears_it_through_the_listener_and_is_wiped(server, workdir):
    dispatcher, ((eng_id, eng_email),) = server.org(engineers=1)
    office = Office(server.url, dispatcher)
    oid = office.order_for(eng_id, *SITE)
    client = lastmile.FieldClient.open(config(workdir, server.url), None)
    listener = Listener()
    client.set_listener(listener)
    creds = client.login(eng_email, PASSWORD, None, None)
    client.sync()
    assert client.get_order(oid).id == oid
    status, _ = office.call("DELETE", f"/api/v1/devices/{creds.device_id}")
    assert status == 204
    with pytest.raises(lastmile.ApiError.Revoked):
        client.sync()
    assert listener.revoked.is_set()
    assert client.list_orders(lastmile.OrderQuery()) == []
    assert client.credentials() is None
