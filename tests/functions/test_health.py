from conftest import PRIMARY, body_of, http_event, set_chaos


def test_health_returns_ok_with_region(aws, context):
    from health.app import handler

    response = handler(http_event("GET", "/health", authorized=False), context)

    assert response["statusCode"] == 200
    assert body_of(response) == {"region": PRIMARY, "status": "ok"}


def test_health_returns_503_when_region_failed(aws, context):
    from health.app import handler

    set_chaos(PRIMARY, failed=True)
    response = handler(http_event("GET", "/health", authorized=False), context)

    assert response["statusCode"] == 503
    assert body_of(response) == {"region": PRIMARY, "status": "failed"}


def test_health_rejects_other_methods_with_404(aws, context):
    from health.app import handler

    response = handler(http_event("POST", "/health", authorized=False), context)

    assert response["statusCode"] == 404
    assert "error" in body_of(response)
