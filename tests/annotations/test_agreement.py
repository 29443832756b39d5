"""Agreement values on a fixture whose κ and α are worked out by hand below."""
import pytest

from app.annotations import agreement, queues, service
from app.models import QueueItem
from tests.annotations.factories import label_item

# Two annotators label ten steps (+1 / 0 / −1):
A = [1, 1, 1, 1, 0, 0, 0, -1, -1, -1]
B = [1, 1, 1, 0, 0, 0, -1, -1, -1, 1]
# Cohen's κ: they agree on 7 of 10 (p_o = 0.7). Each gives +1 four times, 0 three times, −1
# three times, so p_e = (4·4 + 3·3 + 3·3) / 100 = 0.34 and κ = (0.7 − 0.34) / (1 − 0.34) = 6/11.
KAPPA = 6 / 11  # 0.5455
# Krippendorff's α, ordinal: pooled value counts n(−1) = 6, n(0) = 6, n(+1) = 8, n = 20.
# δ²(c, k) = (Σ_{g=c..k} n_g − (n_c + n_k)/2)²: δ²(−1,0) = (12 − 6)² = 36, δ²(0,+1) = (14 − 7)² = 49,
# δ²(−1,+1) = (20 − 7)² = 169. The 3 disagreeing units give the coincidences (+1,0), (0,−1), (−1,+1),
# each counted both ways: D_o = 2·(49 + 36 + 169) / 20 = 25.4.
# D_e = 2·(6·6·36 + 6·8·49 + 6·8·169) / (20·19) = 23520 / 380.
# α = 1 − D_o / D_e = 1 − 9652 / 23520 = 0.5896.
ALPHA = 1 - 9652 / 23520


def test_compute_matches_hand_values():
    triples = [(1, ("segment", 1, i), label) for i, label in enumerate(A)]
    triples += [(2, ("segment", 1, i), label) for i, label in enumerate(B)]
    result = agreement.compute(triples)
    assert result["kappa"] == pytest.approx(KAPPA, abs=1e-4)
    assert result["alpha"] == pytest.approx(ALPHA, abs=1e-4)
    assert result["overlapping_units"] == 10 and result["annotators"] == 2


def test_perfect_and_undefined_agreement():
    same = [(c, ("edit", i, 0), label) for c in (1, 2, 3) for i, label in enumerate([1, 0, -1, 1])]
    result = agreement.compute(same)
    assert result["alpha"] == pytest.approx(1.0) and result["kappa"] == pytest.approx(1.0)
    assert len(result["pairs"]) == 3
    # One annotator only: nothing to agree on.
    assert agreement.compute([(1, ("edit", 1, 0), 1)])["alpha"] is None


def test_queue_agreement_from_labels_given_in_the_queue(db, world, project, member, client):
    from tests.conftest import api_headers

    second = member("annotator", name="Bo")
    # A document queue: each annotator labels the ten sentence steps of its version.
    text = " ".join(f"Sentence number {i} is here." for i in range(10))
    from tests.annotations.factories import make_document

    document = make_document(db, world.writer, project, text=text, title="Ten")
    queue = queues.create_queue(db, project_id=project.id, user=world.admin, name="Ten", item_kind="document",
                                overlap=2, assignee_ids=[world.annotator.id, second.id])
    item = next(i for i in queue.items if i.document_id == document.id)
    for user, labels in ((world.annotator, A), (second, B)):
        # Claim items until this document's item is ours.
        while True:
            claim = queues.next_item(db, queue_id=queue.id, user=user)
            if claim.item_id == item.id:
                break
            label_item(db, user, db.get(QueueItem, claim.item_id), label=None)  # a comment: no agreement unit
            queues.submit_item(db, queue_id=queue.id, item_id=claim.item_id, user=user)
        for step, label in enumerate(labels):
            service.save_annotation(db, user=user, target_kind="segment", target_id=document.current_version_id,
                                    step=step, label=label, queue_item_id=item.id)
        queues.submit_item(db, queue_id=queue.id, item_id=item.id, user=user)
    result = agreement.queue_agreement(db, queue=queue)
    assert result["by_target_kind"]["segment"]["kappa"] == pytest.approx(KAPPA, abs=1e-4)
    assert result["overall"]["alpha"] == pytest.approx(ALPHA, abs=1e-4)
    db.flush()
    body = client.get(f"/api/v1/queues/{queue.id}/agreement", headers=api_headers(db, world.admin)).json()
    assert body["overall"]["kappa"] == pytest.approx(KAPPA, abs=1e-4)
    assert body["by_target_kind"]["segment"]["alpha"] == pytest.approx(ALPHA, abs=1e-4)
