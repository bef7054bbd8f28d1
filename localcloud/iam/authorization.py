"""IAM on every call to the local cloud's moto, authorized as AWS authorizes it (runs in moto's
process: ``localcloud.motoserver`` installs it; inert until the local cloud turns enforcement on
with moto's ``/moto-api/reset-auth``, see ``localcloud.iam.principals``).

moto 5.2 authorizes a request once its ``INITIAL_NO_AUTH_ACTION_COUNT`` requests have passed:
it checks the key (and session token) and evaluates the caller's inline and attached policies.
Where that differs from AWS in ways this program meets, this module follows AWS:

- moto checks the API's action against the resource ``*`` for every service but S3, SQS, IAM and
  STS, so a statement naming a table, parameter or bus never allows anything. Here a request is
  checked against the resources AWS names in its Service Authorization Reference
  (https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html).
- moto checks ``dynamodb:TransactWriteItems``, which AWS never asks for: AWS authorizes each
  item's own action (Put: PutItem, Update: UpdateItem, Delete: DeleteItem, ConditionCheck:
  ConditionCheckItem) on its table
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).
- ``ssm:GetParametersByPath`` is authorized against the path in the request, not the parameters
  it returns (https://docs.aws.amazon.com/systems-manager/latest/userguide/ps-retrieval-authorization.html).
- ``events:PutEvents`` is authorized on each entry's event bus.
- S3 GetObject of a missing key is 404 NoSuchKey in moto whoever asks; AWS answers 403
  AccessDenied unless the caller may also s3:ListBucket the bucket
  (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, Permissions).
- moto fails with a TypeError when anyone assumes a role that trusts only a service (``Principal:
  {"Service": ...}``). Here a service the local cloud stands in for (Lambda) calls as an IAM user
  under ``SERVICE_PATH`` named after its service principal, and a trust policy is evaluated for
  it as AWS evaluates a service principal: only a ``Service`` principal naming it matches.
- moto answers AccessDenied, InvalidClientTokenId and SignatureDoesNotMatch in XML for every
  service, which botocore cannot read from a JSON-protocol service (its code comes out "403");
  such a service (DynamoDB, SSM, EventBridge, ...) answers ``AccessDeniedException``,
  ``UnrecognizedClientException`` or ``InvalidSignatureException`` in JSON with status 400, as
  AWS does (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html).

- Reading a SecureString with decryption needs ``kms:Decrypt`` on its key besides the SSM action,
  with ``kms:ViaService`` ``ssm.<region>.amazonaws.com``
  (https://docs.aws.amazon.com/systems-manager/latest/userguide/secure-string-parameter-kms-encryption.html).
  For a customer managed key, its key policy decides: it allows the caller itself, or it
  delegates to IAM (the account as principal) and the caller's policies allow it
  (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html). An AWS managed
  key (``alias/aws/ssm``) lets every principal of the account use it through SSM.

Not evaluated (absent here, as moto has them): permission boundaries, SCPs and session policies.
Resource policies on the local data plane's deliveries are evaluated where it delivers
(``localcloud.iam.deliveries``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import JsonRESTError
from moto.fis.models import fis_backends
from moto.iam.access_control import IAMRequest
from moto.iam.utils import format_incoming_conditional_values
from moto.kms.models import kms_backends
from moto.s3.exceptions import MissingKey
from moto.s3.responses import S3Response
from moto.ssm.models import ssm_backends

from localcloud.iam import policy
from localcloud.iam.policy import trusts
from localcloud.iam.principals import SERVICE_PATH

Needs = list[tuple[str, str]]  # (IAM action, resource ARN) pairs a request is authorized against


class JsonError(JsonRESTError):
    """An error of a JSON-protocol service: ``__type`` and ``message``, status 400."""

    code = 400


# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html
TRANSACTION_ITEM_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}


def _dynamodb(action: str, body: dict[str, Any], region: str, account: str) -> Needs | None:
    """https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html"""

    def table(name: str, index: str | None = None) -> str:
        arn = name if name.startswith("arn:") else f"arn:aws:dynamodb:{region}:{account}:table/{name}"
        return f"{arn}/index/{index}" if index else arn

    if action in ("TransactWriteItems", "TransactGetItems"):
        # A malformed item is left to moto's validation: it names no resource to authorize.
        return [
            (TRANSACTION_ITEM_ACTIONS[kind], table(operation["TableName"]))
            for entry in body.get("TransactItems") or []
            for kind, operation in (entry.items() if isinstance(entry, dict) else [])
            if kind in TRANSACTION_ITEM_ACTIONS and isinstance(operation, dict) and "TableName" in operation
        ]
    if action in ("BatchWriteItem", "BatchGetItem"):
        return [(f"dynamodb:{action}", table(name)) for name in body.get("RequestItems") or {}]
    if isinstance(body.get("TableName"), str):
        return [(f"dynamodb:{action}", table(body["TableName"], body.get("IndexName")))]
    return None


def _ssm(action: str, body: dict[str, Any], region: str, account: str) -> Needs | None:
    """https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssystemsmanager.html;
    GetParametersByPath on the path:
    https://docs.aws.amazon.com/systems-manager/latest/userguide/ps-retrieval-authorization.html"""

    def parameter(name: str) -> str:
        return f"arn:aws:ssm:{region}:{account}:parameter/{name.removeprefix('/')}"

    if action == "GetParametersByPath" and isinstance(body.get("Path"), str):
        return [("ssm:GetParametersByPath", parameter(body["Path"]))]
    if action in ("GetParameters", "DeleteParameters"):
        return [
            (f"ssm:{action}", parameter(name)) for name in body.get("Names") or [] if isinstance(name, str)
        ]
    if isinstance(body.get("Name"), str):
        return [(f"ssm:{action}", parameter(body["Name"]))]
    return None


