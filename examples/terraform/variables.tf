# The cluster's OIDC issuer, e.g. module.eks.cluster_oidc_issuer_url of terraform-aws-modules/eks,
# or `aws eks describe-cluster --query cluster.identity.oidc.issuer`. Its IAM OIDC provider must
# exist (eksctl utils associate-iam-oidc-provider, or the EKS module's enable_irsa).
variable "cluster_oidc_issuer_url" {
  type        = string
  description = "The EKS cluster's OIDC issuer URL (https://oidc.eks.<region>.amazonaws.com/id/<id>)"
}

variable "namespace" {
  type        = string
  description = "The namespace of the pod sample-app and of its ServiceAccounts"
  default     = "default"
}
