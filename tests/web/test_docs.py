"""The API documentation works offline: Swagger UI comes from static/vendor, not a CDN."""
import re


def test_api_docs_load_only_local_assets(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text) + re.findall(r"url: '([^']+)'", page.text)
    assert assets and all(a.startswith("/") for a in assets), assets
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    spec = client.get("/api/openapi.json").json()
    assert "/api/v1/edits/{edit_id}/decision" in spec["paths"]
    # Bearer tokens are declared, so the page's Authorize button can send one.
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert {"HTTPBearer": []} in spec["paths"]["/api/v1/edits/{edit_id}/decision"]["post"]["security"]


def test_every_api_operation_declares_its_errors(client):
    spec = client.get("/api/openapi.json").json()
    detail = spec["components"]["schemas"]["ErrorOut"]["properties"]["detail"]
    assert {"type": "string"} in detail["anyOf"] and any(s.get("type") == "array" for s in detail["anyOf"])
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"401", "403", "404", "409", "415", "422"} <= codes, (method, path)
            assert operation["responses"]["422"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorOut"}, (method, path)
