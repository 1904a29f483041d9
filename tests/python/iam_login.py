"""AWS IAM login through hvac against a running Strongroom server.

    iam_login.py SERVER_URL [--role ROLE] [--header-value VALUE] [--mount aws]
                 [--access-key KEY] [--secret-key SECRET] [--session-token TOKEN]
                 [--region us-east-1] [--expect-policies p1,p2]
                 [--sign-url https://HOST/]

hvac's ``auth.aws.iam_login`` signs a ``sts:GetCallerIdentity`` request for
``sts.amazonaws.com`` with the given credentials (default: AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY, else ``test``/``test``) and posts it to
``/v1/auth/<mount>/login``. The server must already have the auth method
mounted, a role bound to the caller's ARN, and its STS endpoint pointing at
something that answers GetCallerIdentity (moto: leave ``sts_endpoint`` unset
and start the server with AWS_ENDPOINT_URL=<moto URL>; the default endpoint
accepts requests signed for sts.amazonaws.com, which is what hvac signs).

``--sign-url`` makes hvac sign for another URL (and its host) instead of
``https://sts.amazonaws.com/``, to check that the server refuses a request
signed for a host it does not trust.

On success prints ``iam login ok: policies=[...]`` and exits 0; on any
failure prints the reason to stderr and exits 1.
"""

import argparse
import os
import sys

import hvac
import hvac.exceptions


def sign_for(url: str) -> None:
    """Makes hvac build its GetCallerIdentity request for ``url``."""
    from urllib.parse import urlsplit

    from hvac import aws_utils

    original = aws_utils.generate_sigv4_auth_request

    def generate(header_value=None):
        request = original(header_value=header_value)
        request.prepare_url(url, None)
        request.headers["Host"] = urlsplit(url).netloc
        return request

    aws_utils.generate_sigv4_auth_request = generate


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url", help="Strongroom server URL, e.g. http://127.0.0.1:8200")
    p.add_argument("--role", default=None)
    p.add_argument("--header-value", default=None, help="X-Vault-AWS-IAM-Server-ID value")
    p.add_argument("--mount", default="aws")
    p.add_argument("--access-key", default=os.environ.get("AWS_ACCESS_KEY_ID") or "test")
    p.add_argument("--secret-key", default=os.environ.get("AWS_SECRET_ACCESS_KEY") or "test")
    p.add_argument("--session-token", default=os.environ.get("AWS_SESSION_TOKEN") or None)
    p.add_argument("--region", default="us-east-1")
    p.add_argument(
        "--expect-policies",
        default=None,
        help="comma-separated policies the token must carry (besides default)",
    )
    p.add_argument(
        "--sign-url",
        default=None,
        help="sign for this URL and its host instead of https://sts.amazonaws.com/",
    )
    args = p.parse_args()

    if args.sign_url:
        sign_for(args.sign_url)

    client = hvac.Client(url=args.url)
    try:
        resp = client.auth.aws.iam_login(
            args.access_key,
            args.secret_key,
            session_token=args.session_token,
            header_value=args.header_value,
            role=args.role,
            region=args.region,
            mount_point=args.mount,
        )
    except hvac.exceptions.VaultError as e:
        print(f"iam login failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # connection refused, bad URL, ...
        print(f"iam login failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1

    auth = (resp or {}).get("auth") or {}
    token = auth.get("client_token")
    if not token:
        print(f"iam login failed: no client_token in the response: {resp}", file=sys.stderr)
        return 1
    policies = auth.get("token_policies") or auth.get("policies") or []
    metadata = auth.get("metadata") or {}

    # The token must work: look itself up.
    try:
        me = client.auth.token.lookup_self()["data"]
    except Exception as e:
        print(f"iam login: the issued token does not work: {e}", file=sys.stderr)
        return 1
    if sorted(me.get("policies") or []) != sorted(policies):
        print(
            f"iam login: lookup-self policies {me.get('policies')} differ from the login's {policies}",
            file=sys.stderr,
        )
        return 1

    if args.expect_policies is not None:
        want = {x.strip() for x in args.expect_policies.split(",") if x.strip()}
        missing = want - set(policies)
        if missing:
            print(
                f"iam login: token policies {policies} lack {sorted(missing)}", file=sys.stderr
            )
            return 1

    print(
        f"iam login ok: policies={policies} client_arn={metadata.get('client_arn', '')} "
        f"canonical_arn={metadata.get('canonical_arn', '')}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
