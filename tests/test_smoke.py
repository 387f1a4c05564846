def test_healthz_reports_database_and_schema(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["database"] == "ok"
    assert body["schema"].startswith("00")
