"""The outage drill over every synthesized stack: AWS FIS templates bounded in time with a stop
condition on an existing alarm, their role trusted by FIS alone and allowed only what the actions
need, the FIS Lambda extension on exactly the user routes' functions, and `/chaos drill`'s access."""

from __future__ import annotations

import json
import re

from .graphs import allows, as_list

TEMPLATE = "aws:fis/experimentTemplate:ExperimentTemplate"
MAX_MINUTES = 15
USER_ROUTE_FUNCTIONS = {"login", "hello", "clicks", "health", "discovery", "web"}


def templates(graphs):
    found = [(stack, t) for stack, graph in graphs.items() for t in graph.of_type(TEMPLATE)]
    assert found, "no FIS experiment template in any stack: the rules would check nothing"
    return found


def minutes(duration: str) -> int:
    match = re.fullmatch(r"PT([0-9]+)M", duration)
    assert match, f"duration {duration!r} is not whole minutes in ISO 8601"
    return int(match.group(1))


def test_every_drill_action_is_bounded_in_time(graphs):
    for _, template in templates(graphs):
        for action in template["inputs"]["actions"]:
            (duration,) = [p["value"] for p in action["parameters"] if p["key"] == "duration"]
            assert 1 <= minutes(duration) <= MAX_MINUTES, (
                f"{template['urn']}: {action['name']} lasts {duration}"
            )


def test_every_drill_stops_on_its_own_regions_dead_letter_alarm(graphs):
    for stack, template in templates(graphs):
        graph = graphs[stack]
        (condition,) = template["inputs"]["stopConditions"]
        assert condition["source"] == "aws:cloudwatch:alarm", template["urn"]
        (alarm,) = [
            a
            for a in graph.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
            if a["outputs"]["arn"] == condition["value"]
        ]
        assert alarm["inputs"]["namespace"] == "AWS/SQS", f"{template['urn']}: stops on {alarm['urn']}"
        assert alarm["inputs"]["dimensions"]["QueueName"].startswith("dead-letters"), alarm["urn"]


def test_every_drill_pauses_this_regions_replica_and_fails_the_user_route_functions(graphs):
    for stack, template in templates(graphs):
        graph = graphs[stack]
        targets = {target["name"]: target for target in template["inputs"]["targets"]}
        actions = template["inputs"]["actions"]
        assert {a["actionId"] for a in actions} == {
            "aws:dynamodb:global-table-pause-replication",
            "aws:lambda:invocation-error",
        }
        (pausing,) = [a for a in actions if a["actionId"] == "aws:dynamodb:global-table-pause-replication"]
        pause = targets[pausing["target"]["value"]]
        assert pause["resourceType"] == "aws:dynamodb:global-table"
        own_table = {r["outputs"]["arn"] for r in graph.of_type("aws:dynamodb/table:Table")} | {
            r["outputs"]["arn"] for r in graph.of_type("aws:dynamodb/tableReplica:TableReplica")
        }
        assert pause["resourceArns"] and set(pause["resourceArns"]) <= own_table, template["urn"]
        failing = [
            targets[a["target"]["value"]] for a in actions if a["actionId"] == "aws:lambda:invocation-error"
        ]
        assert all(target["resourceType"] == "aws:lambda:function" for target in failing), template["urn"]
        assert all(len(target["resourceArns"]) <= 5 for target in failing), template["urn"]
        arns = [arn for target in failing for arn in target["resourceArns"]]
        sources = sorted(graph.function_for(arn)["inputs"]["handler"].split(".")[0] for arn in arns)
        assert sources == sorted(USER_ROUTE_FUNCTIONS), f"{template['urn']}: {sources}"


