"""The role Q Apps calls are made as, with the archive user's identity (IAM Identity Center).

Q Apps acts as a signed-in user. In ``identity-center`` mode each Q Apps step runs the chain in
``functions/archiver/core/identity.py``: it reads the archive user's token from a secret, exchanges it at
the Identity Center application, and assumes this construct's role with the user's identity context.
The ``qapps:`` permissions are on that role, not on the functions' own roles.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from archiver.core.settings import IDENTITY_CENTER_MODE
from infra.nag import acknowledge_wildcard


class QAppsIdentity(Construct):
    """The identity-enhanced role for Q Apps, and what each Q Apps step needs to assume it.

    Call :meth:`grant_qapps_access` for every function that calls Q Apps (archiving today,
    restoring tomorrow): it trusts the function's role, gives the Q Apps role the actions the function
    calls, lets the function run the chain, and sets the function's ``QAPPS_*`` environment.

    Attributes
    ----------
    role:
        The role assumed with the user's identity context; ``None`` until the first function is granted
        (its trust policy names the functions, and an IAM trust policy cannot be empty).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        secret_arn: str,
        application_arn: str,
        secret_key_arn: str | None = None,
        identity_center_region: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.secret_arn = secret_arn
        self.application_arn = application_arn
        self.secret_key_arn = secret_key_arn
        self.identity_center_region = identity_center_region
        self.role: iam.Role | None = None

    def grant_qapps_access(
        self,
        function: lambda_.Function,
        *,
        actions: Sequence[str],
        resources: Sequence[str],
        wildcards_because: str | None = None,
    ) -> iam.Role:
        """Let ``function`` call ``actions`` on ``resources`` of Q Apps as the archive user.

        Parameters
        ----------
        function
            A step that calls Q Apps through ``archiver.core.clients.qapps()``.
        actions, resources
            The ``qapps:`` actions it calls and the narrowest resources they apply to.
        wildcards_because
            Why a wildcard resource is as narrow as it can be (cdk-nag's IAM5 finding is acknowledged with it).

        Returns
        -------
        iam.Role
            The Q Apps role.
        """
        caller = function.role
        assert caller is not None, "a function built by ArchiverFunctions always has a role"
        role = self._role_trusting(caller)
        role.add_to_principal_policy(iam.PolicyStatement(actions=list(actions), resources=list(resources)))
        for resource in resources:
            if "*" in resource:
                if wildcards_because is None:
                    raise ValueError(f"granting {resource} to the Q Apps role needs the reason for its wildcard")
                acknowledge_wildcard(role, resource, wildcards_because)

        # The chain: read the user's token, exchange it at the application, assume the role with its context.
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[self.secret_arn])
        )
        if self.secret_key_arn is not None:
            secret_region = self.secret_arn.split(":")[3]
            function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["kms:Decrypt"],
                    resources=[self.secret_key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{secret_region}.amazonaws.com"}},
                )
            )
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["sso-oauth:CreateTokenWithIAM"], resources=[self.application_arn])
        )
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["sts:AssumeRole", "sts:SetContext"], resources=[role.role_arn])
        )

        function.add_environment("QAPPS_CREDENTIALS", IDENTITY_CENTER_MODE)
        function.add_environment("QAPPS_IDENTITY_SECRET_ARN", self.secret_arn)
        function.add_environment("QAPPS_IDENTITY_APPLICATION_ARN", self.application_arn)
        function.add_environment("QAPPS_ROLE_ARN", role.role_arn)
        if self.identity_center_region is not None:
            function.add_environment("QAPPS_IDENTITY_CENTER_REGION", self.identity_center_region)
        return role

    def _role_trusting(self, caller: iam.IRole) -> iam.Role:
        if self.role is None:
            self.role = iam.Role(
                self,
                "Role",
                assumed_by=iam.ArnPrincipal(caller.role_arn),
                description="Amazon Q Apps calls of the archiver, as the archive user (IAM Identity Center)",
                # The credentials chain asks for one hour; botocore renews them before they run out.
                max_session_duration=Duration.hours(1),
            )
        # An identity-enhanced session needs sts:SetContext in the trust policy as well as sts:AssumeRole.
        assert self.role.assume_role_policy is not None
        self.role.assume_role_policy.add_statements(
            iam.PolicyStatement(
                actions=["sts:AssumeRole", "sts:SetContext"], principals=[iam.ArnPrincipal(caller.role_arn)]
            )
        )
        return self.role
