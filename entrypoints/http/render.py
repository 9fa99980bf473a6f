"""Read models → the contract's JSON objects (money as integer minor units plus `currency`,
timestamps as ISO 8601 UTC with a `Z`)."""
from __future__ import annotations

import base64
import re
from datetime import datetime, timezone
from functools import lru_cache

import zxingcpp

from domain.catalog import Catalog
from entrypoints.http.language import ENGLISH
from entrypoints.http.texts import plan_name
from ports.use_cases.views import MembershipView, Page, ProrationView, SessionView, TransactionView


def timestamp(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_DARK_RUN = re.compile(rb"\x00+")  # in zxing-cpp's image a dark module is 0, a light one 255


@lru_cache(maxsize=1024)  # about 2.5 KB each: 2.5 MB at most
def qr_code_image(payload: str) -> str:
    """An SVG data URI of a QR code for `payload`, quiet zone included. zxing-cpp encodes it
    (about 0.2 ms); each horizontal run of dark modules becomes one stroke of a single path,
    which is a third smaller and quicker to make than zxing-cpp's own SVG. Drawn once per
    payload (a session's code never changes): frontends poll the same session many times, and a
    transaction's read shows all of its sessions (at most `domain.transaction.MAX_SESSIONS`)."""
    image = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.QRCode).to_image(scale=1, add_quiet_zones=True)
    height, width = image.shape
    # The quiet zone is light on every side, so a run never wraps from one row to the next.
    runs = "".join([f"M{run.start() % width} {run.start() // width}h{run.end() - run.start()}"
                    for run in _DARK_RUN.finditer(bytes(image))])
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" shape-rendering="crispEdges">'
           f'<path fill="#fff" d="M0 0h{width}v{height}H0z"/>'
           f'<path stroke="#000" transform="translate(0 .5)" d="{runs}"/></svg>')
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def transaction(t: TransactionView) -> dict:
    return {
        "id": t.id, "order_id": t.order_id, "type": t.type, "status": t.status, "receives": t.receives,
        "plan_from": t.plan_from, "plan_to": t.plan_to, "subtotal": t.subtotal.amount,
        "discount": t.discount.amount, "total": t.total.amount, "currency": t.total.currency.code,
        "payment_method": t.payment_method, "provider": t.provider, "refunded_amount": t.refunded_amount.amount,
        "cancel_reason": t.cancel_reason, "failure_reason": t.failure_reason,
        "created_at": timestamp(t.created_at), "updated_at": timestamp(t.updated_at),
        "completed_at": timestamp(t.completed_at), "price_variant": t.price_variant,
    }


def session(s: SessionView) -> dict:
    encoded = s.qr_code or s.payment_url
    return {
        "id": s.id, "transaction_id": s.transaction_id, "order_id": s.order_id, "status": s.status,
        "payment_method": s.payment_method, "provider": s.provider, "amount": s.amount.amount,
        "currency": s.amount.currency.code, "payment_url": s.payment_url, "qr_code": s.qr_code,
        "qr_code_image": qr_code_image(encoded) if encoded else None,
        "expires_at": timestamp(s.expires_at), "created_at": timestamp(s.created_at),
        "completed_at": timestamp(s.completed_at),
    }


def membership(m: MembershipView) -> dict:
    change = m.scheduled_change
    return {
        "plan": m.plan, "status": m.status,
        "current_period_start": timestamp(m.current_period_start),
        "current_period_end": timestamp(m.current_period_end),
        "scheduled_change": {"plan": change.plan, "effective_at": timestamp(change.effective_at)} if change else None,
        "receives": {"balance": m.balance, "allowance_remaining": m.allowance_remaining,
                     "purchased_remaining": m.purchased_remaining, "monthly_allowance": m.monthly_allowance},
        "auto_renew": m.auto_renew, "renewal_method_id": m.renewal_method_id,
        "next_renewal_at": timestamp(m.next_renewal_at) if m.next_renewal_at else None,
        "grace_until": timestamp(m.grace_until) if m.grace_until else None,
    }


def proration(p: ProrationView) -> dict:
    return {"credit": p.credit.amount, "debit": p.debit.amount, "charge": p.charge.amount,
            "period_end": timestamp(p.period_end)}


def transaction_page(page: Page) -> dict:
    return {"items": [transaction(t) for t in page.items], "page": page.page, "limit": page.limit,
            "total": page.total, "has_more": page.has_more}


def pricing(catalog: Catalog, language: str = ENGLISH) -> dict:
    """The price list, plan names in `language`."""
    receives = catalog.receives
    return {
        "currency": catalog.currency.code,
        "receives": {
            "unit_price": receives.unit_price.amount, "min_amount": receives.min_quantity,
            "max_amount": receives.max_quantity,
            "tiers": [{"min_amount": t.min_quantity, "discount_percent": t.discount_percent}
                      for t in sorted(receives.tiers, key=lambda t: t.min_quantity)],
        },
        "plans": [{"id": p.id.value, "name": plan_name(p.id.value, p.name, language), "price": p.price.amount,
                   "interval": "month", "monthly_receives": p.monthly_receives}
                  for p in sorted(catalog.plans, key=lambda p: p.rank)],
    }