def _events(action: str, body: dict[str, Any], region: str, account: str) -> Needs | None:
    """https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoneventbridge.html"""

    def bus(name: str | None) -> str:
        name = name or "default"
        return name if name.startswith("arn:") else f"arn:aws:events:{region}:{account}:event-bus/{name}"

    if action == "PutEvents":
        entries = [entry for entry in body.get("Entries") or [] if isinstance(entry, dict)]
        return [("events:PutEvents", arn) for arn in sorted({bus(e.get("EventBusName")) for e in entries})]
    return None


def _logs(action: str, body: dict[str, Any], region: str, account: str) -> Needs | None:
    """https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html:
    a stream's actions on the log stream's ARN (which a log group's ``arn:...:log-group:name:*``
    covers)."""
    group, stream = body.get("logGroupName"), body.get("logStreamName")
    if action in ("CreateLogStream", "PutLogEvents") and isinstance(group, str) and isinstance(stream, str):
        return [(f"logs:{action}", f"arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:{stream}")]
    return None


RESOLVERS: dict[str, Callable[[str, dict[str, Any], str, str], Needs | None]] = {
    "dynamodb": _dynamodb,
    "ssm": _ssm,
    "events": _events,
    "logs": _logs,
}


def _fis_start(body: dict[str, Any], region: str, account: str) -> tuple[Needs, dict[str, str]] | None:
    """StartExperiment on the template and on the experiment it creates, with the template's tags
    as aws:ResourceTag/<key> (https://docs.aws.amazon.com/service-authorization/latest/reference/list_fis.html).
    moto checks it against "*" and with no condition values, which no policy naming a template matches."""
    template_id = body.get("experimentTemplateId")
    if not isinstance(template_id, str):
        return None
    backend = fis_backends[account][region]
    template = backend.experiment_templates.get(template_id)
    tags = backend.tagger.get_tag_dict_for_resource(template.arn) if template is not None else {}
    needed = [
        ("fis:StartExperiment", f"arn:aws:fis:{region}:{account}:experiment-template/{template_id}"),
        # The experiment's id is not known before it is created: any experiment of the region.
        ("fis:StartExperiment", f"arn:aws:fis:{region}:{account}:experiment/*"),
    ]
    return needed, {f"aws:ResourceTag/{key}": value for key, value in tags.items()}


def json_body(raw: bytes) -> dict[str, Any] | None:
    """A JSON request's members; None for a body that is not a JSON object (moto's validation
    answers it)."""
    try:
        parsed = json.loads(raw or b"{}")
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else {}


