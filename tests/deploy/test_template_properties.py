"""Properties of the stack read from template.yaml itself: what moto cannot deploy (App Runner,
Secrets Manager through CloudFormation) is checked here only."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from deploy.aws.stack import TEMPLATE

SECRETS = {"OwnerDbSecret", "ApiDbSecret", "ApiKeysSecret", "AirflowSecret"}


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    props = role["Properties"]
    return [s for p in props.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def refs(value: Any) -> set[str]:
    """Every resource or parameter named by Ref / GetAtt / ${...} inside `value`."""
    text = json.dumps(value)
    found = set(re.findall(r'"Ref": "(\w+)"', text))
    found |= set(re.findall(r'"Fn::GetAtt": \["(\w+)"', text))
    found |= {m.split(".")[0] for m in re.findall(r"\$\{([\w.:]+)\}", text)}
    return found


def test_database_is_encrypted_private_and_its_password_generated(resources):
    db = resources["Database"]["Properties"]
    assert db["StorageEncrypted"] is True
    assert db["PubliclyAccessible"] is False
    assert db["ManageMasterUserPassword"] is True
    assert "MasterUserPassword" not in db
    assert db["Engine"] == "postgres" and db["EngineVersion"].startswith("17")
    assert db["VPCSecurityGroups"] == [{"Ref": "DatabaseSecurityGroup"}]
    group = resources[db["DBSubnetGroupName"]["Ref"]]["Properties"]
    assert group["SubnetIds"] == [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}]


def test_private_subnets_have_no_route_out(resources):
    associations = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::EC2::SubnetRouteTableAssociation"
    ]
    private_tables = {
        a["RouteTableId"]["Ref"] for a in associations if "Private" in a["SubnetId"]["Ref"]
    }
    assert private_tables == {"PrivateRouteTable"}
    routes = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::EC2::Route"]
    assert all(r["RouteTableId"] == {"Ref": "PublicRouteTable"} for r in routes)


def test_bucket_is_versioned_encrypted_and_not_public(resources):
    bucket = resources["DataBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    encryption = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    policy = resources["DataBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert policy[0]["Effect"] == "Deny" and "aws:SecureTransport" in policy[0]["Condition"]["Bool"]


def test_the_api_roles_have_no_s3_at_all(resources):
    for name in ("ApiInstanceRole", "ApiImagePullRole"):
        role = resources[name]["Properties"]
        assert "ManagedPolicyArns" not in role, name
        for statement in statements(resources[name]):
            for action in as_list(statement["Action"]):
                assert not action.lower().startswith("s3:") and action != "*", (name, action)
    instance = statements(resources["ApiInstanceRole"])
    assert [as_list(s["Action"]) for s in instance] == [["secretsmanager:GetSecretValue"]]
    assert refs(instance[0]["Resource"]) == {"ApiDbSecret", "ApiKeysSecret"}
    pull = statements(resources["ApiImagePullRole"])
    assert {a.split(":")[0] for s in pull for a in as_list(s["Action"])} == {"ecr"}
    # Only GetAuthorizationToken (no resource-level permission exists) is on "*".
    star = [s for s in pull if s["Resource"] == "*"]
    assert [s["Action"] for s in star] == ["ecr:GetAuthorizationToken"]


def test_the_pipeline_reads_raw_and_writes_intermediate_only(resources):
    s3 = [
        s
        for s in statements(resources["AirflowRole"])
        if any(a.startswith("s3:") for a in as_list(s["Action"]))
    ]
    grants = {
        (
            tuple(sorted(as_list(s["Action"]))),
            json.dumps(s["Resource"]),
            json.dumps(s.get("Condition")),
        )
        for s in s3
    }
    bucket_arn = json.dumps({"Fn::GetAtt": ["DataBucket", "Arn"]})
    assert grants == {
        (
            ("s3:ListBucket",),
            bucket_arn,
            json.dumps({"StringLike": {"s3:prefix": ["raw/", "raw/*"]}}),
        ),
        (("s3:GetObject",), json.dumps({"Fn::Sub": "${DataBucket.Arn}/raw/*"}), "null"),
        (
            ("s3:AbortMultipartUpload", "s3:PutObject"),
            json.dumps({"Fn::Sub": "${DataBucket.Arn}/intermediate/*"}),
            "null",
        ),
        # Its own code bundle, uploaded by the deploy command.
        (("s3:GetObject",), json.dumps({"Fn::Sub": "${DataBucket.Arn}/deploy/source/*"}), "null"),
    }
    assert all(s["Effect"] == "Allow" for s in s3)


def test_the_pipeline_reads_only_its_database_secrets(resources):
    secrets = [
        s
        for s in statements(resources["AirflowRole"])
        if "secretsmanager:GetSecretValue" in as_list(s["Action"])
    ]
    named = set().union(*(refs(s["Resource"]) for s in secrets if "Condition" not in s))
    assert named == {"OwnerDbSecret", "ApiDbSecret", "AirflowSecret"}  # not the API keys
    master = [s for s in secrets if "Condition" in s]
    assert len(master) == 1
    tag = master[0]["Condition"]["StringEquals"]
    assert list(tag) == ["secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn"]


def test_database_ingress_only_from_airflow_and_the_api_connector(resources):
    db_sg = resources["DatabaseSecurityGroup"]["Properties"]
    assert "SecurityGroupIngress" not in db_sg
    rules = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::EC2::SecurityGroupIngress"
        and r["Properties"]["GroupId"] == {"Ref": "DatabaseSecurityGroup"}
    ]
    assert sorted(r["SourceSecurityGroupId"]["Ref"] for r in rules) == [
        "AirflowSecurityGroup",
        "ApiConnectorSecurityGroup",
    ]
    assert all((r["IpProtocol"], r["FromPort"], r["ToPort"]) == ("tcp", 5432, 5432) for r in rules)
    assert all("CidrIp" not in r for r in rules)
    # Nothing at all reaches the Airflow instance; nothing in the stack is open to the internet.
    assert "SecurityGroupIngress" not in resources["AirflowSecurityGroup"]["Properties"]
    for name, resource in resources.items():
        for rule in resource["Properties"].get("SecurityGroupIngress", []):
            assert rule.get("CidrIp") != "0.0.0.0/0", name
        if resource["Type"] == "AWS::EC2::SecurityGroupIngress":
            assert resource["Properties"].get("CidrIp") != "0.0.0.0/0", name


def test_app_runner_service_private_by_default_with_the_ready_health_check(template, resources):
    service = resources["ApiService"]["Properties"]
    assert service["HealthCheckConfiguration"]["Path"] == "/health/ready"
    assert service["HealthCheckConfiguration"]["Protocol"] == "HTTP"
    network = service["NetworkConfiguration"]
    assert network["EgressConfiguration"]["EgressType"] == "VPC"
    assert refs(network["EgressConfiguration"]["VpcConnectorArn"]) == {"ApiVpcConnector"}
    assert network["IngressConfiguration"]["IsPubliclyAccessible"] == {
        "Fn::If": ["CreatePrivateApi", False, True]
    }
    assert template["Parameters"]["ApiPublic"]["Default"] == "false"
    assert template["Conditions"]["CreatePrivateApi"] == {
        "Fn::And": [{"Condition": "CreateApi"}, {"Fn::Equals": [{"Ref": "ApiPublic"}, "false"]}]
    }
    ingress = resources["ApiIngressConnection"]
    assert ingress["Condition"] == "CreatePrivateApi"
    assert refs(ingress["Properties"]["ServiceArn"]) == {"ApiService"}
    endpoint = resources[ingress["Properties"]["IngressVpcConfiguration"]["VpcEndpointId"]["Ref"]]
    assert endpoint["Properties"]["VpcEndpointType"] == "Interface"
    assert endpoint["Properties"]["ServiceName"] == {
        "Fn::Sub": "com.amazonaws.${AWS::Region}.apprunner.requests"
    }
    connector = resources["ApiVpcConnector"]["Properties"]
    assert connector["SecurityGroups"] == [{"Ref": "ApiConnectorSecurityGroup"}]
    assert refs(service["InstanceConfiguration"]["InstanceRoleArn"]) == {"ApiInstanceRole"}
    assert service["InstanceConfiguration"] == {
        "Cpu": "1 vCPU",
        "Memory": "2 GB",
        "InstanceRoleArn": {"Fn::GetAtt": ["ApiInstanceRole", "Arn"]},
    }


def test_app_runner_gets_its_credentials_and_keys_from_secrets_manager(resources):
    image = resources["ApiService"]["Properties"]["SourceConfiguration"]["ImageRepository"]
    config = image["ImageConfiguration"]
    secrets = {s["Name"]: s["Value"] for s in config["RuntimeEnvironmentSecrets"]}
    assert secrets == {
        "PGPASSWORD": {"Ref": "ApiDbSecret"},
        "ADTECH_API_KEYS": {"Ref": "ApiKeysSecret"},
    }
    variables = {v["Name"]: v["Value"] for v in config["RuntimeEnvironmentVariables"]}
    url = variables["ADTECH_API_DATABASE_URL"]["Fn::Sub"][0]
    # The read-only role, and no password in the URL (libpq takes PGPASSWORD).
    assert url.startswith("postgresql://adtech_api@") and ":" not in url.split("@")[0][13:]
    assert config["Port"] == "8000"


@pytest.mark.parametrize("condition", ["CreateApi", "CreatePrivateApi"])
def test_app_runner_parts_all_hang_on_the_api_condition(resources, condition):
    """ApiEnabled=false (the first deploy, and moto) leaves out every App Runner resource."""
    apprunner = {n for n, r in resources.items() if r["Type"].startswith("AWS::AppRunner::")}
    assert apprunner == {"ApiVpcConnector", "ApiAutoScaling", "ApiService", "ApiIngressConnection"}
    for name in apprunner:
        assert resources[name].get("Condition") in {"CreateApi", "CreatePrivateApi"}, name
    conditional = {n for n, r in resources.items() if r.get("Condition") == condition}
    assert conditional  # both conditions are in use


def test_no_secret_in_the_template(template, resources):
    text = TEMPLATE.read_text()
    generated = {n for n, r in resources.items() if r["Type"] == "AWS::SecretsManager::Secret"}
    assert generated == SECRETS
    for name in generated:
        props = resources[name]["Properties"]
        assert "SecretString" not in props and props["GenerateSecretString"]["PasswordLength"] >= 40
    assert not re.search(r"\bMasterUserPassword\b", text)
    assert "NoEcho" not in text  # no parameter carries a secret
    for name in template["Parameters"]:
        assert not re.search(r"password|secret|key", name, re.I), name
    # No literal that looks like a key or password (long random-looking tokens).
    for token in re.findall(r"[A-Za-z0-9+/=_-]{24,}", text):
        assert not (
            re.search(r"\d", token) and re.search(r"[A-Z]", token) and re.search(r"[a-z]", token)
        ), token


def test_airflow_instance_installs_from_the_lock_file(resources):
    instance = resources["AirflowInstance"]["Properties"]
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    assert instance["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
    assert instance["NetworkInterfaces"][0]["GroupSet"] == [{"Ref": "AirflowSecurityGroup"}]
    script, variables = instance["UserData"]["Fn::Base64"]["Fn::Sub"]
    assert "bash /opt/adtech/app/deploy/aws/install_host.sh" in script
    assert set(variables) == {"DbHost", "DbPort"}
    # Secrets are named (ARNs) in the host settings, never their values.
    for secret in ("OwnerDbSecret", "ApiDbSecret", "AirflowSecret"):
        assert f"=${{{secret}}}" in script
    assert "ApiKeysSecret" not in script
    install = (TEMPLATE.parent / "install_host.sh").read_text()
    assert '"$APP/requirements/dev.txt"' in install and 'uv" pip sync' in install
    assert instance["InstanceType"] == {"Ref": "AirflowInstanceType"}


def test_repository_and_defaults_at_the_statements_sizes(template, resources):
    repo = resources["Repository"]["Properties"]
    assert repo["ImageTagMutability"] == "IMMUTABLE"
    assert repo["ImageScanningConfiguration"] == {"ScanOnPush": True}
    params = template["Parameters"]
    assert params["AirflowInstanceType"]["Default"] == "t2.small"
    assert params["DbInstanceClass"]["Default"] == "db.t4g.micro"
    assert params["DbAllocatedStorage"]["Default"] == 20
    assert params["ApiMinInstances"]["Default"] == 1
