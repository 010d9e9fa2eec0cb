// Package iameval evaluates IAM policies the way AWS documents it, so tests
// can prove what a synthesized policy allows without an AWS account: moto
// and kumo enforce no IAM or resource policy, and "the emulator allowed it"
// proves nothing.
//
// It follows the policy evaluation logic for requests within one account
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
// an explicit Deny in any policy wins; otherwise an Allow in an identity
// policy or in the resource policy (naming the principal) allows; otherwise
// the request is implicitly denied. Role trust policies and KMS key
// policies are the documented exception: they must allow the principal
// themselves (Request.TrustPolicy). For a principal of another account both
// the identity policy and the resource policy must allow
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html).
// SCPs, permissions boundaries and session policies are not modelled.
//
// Action, NotAction, Resource, NotResource and Principal are matched with
// IAM's wildcards, and the Arn* operators component by component (each of
// an ARN's six colon-separated fields on its own, wildcards allowed in
// ArnEquals too); a service principal (Request.Principal without "arn:")
// has no aws:PrincipalArn and no account; conditions support the operators stsrotator's templates
// use (String*, Arn*, Bool, Null, each with IfExists, and the ForAnyValue
// and ForAllValues set operators). Any other operator, NotPrincipal, or a
// malformed document is an error, never a silent allow.
package iameval
