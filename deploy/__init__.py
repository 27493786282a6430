"""Deployment of the project (deploy/aws: AWS, as CloudFormation)."""
