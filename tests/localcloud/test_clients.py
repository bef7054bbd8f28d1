"""The local cloud's AWS clients: one session's models shared by every client, safe to create from
many threads at once (the data plane's services each make their own)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from localcloud.graph import aws_client

MOTO = "http://127.0.0.1:1"  # never called: creating a client makes no request


def test_clients_of_one_service_share_its_loaded_model():
    first = aws_client("sqs", "us-east-1", MOTO)
    second = aws_client("sqs", "us-west-2", MOTO)
    assert first.meta.service_model._service_description is second.meta.service_model._service_description
    assert second.meta.region_name == "us-west-2"


def test_clients_can_be_created_from_many_threads_at_once():
    services = ["sqs", "logs", "cloudwatch", "dynamodb", "kinesis", "ssm"] * 8
    with ThreadPoolExecutor(max_workers=16) as pool:
        clients = list(pool.map(lambda service: aws_client(service, "us-east-1", MOTO), services))
    assert [client.meta.service_model.service_name for client in clients] == services
