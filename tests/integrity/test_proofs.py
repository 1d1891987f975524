"""Notices carry the log's signed tree head (template v2), and proofs anyone can check with only the public key:
GraphQL `proof`, `GET /notices/{id}/proof` and `rectify verify-proof`, on both stores."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from integrity_scenario import PUBLISHED_ON, SYSTEM, RawLog, Scenario, rectify
from starlette.testclient import TestClient

from rectify import settings
from rectify.access import Actor, Role
from rectify.bootstrap import System, open_system
from rectify.cli import web_settings
from rectify.domain.errors import Unavailable
from rectify.domain.values import Disclosure
from rectify.examples import songyuan
from rectify.integrity import keys
from rectify.integrity.leaves import seal_all
from rectify.integrity.merkle import Frontier, consistency_proof, range_hash_over, root_of
from rectify.notice.service import Notices
from rectify.web.app import create_app


def config_of(scenario: Scenario) -> settings.Settings:
    return settings.load({"RECTIFY_SIGNING_KEY": str(scenario.key_file)}, database_url=scenario.url)


@pytest.fixture
def opened(scenario: Scenario) -> Iterator[System]:
    system = open_system(config_of(scenario), run_projector=False, today=lambda: PUBLISHED_ON)
    system.projector.catch_up()
    yield system
    system.close()


def served(scenario: Scenario) -> TestClient:
    """The app in-process, on the notice's publication day (its publicity window open)."""
    config = config_of(scenario)
    return TestClient(create_app(config, web_settings(config), run_projector=False, today=lambda: PUBLISHED_ON))


def public_key(scenario: Scenario) -> keys.PublicKey:
    return keys.PublicKey.load(f"{scenario.key_file}.pub")


def test_a_published_notice_prints_the_signed_tree_head_at_its_position(
    opened: System, scenario: Scenario, raw: RawLog
) -> None:
    check = opened.notices.rebuild(scenario.notices[0])
    assert check.ok and check.publication.template_version == "v2"
    shown = check.rendered.notice.tree_head
    assert shown is not None and shown.note in check.rendered.markdown
    checkpoint = keys.parse_note(shown.note)
    assert public_key(scenario).verifies(checkpoint)
    # The head covers exactly the events up to the notice's position, recomputed here from their stored bytes:
    # the publication sealed the log that far before it rendered (the scenario runs no sealer of its own).
    events = [e for e in raw.events() if e.position <= check.publication.position]
    assert checkpoint.head.size == len(events)
    assert checkpoint.head.position == events[-1].position
    assert checkpoint.head.root == root_of(leaf.hash for leaf in seal_all(0, events))
    page = check.rendered.html()
    assert shown.fingerprint == public_key(scenario).fingerprint
    assert shown.fingerprint in page and shown.root in page


def test_a_notice_of_a_past_position_gets_the_head_there_made_from_the_stored_leaves(
    opened: System, scenario: Scenario, raw: RawLog
) -> None:
    loaded_position = opened.notices.find(scenario.notices[0])[1].position
    earlier = loaded_position - 7
    opened.sealer.seal()
    round_id = opened.notices.find(scenario.notices[0])[0].id
    unit_id = opened.notices.find(scenario.notices[0])[1].unit_id
    receipt = opened.app.publish_notice(
        SYSTEM, round_id=round_id, unit_id=unit_id, published_on=PUBLISHED_ON, position=earlier
    )
    opened.projector.catch_up()
    check = opened.notices.rebuild(receipt.entity_id)
    assert check.ok
    assert check.rendered.notice.tree_head is not None
    head = keys.parse_note(check.rendered.notice.tree_head.note).head
    events = [e for e in raw.events() if e.position <= earlier]
    assert (head.size, head.position) == (len(events), events[-1].position)
    assert head.root == root_of(leaf.hash for leaf in seal_all(0, events))


def test_a_v1_notice_rebuilds_byte_identically_beside_v2_notices(opened: System, scenario: Scenario) -> None:
    """v1 (no tree head) and v2 coexist: a publication names its version, and each is rebuilt with its own."""
    round_, publication = opened.notices.find(scenario.notices[0])
    opened.app.notice_renderer = Notices(opened.read).for_publication  # a read side without a sealer: v1
    receipt = opened.app.publish_notice(
        SYSTEM,
        round_id=round_.id,
        unit_id=publication.unit_id,
        published_on=PUBLISHED_ON,
        position=publication.position,
    )
    opened.projector.catch_up()
    old = opened.notices.rebuild(receipt.entity_id)
    new = opened.notices.rebuild(scenario.notices[0])
    assert old.ok and old.publication.template_version == "v1" and old.rendered.notice.tree_head is None
    assert new.ok and new.publication.template_version == "v2"
    assert new.rendered.markdown.startswith(old.rendered.markdown.rstrip("\n"))  # v2 = v1 + the record check


