"""Outreach from templates: the letter, the e-mail and the text message, filled in per case
with only what the caller's rule shows, sent through a real SMTP server (aiosmtpd) and a
real local HTTP gateway, and each sending recorded as a contact attempt on the case and on
the audit log; nothing recorded when the sending fails."""

from __future__ import annotations

import email
import io
import json
import socket
import threading
from collections.abc import Callable, Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import select

from exchange.auditlog.models import AuditEntry
from exchange.config import Settings
from exchange.outbound import Outbound
from exchange.outreach import service as outreach
from exchange.outreach.senders import (
    Email,
    HttpTextSender,
    SendFailed,
    SmtpSender,
    TextMessage,
    international_number,
)
from exchange.outreach.templates import (
    PLACEHOLDERS,
    SMS_LENGTH,
    TemplateName,
    TemplateRefused,
    load,
)
from policies.engine import shipped_register
from tests.conftest import broker_settings, csrf, hidden
from tests.factories import signal_body

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")

Headers = Callable[[str], dict[str, str]]
TEAM_PHONE = "010 123 45 67"
MUNICIPALITY_PHONE = "14 010"
SENDER = "wijkteam@rotterdam.example"
OWN_RULE = {
    "municipality": ("municipality", "early-signal"),
    "neighbourhood_team": ("neighbourhood_team", "outreach"),
}


# Real servers: SMTP (aiosmtpd) and an SMS gateway (http.server) --------------------------


