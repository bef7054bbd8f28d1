"""The local Lambda runner: a worker's context names the log stream its lines are shipped to."""

from __future__ import annotations

import json

from localcloud.runner import FunctionSpec, LocalFunction

HANDLER = """
def handler(event, context):
    print("hello from the handler")
    return {"stream": context.log_stream_name, "group": context.log_group_name}
"""


def test_the_context_names_the_log_stream_its_lines_go_to(tmp_path):
    (tmp_path / "probe.py").write_text(HANDLER)
    shipped: list[tuple[str, str, str]] = []
    spec = FunctionSpec(
        name="probe",
        arn="arn:aws:lambda:us-east-1:123456789012:function:probe",
        source="probe",
        region="us-east-1",
        handler="probe.handler",
        paths=[str(tmp_path)],
        environment={},
        timeout=30,
        memory=128,
        log_group="/aws/lambda/probe",
    )
    function = LocalFunction(spec, lambda *line: shipped.append(line), lambda url, body: None)
    try:
        answer = function.invoke({})
    finally:
        function.stop()

    assert answer["group"] == "/aws/lambda/probe"
    streams = {stream for group, stream, line in shipped if "hello from the handler" in line}
    assert streams == {answer["stream"]}, json.dumps(shipped)[:500]
