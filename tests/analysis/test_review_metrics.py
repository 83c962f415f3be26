from __future__ import annotations

import numpy as np
import pytest

from analysis.review_metrics import CaseMetrics, aggregate, box_iou, mask_agreement, summary


def _ball(shape, centre, radius):
    zz, yy, xx = np.ogrid[: shape[0], : shape[1], : shape[2]]
    return (zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2 <= radius**2


def test_nested_spheres_have_the_known_dice_and_iou():
    p, f = _ball((40, 40, 40), (20, 20, 20), 10), _ball((40, 40, 40), (20, 20, 20), 8)
    a = mask_agreement(p, f)
    n_p, n_f = int(p.sum()), int(f.sum())
    assert (a.proposal_voxels, a.final_voxels, a.voxels_edited) == (n_p, n_f, n_p - n_f)
    assert a.iou == pytest.approx(n_f / n_p) and a.dice == pytest.approx(2 * n_f / (n_p + n_f))
    # close to the continuous values (8/10)^3 = 0.512 and 2*0.512/1.512
    assert a.iou == pytest.approx(0.512, abs=0.01) and a.dice == pytest.approx(0.6772, abs=0.01)


def test_mask_edge_cases():
    empty = np.zeros((3, 3, 3), bool)
    assert mask_agreement(empty, empty).dice == 1.0
    full = ~empty
    removed = mask_agreement(full, empty)
    assert (removed.dice, removed.iou, removed.voxels_edited) == (0.0, 0.0, 27)
    with pytest.raises(ValueError, match="shapes differ"):
        mask_agreement(empty, np.zeros((2, 3, 3), bool))


def test_box_iou_3d_2d_and_disjoint():
    assert box_iou((0, 0, 0), (10, 10, 10), (0, 0, 0), (10, 10, 5)) == pytest.approx(0.5)
    assert box_iou((0, 0, 0), (10, 10, 10), (5, 0, 0), (15, 10, 10)) == pytest.approx(1 / 3)
    assert box_iou((0, 0, 0), (1, 1, 1), (2, 2, 2), (3, 3, 3)) == 0.0
    # 2-D boxes on one axial slice: area IoU; on another slice: 0
    assert box_iou((0, 0, 5), (10, 10, 5), (0, 5, 5), (10, 10, 5)) == pytest.approx(0.5)
    assert box_iou((0, 0, 5), (10, 10, 5), (0, 0, 6), (10, 10, 6)) == 0.0


def test_aggregate_pools_proposals_and_sums_cases():
    a = CaseMetrics("a", segments=[{"dice": 0.5, "iou": 1 / 3, "voxels_edited": 10}],
                    boxes=[{"iou": 0.5, "label_changed": True}], label_changes=1,
                    statuses={"edited": 2}, time_s=300)
    b = CaseMetrics("b", segments=[{"dice": 1.0, "iou": 1.0, "voxels_edited": 0},
                                   {"dice": 0.0, "iou": 0.0, "voxels_edited": 4}],
                    boxes=[{"iou": 0.0, "label_changed": False}], statuses={"accepted": 1, "rejected": 2},
                    manual=3, time_s=100)
    agg = aggregate([a, b])
    assert agg["cases"] == 2 and agg["proposals"] == 5 and agg["manual"] == 3
    assert agg["statuses"] == {"edited": 2, "accepted": 1, "rejected": 2}
    assert agg["dice"]["mean"] == pytest.approx(0.5) and agg["dice"]["median"] == 0.5 and agg["dice"]["n"] == 3
    assert agg["box_iou"]["mean"] == pytest.approx(0.25)
    assert agg["voxels_edited"]["total"] == 14 and agg["time_s"]["total"] == 400 and agg["time_s"]["median"] == 200
    assert a.to_dict()["mean_box_iou"] == 0.5 and b.to_dict()["mean_dice"] == 0.5
    assert summary([])["mean"] is None
