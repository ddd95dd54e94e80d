"""The fee pump of flexnet v1 (issue #10) is gone: a network whose members see negative net
value cannot live on their fees.

v1 kept 24 members at year 30 in this run, with trust 1e-9 and a perceived net value of about
-15,600 $/firm/yr: brokers converted at least half of their contacts whatever membership was
worth, and quitting was capped. v2 converts in proportion to attractiveness and lets quitting
rise without a cap as the perceived value falls below zero.
"""

from __future__ import annotations

from sdnet.model import Model
from sdnet.policy import Push

FEE_PUMP = {"Membership Fee": 18_000.0, "Broker Share": 0.7}
PUSH = Push(amount=300_000.0, start=2.0, duration=3.5)


def test_fee_pump_run_ends_with_less_than_one_member(flexnet: Model) -> None:
    """`sdnet run ... --region typical --set membership_fee=18000 --set broker_share=0.7
    --push-amount 300000 --push-start 2 --push-duration 3.5`: fewer than 1 member at year 30."""
    result = flexnet.run(FEE_PUMP, region="typical", push=PUSH,
                         variables=["Total Members", "Perceived Value"])
    assert float(result.frame["Total Members"].iloc[-1]) < 1.0
    # and no time at which a network of 3+ firms exists with members seeing negative value
    frame = result.frame
    network = frame["Total Members"] >= 3.0
    assert not (network & (frame["Perceived Value[Micro]"] < 0)).any()


def test_no_value_no_members(flexnet: Model) -> None:
    """With every value set to its lowest (services, contacts and learning worth little) and
    the base push, the push recruits fewer members than with the defaults: what firms expect
    to gain drives joining, not the brokers' head count."""
    low = {"Full Service Value": 1000.0, "Full Contact Value": 1000.0,
           "Full Learning Value": 2000.0}
    poor = flexnet.run(low, region="typical", push=PUSH, variables=["Total Members"])
    rich = flexnet.run(region="typical", push=PUSH, variables=["Total Members"])
    assert poor.frame["Total Members"].max() < 0.5 * rich.frame["Total Members"].max()
