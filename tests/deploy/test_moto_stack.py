"""template.yaml deployed through moto's CloudFormation (server mode), then inspected with boto3.

moto 5.2 deploys the S3, RDS, EC2, IAM and ECR resources. It has no App Runner at all; its
CloudFormation skips AWS::SecretsManager::Secret and AWS::S3::BucketPolicy (with a warning) and
ignores a bucket's versioning and public access block: those are checked by
test_template_properties.py, and Secrets Manager itself (through its API) by test_dbroles.py.
"""

from __future__ import annotations

import ast
import base64
import json
from urllib.parse import unquote

from deploy.aws.stack import bucket_name


def test_what_moto_deployed(deployed):
    created = {k for k, v in deployed.physical.items() if k}
    for name in (
        "Vpc",
        "PrivateSubnetA",
        "PrivateSubnetB",
        "DatabaseSecurityGroup",
        "DataBucket",
        "Repository",
        "Database",
        "AirflowRole",
        "ApiInstanceRole",
        "AirflowInstance",
    ):
        assert name in created, name
    assert deployed.outputs["BucketName"] == bucket_name(deployed.env, "123456789012", "us-east-1")
    assert "ApiServiceUrl" not in deployed.outputs  # ApiEnabled=false: no App Runner


def test_bucket(aws, deployed):
    """moto's CloudFormation applies the bucket's name, encryption and tags; it ignores its
    versioning and public access block (checked in test_template_properties.py)."""
    s3 = aws("s3")
    bucket = deployed.outputs["BucketName"]
    assert bucket in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    tags = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    assert {"Key": "adtech:env", "Value": deployed.env} in tags


def test_database(aws, deployed):
    rds = aws("rds")
    db = rds.describe_db_instances(DBInstanceIdentifier=f"adtech-{deployed.env}")["DBInstances"][0]
    assert db["Engine"] == "postgres"
    assert db["StorageEncrypted"] is True
    assert db["PubliclyAccessible"] is False
    assert db["DBInstanceClass"] == "db.t4g.micro" and db["AllocatedStorage"] == 20
    private = {deployed.physical["PrivateSubnetA"], deployed.physical["PrivateSubnetB"]}
    assert {s["SubnetIdentifier"] for s in db["DBSubnetGroup"]["Subnets"]} == private
    assert db["Endpoint"]["Address"] == deployed.outputs["DatabaseHost"]


def test_security_groups(aws, deployed):
    ec2 = aws("ec2")
    ids = {
        name: deployed.physical[name]
        for name in ("DatabaseSecurityGroup", "AirflowSecurityGroup", "ApiConnectorSecurityGroup")
    }
    groups = {
        g["GroupId"]: g
        for g in ec2.describe_security_groups(GroupIds=list(ids.values()))["SecurityGroups"]
    }
    db = groups[ids["DatabaseSecurityGroup"]]
    sources = {
        (rule["FromPort"], rule["ToPort"], pair["GroupId"])
        for rule in db["IpPermissions"]
        for pair in rule["UserIdGroupPairs"]
    }
    assert sources == {
        (5432, 5432, ids["AirflowSecurityGroup"]),
        (5432, 5432, ids["ApiConnectorSecurityGroup"]),
    }
    assert all(not rule["IpRanges"] for rule in db["IpPermissions"])
    assert groups[ids["AirflowSecurityGroup"]]["IpPermissions"] == []
    assert groups[ids["ApiConnectorSecurityGroup"]]["IpPermissions"] == []


def test_airflow_instance(aws, deployed):
    ec2 = aws("ec2")
    instance_id = deployed.outputs["AirflowInstanceId"]
    reservation = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]
    instance = reservation["Instances"][0]
    assert instance["InstanceType"] == "t2.small"
    # moto ignores NetworkInterfaces (subnet, security group) and MetadataOptions: those are
    # checked in test_template_properties.py.
    profile = instance["IamInstanceProfile"]["Arn"].rsplit("/", 1)[1]
    assert profile == deployed.physical["AirflowInstanceProfile"]
    roles = aws("iam").get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"]
    assert [r["RoleName"] for r in roles] == [f"adtech-{deployed.env}-airflow"]
    data = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
    script = base64.b64decode(data["UserData"]["Value"]).decode()
    assert f"ADTECH_S3_BUCKET={deployed.outputs['BucketName']}" in script
    assert f"ADTECH_DB_HOST={deployed.outputs['DatabaseHost']}" in script
    assert "deploy/source/v1.tar.gz" in script and "install_host.sh" in script


def as_dict(document) -> dict:
    """A policy document as moto's server returns it: JSON, URL-quoted JSON or a Python repr."""
    if isinstance(document, dict):
        return document
    text = unquote(document)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return ast.literal_eval(text)


def test_iam(aws, deployed):
    iam = aws("iam")

    def policies(role: str) -> dict[str, dict]:
        names = iam.list_role_policies(RoleName=role)["PolicyNames"]
        out = {}
        for name in names:
            document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            out[name] = as_dict(document)
        return out

    api = policies(f"adtech-{deployed.env}-api")
    assert list(api) == ["api-secrets"]
    api_actions = {a for p in api.values() for s in p["Statement"] for a in [s["Action"]]}
    assert api_actions == {"secretsmanager:GetSecretValue"}
    assert (
        iam.list_attached_role_policies(RoleName=f"adtech-{deployed.env}-api")["AttachedPolicies"]
        == []
    )
    pipeline = policies(f"adtech-{deployed.env}-airflow")["pipeline-data"]["Statement"]
    arn = f"arn:aws:s3:::{deployed.outputs['BucketName']}"
    by_sid = {s["Sid"]: s for s in pipeline}
    assert by_sid["ReadRaw"]["Resource"] == f"{arn}/raw/*"
    assert by_sid["WriteIntermediate"]["Resource"] == f"{arn}/intermediate/*"
    assert by_sid["ListRaw"]["Resource"] == arn
    assert sorted(by_sid["WriteIntermediate"]["Action"]) == [
        "s3:AbortMultipartUpload",
        "s3:PutObject",
    ]
    trust = iam.get_role(RoleName=f"adtech-{deployed.env}-api")["Role"]["AssumeRolePolicyDocument"]
    trust = as_dict(trust)
    assert trust["Statement"][0]["Principal"] == {"Service": "tasks.apprunner.amazonaws.com"}


def test_repository(aws, deployed):
    ecr = aws("ecr")
    repo = ecr.describe_repositories(repositoryNames=[f"adtech-{deployed.env}-api"])[
        "repositories"
    ][0]
    assert repo["imageTagMutability"] == "IMMUTABLE"
    # (moto's CloudFormation drops ImageScanningConfiguration: see test_template_properties.py)
    assert deployed.outputs["RepositoryUri"] == repo["repositoryUri"]
