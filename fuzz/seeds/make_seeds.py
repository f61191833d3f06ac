#!/usr/bin/env python3
"""Writes the seed inputs of every fuzz target from the repository's own
fixtures: the shipped rule files, the webhook signature vectors, and valid
merchant request bodies. Run from the repository root:
    python3 fuzz/seeds/make_seeds.py
Each target's first byte (where it has one) selects its mode; see the
target's source in fuzz/fuzz_targets/."""

import base64
import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
SEEDS = ROOT / "fuzz" / "seeds"


def write(target, name, data):
    folder = SEEDS / target
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (folder / name).write_bytes(data)


def strip_comments(text):
    lines = [re.sub(r"\s+#.*$", "", l) for l in text.splitlines()]
    return "\n".join(l for l in lines if l.strip() and not l.lstrip().startswith("#")) + "\n"


def rules():
    names = ["gateways.yaml", "merchants.yaml", "risk.yaml", "routes.yaml"]
    texts = [(ROOT / "routing-rules" / n).read_text() for n in names]
    compact = [strip_comments(t) for t in texts]
    write("rules", "shipped_full", "\0".join(texts))
    write("rules", "shipped_compact", "\0".join(compact))
    write("rules", "one_file", "".join(compact))
    split = compact[3].replace(
        "  - name: default",
        "  - name: usd-split\n    when: { currency: [USD], amount: { min: 1, max: 5000 } }\n"
        "    split: { stripe_sandbox: 80, adyen_sandbox: 20 }\n"
        "    strategy: approval_rate\n  - name: default",
    )
    write("rules", "split_route", "\0".join(compact[:3] + [split]))
    restricted = compact[0].replace(
        "    timeout_ms: 8000\n    credentials:\n      api_key: ${ADYEN",
        "    timeout_ms: 8000\n    methods: [card, apple_pay]\n    currencies: [EUR, GBP]\n"
        "    credentials:\n      api_key: ${ADYEN",
    )
    write("rules", "restricted_gateway", "\0".join([restricted] + compact[1:]))
    write("rules", "unset_env", "\0".join([compact[0].replace(":-sk_test_sandbox}", "}")] + compact[1:]))
    write("rules", "duplicate_key", compact[3].replace("cascade_on_soft_decline: true", "cascade_on_soft_decline: true\n    cascade_on_soft_decline: false"))


def stripe_sign(secret, t, body):
    import hashlib, hmac
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def stripe():
    doc = json.loads((ROOT / "tests/fixtures/vectors/stripe_webhook_vectors.json").read_text())
    for v in doc["vectors"]:
        payload = v["payload"].encode()
        write("stripe_webhook", f"header_{v['name']}", b"\0" + v["header"].encode() + b"\n" + payload)
    payload = json.loads(doc["vectors"][0]["payload"])
    write("stripe_webhook", "signed_valid_basic", b"\1" + json.dumps(payload).encode())
    secret = doc["vectors"][0]["secret"]
    events = {
        "authorized": ("payment_intent.amount_capturable_updated",
                       {"id": "pi_1", "object": "payment_intent", "amount_capturable": 1500,
                        "currency": "eur", "metadata": {"payroute_payment_id": "pay_1"}}),
        "failed": ("payment_intent.payment_failed",
                   {"id": "pi_1", "object": "payment_intent", "amount": 1500,
                    "last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds"}}),
        "canceled": ("payment_intent.canceled",
                     {"id": "pi_1", "object": "payment_intent", "cancellation_reason": "requested_by_customer"}),
        "refund": ("refund.updated",
                   {"id": "re_1", "object": "refund", "status": "failed", "amount": 500,
                    "payment_intent": {"id": "pi_1", "object": "payment_intent"},
                    "failure_reason": "expired_or_canceled_card",
                    "metadata": {"payroute_refund_id": "rf_1"}}),
        "dispute": ("charge.dispute.closed",
                    {"id": "dp_1", "object": "dispute", "status": "lost", "amount": 2000,
                     "payment_intent": "pi_1", "reason": "fraudulent"}),
    }
    for name, (etype, obj) in events.items():
        body = json.dumps({"id": f"evt_{name}", "object": "event", "created": 1700000000,
                           "type": etype, "data": {"object": obj}}).encode()
        write("stripe_webhook", f"signed_{name}", b"\1" + body)
        write("stripe_webhook", f"header_{name}", b"\0" + stripe_sign(secret, 1700000000, body).encode() + b"\n" + body)


def adyen():
    doc = json.loads((ROOT / "tests/fixtures/vectors/adyen_hmac_vectors.json").read_text())
    auth = "Basic " + base64.b64encode(b"adyen:hook-password").decode()
    for v in doc["vectors"]:
        body = v["notification_json"].encode()
        write("adyen_webhook", f"plain_{v['name']}", b"\0\n" + body)
        write("adyen_webhook", f"signed_{v['name']}", b"\1" + body)
    body = doc["vectors"][0]["notification_json"].encode()
    write("adyen_webhook", "basic_auth", b"\2" + auth.encode() + b"\n" + body)
    items = []
    for code, extra in [("CAPTURE", {}), ("REFUND", {}), ("CANCEL_OR_REFUND", {"modification.action": "refund"}),
                        ("CHARGEBACK", {}), ("TECHNICAL_CANCEL", {})]:
        items.append({"NotificationRequestItem": {
            "pspReference": f"PSP{code}", "originalReference": "QFQTPCQ8HXSKGK82",
            "merchantAccountCode": "PayrouteDemo", "merchantReference": "pay_1",
            "amount": {"currency": "EUR", "value": 1130}, "eventCode": code, "success": "true",
            "eventDate": "2024-03-01T09:59:00+01:00", "reason": "",
            "additionalData": dict(extra, hmacSignature="x")}})
    write("adyen_webhook", "signed_modifications",
          b"\1" + json.dumps({"live": "false", "notificationItems": items}).encode())


def payment_request():
    card = {"amount": 1999, "currency": "EUR", "reference": "o-1", "capture": "manual",
            "payment_method": {"type": "card", "card": {"number": "4242424242424242", "exp_month": 12,
                                                        "exp_year": 2030, "cvc": "123", "holder_name": "A B"}},
            "customer": {"id": "c1", "email": "a@example.com", "country": "DE", "ip": "192.0.2.1"},
            "metadata": {"channel": "web"}, "risk_score": 10, "return_url": "https://example.com/r"}
    bodies = {
        "card": card,
        "apple_pay": {"amount": 500, "currency": "USD", "reference": "o-2",
                      "payment_method": {"type": "apple_pay", "token": "tok_apple"}},
        "sepa": {"amount": 10000, "currency": "EUR", "reference": "o-3",
                 "payment_method": {"type": "sepa_debit", "sepa_debit": {"iban": "DE89 3704 0044 0532 0130 00", "name": "Max"}}},
        "tokens": {"amount": 100, "currency": "JPY", "reference": "o-4",
                   "payment_method": {"type": "gateway_token", "tokens": {"stripe_sandbox": "pm_1", "adyen_sandbox": "ad_1"}}},
    }
    for name, body in bodies.items():
        raw = json.dumps(body).encode()
        write("payment_request", f"create_{name}", b"\0" + raw)
        write("payment_request", f"explain_{name}", b"\1" + raw)


rules()
stripe()
adyen()
payment_request()
