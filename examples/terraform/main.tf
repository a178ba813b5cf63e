# The IAM side of ../manifests: for each of the two ServiceAccounts, an IAM role that only it may
# assume (IRSA), the policy that lets the role read only the article's secret or parameters, and
# the ServiceAccount annotated with the role. The same documents as ../iam/*.json; a unit test
# (e2e/demo/src/terraform.test.ts) keeps them equal.

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = ">= 2.20"
    }
  }
}

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  # The issuer without https://: how IAM names the OIDC provider and its condition keys.
  oidc_provider     = replace(var.cluster_oidc_issuer_url, "https://", "")
  oidc_provider_arn = "arn:aws:iam::${local.account_id}:oidc-provider/${local.oidc_provider}"
}

# ---- Secrets Manager: MyDBSecret ------------------------------------------------------------

# ../iam/secrets-manager-policy.json
data "aws_iam_policy_document" "secrets_manager_mydbsecret_readonly" {
  statement {
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = ["arn:aws:secretsmanager:${local.region}:${local.account_id}:secret:MyDBSecret-*"]
  }
}

resource "aws_iam_policy" "secrets_manager_mydbsecret_readonly" {
  name   = "SecretsManagerMyDBSecretReadOnly"
  policy = data.aws_iam_policy_document.secrets_manager_mydbsecret_readonly.json
}

# ../iam/trust-policy.json for the ServiceAccount sample-app-secrets-manager
data "aws_iam_policy_document" "sample_app_secrets_manager_trust" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_provider}:sub"
      values   = ["system:serviceaccount:${var.namespace}:sample-app-secrets-manager"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_provider}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "sample_app_secrets_manager" {
  name               = "MySampleAppSecretsManager"
  assume_role_policy = data.aws_iam_policy_document.sample_app_secrets_manager_trust.json
}

resource "aws_iam_role_policy_attachment" "sample_app_secrets_manager" {
  role       = aws_iam_role.sample_app_secrets_manager.name
  policy_arn = aws_iam_policy.secrets_manager_mydbsecret_readonly.arn
}

resource "kubernetes_service_account" "sample_app_secrets_manager_access" {
  metadata {
    name      = "sample-app-secrets-manager"
    namespace = var.namespace
    annotations = {
      "eks.amazonaws.com/role-arn" = aws_iam_role.sample_app_secrets_manager.arn
    }
  }
}

# ---- Parameter Store: /sample-app/db/* --------------------------------------------------------

# ../iam/parameter-store-policy.json
data "aws_iam_policy_document" "parameter_store_mydbsecret_readonly" {
  statement {
    effect    = "Allow"
    actions   = ["ssm:GetParameters"]
    resources = ["arn:aws:ssm:${local.region}:${local.account_id}:parameter/sample-app/db/*"]
  }
}

resource "aws_iam_policy" "parameter_store_mydbsecret_readonly" {
  name   = "ParameterStoreMyDBSecretReadOnly"
  policy = data.aws_iam_policy_document.parameter_store_mydbsecret_readonly.json
}

# ../iam/trust-policy.json for the ServiceAccount sample-app-parameter-store
data "aws_iam_policy_document" "sample_app_parameter_store_trust" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_provider}:sub"
      values   = ["system:serviceaccount:${var.namespace}:sample-app-parameter-store"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_provider}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "sample_app_parameter_store" {
  name               = "MySampleAppParameterStore"
  assume_role_policy = data.aws_iam_policy_document.sample_app_parameter_store_trust.json
}

resource "aws_iam_role_policy_attachment" "sample_app_parameter_store" {
  role       = aws_iam_role.sample_app_parameter_store.name
  policy_arn = aws_iam_policy.parameter_store_mydbsecret_readonly.arn
}

resource "kubernetes_service_account" "sample_app_parameter_store_access" {
  metadata {
    name      = "sample-app-parameter-store"
    namespace = var.namespace
    annotations = {
      "eks.amazonaws.com/role-arn" = aws_iam_role.sample_app_parameter_store.arn
    }
  }
}