class Mailbox:
    """What the local SMTP server received; ``stop`` takes the server down."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []
        self.stop: Callable[[], None] = lambda: None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(
            (list(envelope.rcpt_tos), email.message_from_bytes(envelope.original_content))
        )
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = _free_port()
    controller = aiosmtpd_controller.Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    running = [True]

    def stop() -> None:
        if running.pop():
            controller.stop()

    box.stop = lambda: stop() if running else None
    try:
        yield box, port
    finally:
        box.stop()


class Gateway(ThreadingHTTPServer):
    received: list[tuple[dict[str, str], dict[str, Any]]]
    answer: int = 202


class _GatewayHandler(BaseHTTPRequestHandler):
    server: Gateway

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.server.received.append((dict(self.headers), json.loads(self.rfile.read(length))))
        self.send_response(self.server.answer)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": "queued"}')

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the test's output stays readable


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    server = Gateway(("127.0.0.1", 0), _GatewayHandler)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def settings(
    database: Any, keys_dir: Path, tmp_path: Path, mailbox: tuple[Mailbox, int], gateway: Gateway
) -> Settings:
    """The test broker with e-mail and text messages set up, to servers on this machine
    (so 127.0.0.1 is on the outbound allow-list), and Rotterdam's teams' phone numbers."""
    write_teams(tmp_path)
    return broker_settings(
        database,
        keys_dir,
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=mailbox[1],
        smtp_from=SENDER,
        smtp_starttls=False,
        sms_gateway_url=f"http://127.0.0.1:{gateway.server_address[1]}/messages",
        sms_gateway_token="gateway-test-token",
        sms_sender="Wijkteam",
        outbound_allowed_hosts=["127.0.0.1"],
    )


def write_teams(data_dir: Path) -> None:
    own = data_dir / "outreach" / "0599"
    own.mkdir(parents=True, exist_ok=True)
    (own / "teams.yaml").write_text(
        f'"Wijkteam Rotterdam Noord": {{phone: "{TEAM_PHONE}", email: "noord@rotterdam.example"}}\n'
        f'"Gemeente Rotterdam": {{phone: "{MUNICIPALITY_PHONE}"}}\n'
    )


# Helpers ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _case(client: TestClient, token_for: Headers, world: Any, *, to_team: bool) -> tuple[str, Any]:
    body = signal_body()
    sent = client.post("/v1/signals", json=body, headers=token_for("housing_corporation"))
    assert sent.status_code == 201, sent.text
    case_id = sent.json()["case_id"]
    if to_team:
        assigned = client.post(
            f"/v1/cases/{case_id}/assignment",
            json={"organisation_id": world["neighbourhood_team"].id},
            headers=token_for("municipality"),
        )
        assert assigned.status_code == 200, assigned.text
    return case_id, body


def _attempts(client: TestClient, token_for: Headers, case_id: str) -> list[dict[str, Any]]:
    document = client.get(f"/v1/cases/{case_id}", headers=token_for("municipality")).json()
    attempts: list[dict[str, Any]] = document["contact_attempts"]
    return attempts


def _log(db_session: Any, action: str) -> list[dict[str, Any]]:
    with db_session() as session:
        rows = session.execute(
            select(AuditEntry.entry)
            .where(AuditEntry.action == action)
            .order_by(AuditEntry.leaf_index)
        )
        return [orjson.loads(data) for (data,) in rows]


def _rule_fields(kind: str) -> frozenset[str]:
    recipient, purpose = OWN_RULE[kind]
    rule = shipped_register().rule_for(recipient, purpose, "read")
    assert rule is not None
    return rule.fields


def _template(tmp_path: Path, text: str, name: str = "letter_home_visit") -> None:
    own = tmp_path / "outreach" / "0599" / "nl"
    own.mkdir(parents=True, exist_ok=True)
    (own / f"{name}.txt").write_text(text)


# What a template may contain, per role ------------------------------------------------------


@pytest.mark.parametrize("kind", ["municipality", "neighbourhood_team"])
def test_every_shipped_template_uses_only_placeholders_the_sending_roles_rule_shows(
    kind: str, tmp_path: Path
) -> None:
    fields = _rule_fields(kind)
    for name in TemplateName:
        if name is TemplateName.EMAIL and "contact.email" not in fields:
            with pytest.raises(TemplateRefused) as refused:
                load(name, "nl", gemeentecode="0599", data_dir=tmp_path, allowed=fields)
            assert (refused.value.code, refused.value.placeholder) == ("not_in_rule", "email")
            continue
        for language in ("nl", "en"):
            template = load(name, language, gemeentecode="0599", data_dir=tmp_path, allowed=fields)
            assert template.origin == "shipped"
            assert all(PLACEHOLDERS[p] <= fields for p in template.placeholders)


@pytest.mark.parametrize(
    ("kind", "placeholder", "code"),
    [
        ("neighbourhood_team", "amount", "not_in_rule"),  # the team sees a band, not the sum
        ("neighbourhood_team", "email", "not_in_rule"),
        ("neighbourhood_team", "bsn", "never"),
        ("neighbourhood_team", "birth_date", "never"),
        ("municipality", "bsn", "never"),  # the municipality knows it; a letter never names it
        ("municipality", "birth_date", "never"),
        ("municipality", "external_ref", "never"),
        ("municipality", "iban", "unknown"),
    ],
)
def test_an_own_template_is_refused_when_it_loads_if_a_placeholder_is_outside_the_rule(
    kind: str, placeholder: str, code: str, tmp_path: Path
) -> None:
    _template(tmp_path, f"Onderwerp: Hulp\n\nBeste {{name}}, het gaat om {{{placeholder}}}.\n")
    with pytest.raises(TemplateRefused) as refused:
        load(
            TemplateName.LETTER_HOME_VISIT,
            "nl",
            gemeentecode="0599",
            data_dir=tmp_path,
            allowed=_rule_fields(kind),
        )
    assert (refused.value.code, refused.value.placeholder) == (code, placeholder)


def test_the_municipality_s_own_template_with_the_exact_amount_loads_for_it_and_not_for_the_team(
    tmp_path: Path,
) -> None:
    _template(tmp_path, "Onderwerp: Hulp\n\nBeste {name}, u hebt {amount} achterstand.\n")
    own = load(
        TemplateName.LETTER_HOME_VISIT,
        "nl",
        gemeentecode="0599",
        data_dir=tmp_path,
        allowed=_rule_fields("municipality"),
    )
    assert own.origin == "0599" and "amount" in own.placeholders
    with pytest.raises(TemplateRefused):
        load(
            TemplateName.LETTER_HOME_VISIT,
            "nl",
            gemeentecode="0599",
            data_dir=tmp_path,
            allowed=_rule_fields("neighbourhood_team"),
        )
    # And when it is filled in: the fields of the case's own decision are checked again.
    with pytest.raises(TemplateRefused) as refused:
        own.render({"name": "Q. Test", "amount": "€ 1"}, _rule_fields("neighbourhood_team"))
    assert refused.value.code == "not_in_rule"


@pytest.mark.parametrize(
    "text", ["{name.__class__}", "{name[0]}", "{name!r}", "{name:>99}", "{", "{}"]
)
def test_a_template_with_anything_but_bare_placeholder_names_is_refused(
    text: str, tmp_path: Path
) -> None:
    _template(tmp_path, f"Onderwerp: Hulp\n\n{text}\n")
    with pytest.raises(TemplateRefused) as refused:
        load(
            TemplateName.LETTER_HOME_VISIT,
            "nl",
            gemeentecode="0599",
            data_dir=tmp_path,
            allowed=_rule_fields("municipality"),
        )
    assert refused.value.code in ("syntax", "unknown")


def test_the_team_s_case_page_offers_no_e_mail_and_its_e_mail_page_refuses_in_dutch(
    client: TestClient, token_for: Headers, world: Any, login: Any
) -> None:
    case_id, body = _case(client, token_for, world, to_team=True)
    team = login("neighbourhood_team")
    page = team.get(f"/ui/cases/{case_id}").text
    assert "Brief, e-mail of sms" in page
    assert f"/ui/cases/{case_id}/outreach/sms" in page
    assert f"/ui/cases/{case_id}/outreach/letter_home_visit" in page
    assert f"/ui/cases/{case_id}/outreach/email" not in page
    refused = team.get(f"/ui/cases/{case_id}/outreach/email")
    assert refused.status_code == 422
    assert "Deze tekst gebruikt: het e-mailadres." in refused.text
    assert body["contact"]["email"] not in refused.text


# The letter -----------------------------------------------------------------------------


def test_the_team_s_letter_pdf_has_the_person_s_name_and_address_and_no_bsn_or_amount(
    client: TestClient, token_for: Headers, world: Any, login: Any, db_session: Any
) -> None:
    case_id, body = _case(client, token_for, world, to_team=True)
    team = login("neighbourhood_team")
    before = len(_log(db_session, "case.read"))
    answer = team.get(
        f"/ui/cases/{case_id}/outreach/letter_home_visit/pdf",
        params={"proposed_date": outreach.default_proposal(_today()).day.isoformat()},
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert "attachment" in answer.headers["content-disposition"]
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(answer.content)).pages)
    flat = " ".join(text.split())
    assert body["person"]["surname"] in flat
    assert f"Proefstraat {body['address']['house_number']}" in flat
    assert "3012 QX Rotterdam" in flat
    assert TEAM_PHONE in flat and "Wijkteam Rotterdam Noord" in flat
    assert "Wij komen graag bij u thuis langs." in flat
    assert body["person"]["bsn"] not in flat.replace(" ", "")
    assert "987,65" not in flat and "98765" not in flat.replace(".", "")
    # Reading the case for the letter is on the log, through the team's own rule; printing
    # is not yet sending, so no attempt is recorded.
    reads = _log(db_session, "case.read")
    assert len(reads) == before + 1
    assert reads[-1]["rule_id"] == "neighbourhood-team.outreach.receive"
    assert _attempts(client, token_for, case_id) == []


def test_recording_the_letter_as_sent_puts_the_attempt_on_the_case_and_the_log(
    client: TestClient, token_for: Headers, world: Any, login: Any, db_session: Any
) -> None:
    case_id, _ = _case(client, token_for, world, to_team=True)
    team = login("neighbourhood_team")
    token = csrf(team, f"/ui/cases/{case_id}/outreach/letter_call")
    day = outreach.default_proposal(_today()).day
    sent = team.post(
        f"/ui/cases/{case_id}/outreach/letter_call",
        data={"csrf_token": token, "proposed_date": day.isoformat(), "proposed_time": "14:30"},
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/ui/cases/{case_id}?saved=outreach_saved_letter"
    [attempt] = _attempts(client, token_for, case_id)
    assert attempt["channel"] == "letter" and attempt["reached"] is False
    assert attempt["date"] == _today().isoformat()
    assert attempt["note"].startswith("brief verstuurd (sjabloon telefoongesprek), voorstel ")
    assert attempt["note"].endswith("14.30 uur")
    assert attempt["recorded_by"] == world["neighbourhood_team"].id
    recorded = _log(db_session, "case.contact_attempt")[-1]
    assert recorded["rule_id"] == "neighbourhood-team.outreach.record"
    assert recorded["decision"] == "permit"
    page = team.get(sent.headers["location"]).text
    assert "Brief vastgelegd als contactpoging." in page


def test_a_post_without_the_csrf_token_sends_nothing(
    client: TestClient, token_for: Headers, world: Any, login: Any, gateway: Gateway
) -> None:
    case_id, _ = _case(client, token_for, world, to_team=True)
    team = login("neighbourhood_team")
    refused = team.post(f"/ui/cases/{case_id}/outreach/sms", data={"proposed_time": "10:00"})
    assert refused.status_code == 403
    assert gateway.received == [] and _attempts(client, token_for, case_id) == []


# E-mail -------------------------------------------------------------------------------------


def test_the_municipality_s_e_mail_arrives_at_the_smtp_server_and_is_on_the_case_and_the_log(
    client: TestClient,
    token_for: Headers,
    world: Any,
    login: Any,
    db_session: Any,
    mailbox: tuple[Mailbox, int],
) -> None:
    case_id, body = _case(client, token_for, world, to_team=False)
    worker = login("municipality")
    preview = worker.get(f"/ui/cases/{case_id}/outreach/email")
    assert preview.status_code == 200
    assert body["contact"]["email"] in preview.text and "E-mail versturen" in preview.text
    day = outreach.default_proposal(_today()).day
    sent = worker.post(
        f"/ui/cases/{case_id}/outreach/email",
        data={
            "csrf_token": hidden(preview.text, "csrf_token"),
            "proposed_date": day.isoformat(),
            "proposed_time": "09:30",
        },
    )
    assert sent.status_code == 303, sent.text
    assert sent.headers["location"].endswith("saved=outreach_saved_email")

    [(recipients, message)] = mailbox[0].messages
    assert recipients == [body["contact"]["email"]]
    assert message["From"] == SENDER and message["Subject"] == "Wij willen u graag helpen"
    text = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert f"Beste Q. {body['person']['surname']}," in text
    assert "om 09.30 uur" in text and MUNICIPALITY_PHONE in text
    assert body["person"]["bsn"] not in text
    # The municipality signs once, not as "Gemeente Rotterdam" twice.
    assert text.count("Gemeente Rotterdam") == 1

    [attempt] = _attempts(client, token_for, case_id)
    assert attempt["channel"] == "email" and attempt["reached"] is False
    assert attempt["note"].startswith("e-mail verstuurd (sjabloon e-mail)")
    recorded = _log(db_session, "case.contact_attempt")[-1]
    assert recorded["rule_id"] == "municipality.early-signal.record"
    assert recorded["resources"]["channel"] == "email"
    assert recorded["resources"]["case"] == case_id


def test_with_the_smtp_server_down_nothing_is_recorded_and_the_worker_reads_why_in_dutch(
    client: TestClient,
    token_for: Headers,
    world: Any,
    login: Any,
    db_session: Any,
    mailbox: tuple[Mailbox, int],
) -> None:
    case_id, _ = _case(client, token_for, world, to_team=False)
    worker = login("municipality")
    token = csrf(worker, f"/ui/cases/{case_id}/outreach/email")
    before = len(_log(db_session, "case.contact_attempt"))
    # The server goes away: nothing listens on its port any more.
    mailbox[0].stop()
    failed = worker.post(
        f"/ui/cases/{case_id}/outreach/email",
        data={"csrf_token": token, "proposed_time": "10:00"},
    )
    assert failed.status_code == 503
    assert "Niet verstuurd: de mailserver of de sms-dienst is nu niet bereikbaar." in failed.text
    assert "Er is niets vastgelegd." in failed.text
    assert _attempts(client, token_for, case_id) == []
    assert len(_log(db_session, "case.contact_attempt")) == before
    assert mailbox[0].messages == []


def test_without_smtp_settings_the_pages_say_e_mail_is_not_set_up(
    client: TestClient,
    token_for: Headers,
    world: Any,
    login: Any,
    broker: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(broker.settings, "smtp_host", None)
    case_id, _ = _case(client, token_for, world, to_team=False)
    worker = login("municipality")
    case_page = worker.get(f"/ui/cases/{case_id}").text
    assert "E-mail is nog niet ingesteld." in case_page
    preview = worker.get(f"/ui/cases/{case_id}/outreach/email").text
    assert "E-mail is nog niet ingesteld." in preview and "E-mail versturen</button>" not in preview
    token = hidden(preview, "csrf_token")
    refused = worker.post(
        f"/ui/cases/{case_id}/outreach/email", data={"csrf_token": token, "proposed_time": "10:00"}
    )
    assert refused.status_code == 409 and "dit kanaal is nog niet ingesteld" in refused.text
    assert _attempts(client, token_for, case_id) == []


def test_the_smtp_sender_refuses_a_host_the_outbound_rules_do_not_allow(
    mailbox: tuple[Mailbox, int],
) -> None:
    sender = SmtpSender(
        host="127.0.0.1",
        port=mailbox[1],
        sender=SENDER,
        starttls=False,
        username=None,
        password=None,
        timeout=5,
        outbound=Outbound(),  # no allow-list: a loopback address is not public
    )
    with pytest.raises(SendFailed) as failed:
        sender.send(Email("iemand@example.test", "Onderwerp", "Tekst", "0599-2026-000001"))
    assert failed.value.reason == "destination"
    assert mailbox[0].messages == []


# Text messages --------------------------------------------------------------------------


def test_the_team_s_text_message_goes_through_the_gateway_and_is_on_the_case(
    client: TestClient,
    token_for: Headers,
    world: Any,
    login: Any,
    db_session: Any,
    gateway: Gateway,
) -> None:
    case_id, body = _case(client, token_for, world, to_team=True)
    team = login("neighbourhood_team")
    preview = team.get(f"/ui/cases/{case_id}/outreach/sms")
    assert preview.status_code == 200 and "van de 160 tekens" in preview.text
    sent = team.post(
        f"/ui/cases/{case_id}/outreach/sms",
        data={"csrf_token": hidden(preview.text, "csrf_token"), "proposed_time": "11:00"},
    )
    assert sent.status_code == 303, sent.text
    [(headers, message)] = gateway.received
    assert headers["Authorization"] == "Bearer gateway-test-token"
    assert message["to"] == "+31687654321" and message["sender"] == "Wijkteam"
    assert message["text"].startswith(f"Beste Q. {body['person']['surname']}, Wijkteam")
    assert TEAM_PHONE in message["text"] and "om 11.00 uur" in message["text"]
    assert len(message["text"]) <= SMS_LENGTH
    assert (
        message["reference"]
        == client.get(f"/v1/cases/{case_id}", headers=token_for("municipality")).json()["number"]
    )
    [attempt] = _attempts(client, token_for, case_id)
    assert attempt["channel"] == "sms_whatsapp"
    assert attempt["note"].startswith("sms verstuurd (sjabloon sms)")
    assert _log(db_session, "case.contact_attempt")[-1]["resources"]["channel"] == "sms_whatsapp"


def test_a_gateway_that_refuses_leaves_nothing_recorded(
    client: TestClient, token_for: Headers, world: Any, login: Any, gateway: Gateway
) -> None:
    gateway.answer = 500
    case_id, _ = _case(client, token_for, world, to_team=True)
    team = login("neighbourhood_team")
    token = csrf(team, f"/ui/cases/{case_id}/outreach/sms")
    failed = team.post(
        f"/ui/cases/{case_id}/outreach/sms", data={"csrf_token": token, "proposed_time": "10:00"}
    )
    assert failed.status_code == 502
    assert "de sms-dienst weigerde het bericht" in failed.text
    assert len(gateway.received) == 1 and _attempts(client, token_for, case_id) == []


def test_the_http_text_sender_posts_json_and_respects_the_outbound_allow_list(
    gateway: Gateway,
) -> None:
    url = f"http://127.0.0.1:{gateway.server_address[1]}/messages"
    allowed = HttpTextSender(url, "t", None, 5, Outbound(frozenset({"127.0.0.1"})))
    allowed.send(TextMessage("06-8765 4321", "Hallo", "ref-1"))
    assert gateway.received[-1][1] == {"to": "+31687654321", "text": "Hallo", "reference": "ref-1"}
    closed = HttpTextSender(url, "t", None, 5, Outbound())
    with pytest.raises(SendFailed) as failed:
        closed.send(TextMessage("0687654321", "Hallo", "ref-2"))
    assert failed.value.reason == "destination" and len(gateway.received) == 1
    with pytest.raises(SendFailed) as bad_number:
        allowed.send(TextMessage("bel me", "Hallo", "ref-3"))
    assert bad_number.value.reason == "recipient"


def test_phone_numbers_become_international() -> None:
    assert international_number("06-1234 5678") == "+31612345678"
    assert international_number("+31 6 12345678") == "+31612345678"
    assert international_number("0031612345678") == "+31612345678"
    assert international_number("010 123 45 67") == "+31101234567"
    assert international_number("12") is None


def test_a_text_message_longer_than_one_sms_is_refused_when_filled_in(tmp_path: Path) -> None:
    fields = _rule_fields("neighbourhood_team")
    own = tmp_path / "outreach" / "0599" / "nl"
    own.mkdir(parents=True)
    (own / "sms.txt").write_text("Beste {name}, " + "heel lang " * 20 + "Bel {team_phone}.")
    template = load(
        TemplateName.SMS,
        "nl",
        gemeentecode="0599",
        data_dir=tmp_path,
        allowed=fields,
    )
    with pytest.raises(TemplateRefused) as refused:
        template.render({"name": "Q. Test", "team_phone": TEAM_PHONE}, fields)
    assert refused.value.code == "too_long"


# Who sends --------------------------------------------------------------------------------


def test_the_debt_service_and_the_privacy_officer_get_no_outreach_pages(
    client: TestClient, token_for: Headers, world: Any, login: Any
) -> None:
    case_id, _ = _case(client, token_for, world, to_team=False)
    for kind in ("debt_service", "privacy_officer"):
        assert login(kind).get(f"/ui/cases/{case_id}/outreach/letter_call").status_code == 403
    assert (
        frozenset({world["municipality"].kind, world["neighbourhood_team"].kind})
        == outreach.OUTREACH_KINDS
    )


def test_another_team_s_case_is_a_404_on_the_outreach_pages(
    client: TestClient, token_for: Headers, world: Any, login: Any
) -> None:
    case_id, _ = _case(client, token_for, world, to_team=False)  # not assigned to the team
    team = login("neighbourhood_team")
    assert team.get(f"/ui/cases/{case_id}/outreach/sms").status_code == 404
    assert team.get(f"/ui/cases/{case_id}/outreach/nonsense").status_code == 404


def _today() -> Any:
    from exchange.clock import today

    return today()
