async def test_health_answers_without_a_token(app_client):
    """The liveness route needs no token."""
    response = await app_client.get("/api/v1/health")
    assert response.status_code == 200