def needs(service: str, action: str, body: dict[str, Any] | None, region: str, account: str) -> Needs | None:
    """What a JSON request of `service` is authorized against; None: moto's own (action, resource)."""
    resolver = RESOLVERS.get(service)
    if resolver is None or body is None:
        return None
    return resolver(action, body, region, account)


class Request(IAMRequest):
    """moto's IAM request, checked against several (action, resource) pairs, with AWS's error."""

    resource = "*"
    condition_values: dict[str, str] | None = None  # context keys AWS gives the policies' conditions

    def check(self, action: str, resource: str) -> None:
        self._action, self.resource = action, resource
        if self.condition_values is None:
            self.check_action_permitted(resource)
            return
        # With condition values, the caller's policies are evaluated as AWS does (localcloud.iam.policy):
        # moto lets a statement whose condition key is missing apply, and denies outright on a mismatch.
        caller = policy.Caller(account=self.account_id, arn=self._access_key.arn)
        asked = policy.Request(action, resource, caller, self.condition_values)
        if (
            policy.evaluate(self._access_key.collect_policies(), asked, resource_policy=False)
            is not policy.Decision.ALLOW
        ):
            self._raise_access_denied()

    def _raise_access_denied(self) -> None:
        message = (
            f"User: {self._access_key.arn} is not authorized to perform: {self._action} on resource: "
            f"{self.resource} because no identity-based policy allows the {self._action} action"
        )
        if "X-Amz-Target" in self._headers:
            raise JsonError("AccessDeniedException", message)
        super()._raise_access_denied()

    def _raise_invalid_access_key(self, reason: str) -> None:
        if "X-Amz-Target" in self._headers:
            raise JsonError(
                "UnrecognizedClientException", "The security token included in the request is invalid."
            )
        super()._raise_invalid_access_key(reason)

    def _raise_signature_does_not_match(self) -> None:
        if "X-Amz-Target" in self._headers:
            raise JsonError(
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided.",
            )
        super()._raise_signature_does_not_match()

    def _check_role_trust_relationship(self, role_arn: str) -> bool:
        caller = self._access_key.arn
        service = None
        if ":user/" in caller:
            user = self.backend.get_user(caller.rsplit("/", 1)[-1])
            service = user.name if user.path == SERVICE_PATH else None
        role = self.backend.get_role_by_arn(role_arn)
        values = format_incoming_conditional_values(self._data)
        return trusts(role.assume_role_policy_document, caller, service, self.account_id, values)


def enforcing() -> bool:
    return ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT


def _authorize(self: Any, resource: str = "*") -> None:
    """moto's ``_authenticate_and_authorize_normal_action`` with the resources AWS checks."""
    if not enforcing():
        ActionAuthenticatorMixin.request_count += 1
        return
    if self.headers.get("X-Amz-Target") in ActionAuthenticatorMixin.PUBLIC_OPERATIONS:
        return
    query = urlparse(self.uri).query
    path = self.raw_path + (f"?{query}" if query else "")
    request = Request(
        account_id=self.current_account,
        method=self.method,
        path=path,
        # A request without a body (a GET): moto signs its data (the query, else its headers) as
        # a form body, so every such REST request (FIS ListExperiments, Lambda ListFunctions)
        # failed its signature. The query is in the path.
        data={} if self.method in ("GET", "HEAD", "DELETE") and not self.raw_body else self.data,
        body=self.raw_body,
        headers=self.headers,
        action=self._get_action(),
    )
    request.check_signature()
    service, action = request._action.split(":", 1)
    required = body = None
    if "X-Amz-Target" in self.headers:
        body = json_body(self.raw_body)  # parsed once, for the resources and the keys it names
        required = needs(service, action, body, request._region, self.current_account)
    elif (
        service == "fis" and action == "StartExperiment" and (started := json_body(self.raw_body)) is not None
    ):
        resolved = _fis_start(started, request._region, self.current_account)
        if resolved is not None:
            required, request.condition_values = resolved
    for needed_action, arn in [(request._action, resource)] if required is None else required:
        request.check(needed_action, arn)
    if service == "ssm" and body is not None:
        for key_arn in _decrypted_keys(action, body, request._region, self.current_account):
            _check_decrypt(request, key_arn, f"ssm.{request._region}.amazonaws.com")