def ledger(system: System) -> list[Any]:
    with system.read.view() as view:
        return view.ledger()


def record_clean_ups(system: System, count: int) -> None:
    finding = next(
        row for row in ledger(system) if row.disclosure is Disclosure.PUBLIC and row.heading == "人居环境品质有效提升"
    )
    unit = Actor("松园", Role.UNIT, finding.unit_id)

    def record_all() -> None:
        for day in range(count):
            system.app.record_activity(
                unit,
                finding_id=finding.finding_id,
                kind="大扫除",
                occurred_on=date(2025, 1, 1 + day % 28).isoformat(),
                count=1,
            )

    system.app.batch(record_all)  # one transaction: the same events, without a commit (and a PostgreSQL lock) each


def verify_proof(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = rectify("verify-proof", *args)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_notices_proof_after_a_thousand_events_holds_with_only_the_public_key_and_fails_on_a_rewritten_log(
    opened: System, scenario: Scenario, raw: RawLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record_clean_ups(opened, 1000)
    opened.projector.catch_up()
    notice_id = scenario.notices[0]
    with served(scenario) as client:
        answer = client.get(f"/notices/{notice_id}/proof")
        markdown = client.get(f"/notices/{notice_id}.md").text
    assert answer.status_code == 200, answer.text
    document = answer.json()
    notice_head = keys.parse_note(document["from"]).head
    head = keys.parse_note(document["head"]).head
    assert head.size >= notice_head.size + 1000 and document["notice"]["notice_id"] == str(notice_id)
    proof_file, notice_file, pub = tmp_path / "proof.json", tmp_path / "notice.md", f"{scenario.key_file}.pub"
    proof_file.write_text(json.dumps(document))
    notice_file.write_text(markdown, encoding="utf-8")
    code, said = verify_proof(capsys, str(proof_file), "--public-key", pub, "--notice", str(notice_file))
    assert code == 0, said
    assert "the log has only grown since" in said and "OK: the proof holds" in said

    # Another key, a changed hash, another notice's text: each is refused.
    other = tmp_path / "other.key"
    keys.generate(other)
    assert verify_proof(capsys, str(proof_file), "--public-key", f"{other}.pub")[0] == 1
    bent = dict(document, consistency=[document["consistency"][0][::-1], *document["consistency"][1:]])
    (tmp_path / "bent.json").write_text(json.dumps(bent))
    code, said = verify_proof(capsys, str(tmp_path / "bent.json"), "--public-key", pub)
    assert code == 1 and "rectify: verify-proof: the proof does not hold" in said
    notice_file.write_text(markdown.replace("大扫除", "大清扫", 1), encoding="utf-8")
    code, said = verify_proof(capsys, str(proof_file), "--public-key", pub, "--notice", str(notice_file))
    assert code == 1 and "SHA-256 differs" in said

    # Someone with the database rewrites an event before the notice and its leaf, and the tree on from there,
    # so that the server signs heads over the rewritten log: no consistency proof from the notice's head holds.
    victim = next(e for e in raw.events() if e.type == "Finding.ActivityRecorded" and e.position < notice_head.position)
    raw.set_state(victim.position, victim.state.replace(b'"count":1', b'"count":9', 1))
    rewritten = seal_all(0, raw.events())
    for leaf in rewritten[victim.position - 1 : victim.position]:
        raw.execute(
            "UPDATE rectify_leaves SET state_digest = ?, leaf_hash = ? WHERE leaf_index = ?",
            (leaf.state_digest, leaf.hash, leaf.leaf_index),
        )
    frontier = Frontier()
    frontier.extend(leaf.hash for leaf in rewritten)  # every event was sealed: the tree as the tables now say
    raw.execute("UPDATE rectify_seal SET frontier = ?", (frontier.to_bytes(),))
    record_clean_ups(opened, 1)
    forged_head = opened.sealer.checkpoint()  # the server's key signs what its tables now say
    now = [leaf.hash for leaf in seal_all(0, raw.events())]
    assert forged_head.head.size == len(now) and forged_head.head.root == root_of(now)
    forged = dict(
        document,
        head=keys.note(forged_head),
        consistency=[h.hex() for h in consistency_proof(notice_head.size, len(now), range_hash_over(now))],
        leaf=None,
        inclusion=[],
    )
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    code, said = verify_proof(capsys, str(tmp_path / "forged.json"), "--public-key", pub)
    assert code == 1 and "does not lead to the head of the tree of" in said
    # and the server no longer gives a proof from the notice's head at all
    with served(scenario) as client:
        refused = client.get(f"/notices/{notice_id}/proof")
    assert refused.status_code == 503 and "rectify verify" in refused.text


QUERY = """query ($p: Int!) { proof(position: $p) { head size leafPosition leafIndex leafInput inclusion fromHead
  consistency document } }"""


def graphql(client: TestClient, position: int, token: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = client.post("/graphql", json={"query": QUERY, "variables": {"p": position}}, headers=headers)
    body = answer.json()
    assert "errors" not in body, body
    return body["data"]["proof"]


def test_the_proof_query_gives_the_public_proofs_only_for_events_it_may_see(
    opened: System, scenario: Scenario, raw: RawLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    internal = {row.finding_id for row in ledger(opened) if row.disclosure is not Disclosure.PUBLIC}
    assert internal, "the scenario has an internal finding"
    events = raw.events()
    hidden = next(e for e in events if e.aggregate in internal)
    public = next(e for e in events if e.type == "Finding.ActivityRecorded" and e.aggregate not in internal)
    secret = opened.app.issue_token(SYSTEM, role="INSPECTOR", label="office").secret  # type: ignore[attr-defined]
    opened.projector.catch_up()
    round_, publication = opened.notices.find(scenario.notices[0])
    internal_notice = opened.app.publish_notice(
        SYSTEM, round_id=round_.id, unit_id=publication.unit_id, edition="INTERNAL", published_on=PUBLISHED_ON
    ).entity_id
    opened.projector.catch_up()
    with served(scenario) as client:
        page = client.get(f"/notices/{scenario.notices[0]}").text
        assert public_key(scenario).fingerprint in page and "记录核验" in page  # the page shows the head and key
        ask = "query ($id: ID!) { noticeProof(id: $id) { fromHead document } }"
        of_public = client.post("/graphql", json={"query": ask, "variables": {"id": str(scenario.notices[0])}})
        of_internal = client.post("/graphql", json={"query": ask, "variables": {"id": str(internal_notice)}})
        assert of_internal.json() == {"data": {"noticeProof": None}}
        assert client.get(f"/notices/{internal_notice}/proof").status_code == 404  # as for no notice
        notice_proof = of_public.json()["data"]["noticeProof"]
        assert notice_proof["fromHead"] in page.replace("&#43;", "+")
        assert graphql(client, hidden.position) is None  # as for no event at all
        assert graphql(client, events[-1].position + 5) is None
        shown = graphql(client, public.position)
        office = graphql(client, hidden.position, secret)
    assert shown["leafPosition"] == public.position and office["leafPosition"] == hidden.position
    assert bytes.fromhex(shown["leafInput"])[9:25] == public.aggregate_id  # the input names the event it covers
    pub = f"{scenario.key_file}.pub"
    for name, proof in (("public", shown), ("office", office), ("notice", notice_proof)):
        (tmp_path / f"{name}.json").write_text(json.dumps(proof["document"]))
        code, said = verify_proof(capsys, str(tmp_path / f"{name}.json"), "--public-key", pub)
        assert code == 0, said
        assert name == "notice" or f"the event at position {proof['leafPosition']}" in said


def test_verify_proof_reads_no_store_and_says_what_is_wrong_with_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key_file: Path
) -> None:
    (tmp_path / "not.json").write_text("{")
    code, said = verify_proof(capsys, str(tmp_path / "not.json"), "--public-key", f"{key_file}.pub")
    assert code == 1 and "not JSON" in said and "Traceback" not in said
    (tmp_path / "empty.json").write_text(json.dumps({"format": "rectify-proof/1"}))
    code, said = verify_proof(capsys, str(tmp_path / "empty.json"), "--public-key", f"{key_file}.pub")
    assert code == 1 and "head: a signed tree head" in said
    assert not list(tmp_path.glob("*.db"))


def test_a_log_that_cannot_be_sealed_up_to_the_position_refuses_the_publication(
    database_url: str, signing_env: Path
) -> None:
    config = settings.load({"RECTIFY_SIGNING_KEY": str(signing_env)}, database_url=database_url)
    system = open_system(config, run_projector=False, today=lambda: PUBLISHED_ON)
    try:
        loaded = songyuan.load(system.app, SYSTEM)
        system.projector.catch_up()
        raw = RawLog(database_url)
        victim = next(e for e in raw.events() if e.type == "Finding.ActivityRecorded")
        raw.set_state(victim.position, b"{not json")  # before the sealer reached it: nothing can vouch for it
        with pytest.raises(Unavailable, match=f"position {victim.position} cannot be sealed"):
            system.app.publish_notice(
                SYSTEM, round_id=loaded.round_id, unit_id=loaded.unit_id, published_on=PUBLISHED_ON
            )
        assert not [e for e in raw.events() if e.type == "Round.NoticePublished"]  # nothing was appended
    finally:
        system.close()
