from tests.api.conftest import bearer


async def test_metrics_show_queue_depths_counters_and_request_latency(http, producer_bearer, worker_bearer):
    for priority in (1, 5):
        await http.post(
            "/v1/codeq/tasks",
            json={"command": "mail.send", "payload": {}, "priority": priority},
            headers=bearer(producer_bearer),
        )
    claimed = (await http.post("/v1/codeq/tasks/claim", json={}, headers=bearer(worker_bearer))).json()
    await http.post(
        f"/v1/codeq/tasks/{claimed['id']}/result",
        json={"status": "COMPLETED", "result": {}},
        headers=bearer(worker_bearer),
    )
    response = await http.get("/metrics")
    assert response.status_code == 200
    text = response.text
    assert 'codeq_queue_ready{command="mail.send",tenant="acme"} 1.0' in text
    assert 'codeq_tasks_created_total{command="mail.send",tenant="acme"} 2.0' in text
    assert 'codeq_tasks_completed_total{command="mail.send",tenant="acme"} 1.0' in text
    assert 'codeq_queue_in_flight{command="mail.send",tenant="acme"} 0.0' in text
    assert 'codeq_request_seconds_count{operation="create"}' in text