AWS_MANAGED_SSM_KEY = "alias/aws/ssm"


def _decrypted_keys(action: str, body: dict[str, Any], region: str, account: str) -> list[str]:
    """The ARNs of the customer managed keys a read with decryption decrypts under."""
    if body.get("WithDecryption") is not True:
        return []
    backend = ssm_backends[account][region]
    if action == "GetParameter" and isinstance(body.get("Name"), str):
        names = [body["Name"].split(":", 1)[0]]
    elif action == "GetParameters":
        names = [name.split(":", 1)[0] for name in body.get("Names") or [] if isinstance(name, str)]
    elif action == "GetParametersByPath" and isinstance(body.get("Path"), str):
        path = body["Path"].rstrip("/") + "/"
        names = list(backend._parameters.get_keys_beginning_with(path, bool(body.get("Recursive"))))
    else:
        return []
    keys = kms_backends[account][region]
    found = []
    for name in names:
        parameter = backend.get_parameter(name)
        if parameter is None or parameter.parameter_type != "SecureString":
            continue
        key_id = parameter.keyid or AWS_MANAGED_SSM_KEY
        if key_id == AWS_MANAGED_SSM_KEY or key_id.endswith(":alias/aws/ssm"):
            continue
        try:
            found.append(keys.keys[keys.any_id_to_key_id(key_id)].arn)
        except KeyError:
            # A key that is gone: the value cannot be decrypted by anyone.
            missing = f"Key {key_id} of parameter {name} does not exist"
            raise JsonError("KMS.NotFoundException", missing) from None
    return sorted(set(found))


def _check_decrypt(request: Request, key_arn: str, via: str) -> None:
    """kms:Decrypt on `key_arn` for the caller, through the service `via`: the key policy allows
    the caller, or delegates to IAM and the caller's identity policies allow it."""
    _, _, _, region, account, _ = key_arn.split(":", 5)
    key_policy = kms_backends[account][region].get_key_policy(key_arn.rsplit("/", 1)[-1])
    caller = policy.Caller(account=request.account_id, arn=request._access_key.arn)
    asked = policy.Request(
        "kms:Decrypt", key_arn, caller, {"kms:ViaService": via, "kms:CallerAccount": request.account_id}
    )
    direct = policy.evaluate([key_policy], asked, resource_policy=True, account_means_everyone=False)
    identity = policy.evaluate(
        [_document(p) for p in request._access_key.collect_policies()], asked, resource_policy=False
    )
    allowed = direct is policy.Decision.ALLOW or (
        policy.delegates_to_iam(key_policy, "kms:Decrypt", account) and identity is policy.Decision.ALLOW
    )
    if policy.Decision.DENY in (direct, identity) or not allowed:
        raise JsonError(
            "AccessDeniedException",
            f"User: {caller.arn} is not authorized to perform: kms:Decrypt on resource: {key_arn} "
            "because no identity-based policy allows the kms:Decrypt action",
        )


def _document(found: Any) -> str:
    """A role's inline policy (its document), a user's (a dict), or an attached managed policy's
    default version, as moto's collect_policies gives them."""
    if isinstance(found, str):
        return found
    if isinstance(found, dict):
        return str(found["policy_document"])
    return next(version.document for version in found.versions if version.is_default)


_original_get_object = S3Response.get_object


def _get_object(self: Any) -> Any:
    """moto's GetObject; for a missing key, AccessDenied unless the caller may list the bucket."""
    try:
        return _original_get_object(self)
    except MissingKey:
        if enforcing():
            self.data["Action"] = "ListBucket"
            self._authenticate_and_authorize_s3_action(bucket_name=self.bucket_name)
        raise


def install() -> None:
    ActionAuthenticatorMixin._authenticate_and_authorize_normal_action = _authorize  # type: ignore[method-assign]
    S3Response.get_object = _get_object  # type: ignore[method-assign]