def test_fis_extension_is_on_exactly_the_functions_a_drill_targets(graphs):
    for graph in graphs.values():
        for function in graph.of_type("aws:lambda/function:Function"):
            source = function["inputs"]["handler"].split(".")[0]
            variables = function["inputs"]["environment"]["variables"]
            layers = function["inputs"]["layers"]
            carries = "AWS_FIS_CONFIGURATION_LOCATION" in variables
            assert carries == (source in USER_ROUTE_FUNCTIONS), f"{function['urn']}"
            if not carries:
                continue
            assert variables["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/aws-fis/bootstrap", function["urn"]
            assert any(":layer:aws-fis-extension-" in layer for layer in layers), function["urn"]
            location = variables["AWS_FIS_CONFIGURATION_LOCATION"]
            assert location.startswith("arn:aws:s3:::") and location.endswith("/FisConfigs/"), function["urn"]
            policy = json.loads(graph.role_policy_of(function)["inputs"]["policy"])
            assert allows(policy, "s3:GetObject", location + "fault.json"), function["urn"]


def test_fis_role_is_trusted_by_fis_for_this_accounts_experiments_only(graphs):
    for stack, template in templates(graphs):
        graph = graphs[stack]
        (role,) = [
            r
            for r in graph.of_type("aws:iam/role:Role")
            if r["outputs"]["arn"] == template["inputs"]["roleArn"]
        ]
        (statement,) = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
        assert statement["Principal"] == {"Service": "fis.amazonaws.com"}, role["urn"]
        condition = statement["Condition"]
        assert condition["StringEquals"]["aws:SourceAccount"] == "123456789012", role["urn"]
        assert (
            condition["ArnLike"]["aws:SourceArn"]
            == f"arn:aws:fis:{stack.split('+')[0]}:123456789012:experiment/*"
        )


def test_fis_role_allows_only_what_the_drill_actions_need(graphs):
    needed = {
        "dynamodb:DescribeTable",
        "dynamodb:GetResourcePolicy",
        "dynamodb:PutResourcePolicy",
        "dynamodb:DeleteResourcePolicy",
        "lambda:GetFunction",
        "s3:PutObject",
        "s3:DeleteObject",
        "tag:GetResources",
    }
    for stack, template in templates(graphs):
        graph = graphs[stack]
        (role,) = [
            r
            for r in graph.of_type("aws:iam/role:Role")
            if r["outputs"]["arn"] == template["inputs"]["roleArn"]
        ]
        (policy,) = [
            p for p in graph.of_type("aws:iam/rolePolicy:RolePolicy") if p["inputs"]["role"] == role["id"]
        ]
        statements = json.loads(policy["inputs"]["policy"])["Statement"]
        granted = {action for s in statements for action in as_list(s["Action"])}
        assert granted == needed, f"{policy['urn']}: {sorted(granted ^ needed)}"
        for s in statements:
            if "*" in as_list(s["Resource"]):
                assert as_list(s["Action"]) == ["tag:GetResources"], f"{policy['urn']}: {s['Action']} on *"


def test_slack_commands_may_start_drills_and_read_their_templates_but_pass_no_role(graphs):
    for stack, graph in graphs.items():
        function = graph.function("slack_commands")
        policy = json.loads(graph.role_policy_of(function)["inputs"]["policy"])
        template = "arn:aws:fis:us-west-2:123456789012:experiment-template/EXT123"
        assert allows(policy, "fis:StartExperiment", template), function["urn"]
        assert allows(policy, "fis:StartExperiment", "arn:aws:fis:us-west-2:123456789012:experiment/EXP1")
        assert not allows(policy, "iam:PassRole", "arn:aws:iam::123456789012:role/anything"), function["urn"]
        prefix = function["inputs"]["environment"]["variables"]["DRILL_PARAMETER_PREFIX"]
        templates = f"arn:aws:ssm:us-west-2:123456789012:parameter{prefix}/us-west-2"
        # Read alone to start a drill, with the region's chaos state for /chaos status.
        assert allows(policy, "ssm:GetParameter", templates)
        assert allows(policy, "ssm:GetParameters", templates)
        (drill_parameter,) = [
            p for p in graph.of_type("aws:ssm/parameter:Parameter") if p["inputs"]["name"].startswith(prefix)
        ]
        assert drill_parameter["inputs"]["name"] == f"{prefix}/{stack.split('+')[0]}"


def test_slack_commands_read_any_regions_chaos_state_with_get_parameters_only(graphs):
    for graph in graphs.values():
        function = graph.function("slack_commands")
        policy = json.loads(graph.role_policy_of(function)["inputs"]["policy"])
        prefix = function["inputs"]["environment"]["variables"]["CHAOS_PARAMETER_PREFIX"]
        for region in ("us-east-1", "us-west-2"):
            state = f"arn:aws:ssm:{region}:123456789012:parameter{prefix}/{region}"
            assert allows(policy, "ssm:GetParameters", state), function["urn"]
            assert allows(policy, "ssm:PutParameter", state), function["urn"]
            # The state is read with its region's drill templates, never alone.
            assert not allows(policy, "ssm:GetParameter", state), function["urn"]
