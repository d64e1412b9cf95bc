"""Calls a CAR endpoint with the official Tencent Cloud Python SDK.

Used by tests/simulator.rs to show that the simulator accepts what the real
SDK sends (TC3 signature with the port in Host, headers, JSON body) and that
the SDK understands what the simulator answers. Needs the SDK versions pinned
in tests/vectors/README.md:

    pip install tencentcloud-sdk-python-common==3.1.195 \
                tencentcloud-sdk-python-car==3.1.29

Usage:

    python_sdk_call.py --endpoint 127.0.0.1:4055 --secret-id ID --secret-key KEY \
        --user-id u1 --project-id cap-1 [--actions ApplyConcurrent,CreateSession]

Runs ApplyConcurrent, CreateSession, DescribeConcurrentCount and
DestroySession in that order (or the listed ones), stops at the first cloud
error, and prints one JSON list: for each call, its action and either the
`response` the SDK parsed or the `error` it raised (code, message, request id).
"""

import argparse
import json
import sys

from tencentcloud.car.v20220110 import car_client, models
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
    TencentCloudSDKException,
)
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

ALL_ACTIONS = [
    "ApplyConcurrent",
    "CreateSession",
    "DescribeConcurrentCount",
    "DestroySession",
]


def request_for(action, args):
    """The SDK's request model for one action, filled from the arguments."""
    if action == "ApplyConcurrent":
        request = models.ApplyConcurrentRequest()
        request.UserId = args.user_id
        request.UserIp = args.user_ip
        request.ProjectId = args.project_id
    elif action == "CreateSession":
        request = models.CreateSessionRequest()
        request.UserId = args.user_id
        request.UserIp = args.user_ip
        request.ClientSession = args.client_session
    elif action == "DescribeConcurrentCount":
        request = models.DescribeConcurrentCountRequest()
        request.ProjectId = args.project_id
    elif action == "DestroySession":
        request = models.DestroySessionRequest()
        request.UserId = args.user_id
    else:
        raise ValueError("unknown action %r" % action)
    return request


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="host:port, sent as Host")
    parser.add_argument("--secret-id", required=True)
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--user-id", default="sdk-user")
    parser.add_argument("--user-ip", default="203.0.113.7")
    parser.add_argument("--project-id", default="cap-sdk")
    parser.add_argument("--client-session", default="eyJjbGllbnQiOiJzZGsifQ==")
    parser.add_argument("--region", default="ap-guangzhou")
    parser.add_argument("--actions", default=",".join(ALL_ACTIONS))
    args = parser.parse_args()

    # This SDK compares the protocol with "http" exactly: "http://" would
    # silently fall back to https. The endpoint, port included, is also what
    # the SDK sends and signs as Host.
    http_profile = HttpProfile(protocol="http", endpoint=args.endpoint, reqTimeout=10)
    client_profile = ClientProfile(httpProfile=http_profile)
    cred = credential.Credential(args.secret_id, args.secret_key)
    client = car_client.CarClient(cred, args.region, client_profile)

    results = []
    for action in args.actions.split(","):
        try:
            response = getattr(client, action)(request_for(action, args))
            results.append({"action": action, "response": json.loads(response.to_json_string())})
        except TencentCloudSDKException as error:
            results.append(
                {
                    "action": action,
                    "error": {
                        "code": error.get_code(),
                        "message": error.get_message(),
                        "request_id": error.get_request_id(),
                    },
                }
            )
            break

    json.dump(results, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
