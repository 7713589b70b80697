"""Trust bundles: pinned root, certificate validity, and distinct errors for each failure."""

from __future__ import annotations

import json

import pytest

from shared.errors import BundleSignatureError, CertificateNotValidError, DocumentError, UnknownKeyError
from shared.keys import private_key_from_seed, public_key_bytes
from shared.trust import TrustBundle, issue_certificate, make_bundle
from tests.shared.helpers import CERT_FROM, CERT_UNTIL, ISSUER, KEY_ID, ROOT, bundle

OTHER_ROOT = private_key_from_seed(b"\x09" * 32)


def test_load_verifies_against_pinned_root() -> None:
    doc = bundle().to_json()
    loaded = TrustBundle.load(json.dumps(doc), ROOT.public_key())
    assert loaded.issuer_key(KEY_ID, CERT_FROM) is not None
    assert public_key_bytes(loaded.issuer_key(KEY_ID, CERT_FROM)) == public_key_bytes(ISSUER)


def test_bundle_signed_by_another_root_is_refused() -> None:
    cert = issue_certificate(OTHER_ROOT, KEY_ID, ISSUER.public_key(), CERT_FROM, CERT_UNTIL)
    foreign = make_bundle(OTHER_ROOT, 1, CERT_FROM, [cert]).to_json()
    with pytest.raises(BundleSignatureError):
        TrustBundle.load(foreign, ROOT.public_key())


def test_tampered_bundle_is_refused() -> None:
    doc = bundle().to_json()
    doc["version"] = 99
    with pytest.raises(BundleSignatureError):
        TrustBundle.load(doc, ROOT.public_key())


def test_certificate_added_without_root_signature_is_refused() -> None:
    doc = bundle().to_json()
    rogue = issue_certificate(OTHER_ROOT, 2, OTHER_ROOT.public_key(), CERT_FROM, CERT_UNTIL)
    doc["issuers"].append(rogue.to_json())
    # re-sign the outer bundle with the real root: the inner certificate must still be checked
    from shared.signed_doc import sign_document

    doc = sign_document("trust-bundle/v1", doc, ROOT)
    with pytest.raises(BundleSignatureError):
        TrustBundle.load(doc, ROOT.public_key())


def test_unknown_key_and_certificate_window_are_distinct_errors() -> None:
    b = bundle()
    with pytest.raises(UnknownKeyError) as unknown:
        b.issuer_key(KEY_ID + 1, CERT_FROM)
    assert unknown.value.code == "unknown_key"
    with pytest.raises(CertificateNotValidError) as early:
        b.issuer_key(KEY_ID, CERT_FROM - 1)
    assert early.value.code == "issuer_not_valid"
    with pytest.raises(CertificateNotValidError):
        b.issuer_key(KEY_ID, CERT_UNTIL)


@pytest.mark.parametrize("text", ["not json", "[]", '{"version": "1"}', "{}"])
def test_malformed_bundle_documents(text: str) -> None:
    with pytest.raises((DocumentError, BundleSignatureError)):
        TrustBundle.load(text, ROOT.public_key())
