package config

import "strings"

// How AWS compares the names stsrotator handles. Each rule is AWS's own,
// cited where it is stated, and names_test.go pins each. Comparisons call
// these functions; the exact ones (secret names, log group names) are also
// what the parser's duplicate checks do with plain map keys.

// SameSessionTagKey reports whether a and b are one session tag key to
// STS. Session tag keys are not case sensitive, though their case is
// preserved: "you cannot have separate Department and department tag
// keys", and a session tag overrides a role tag of the same key in any
// case.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html
// https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html (Tags)
func SameSessionTagKey(a, b string) bool { return strings.EqualFold(a, b) }

// SameResourceTagKey reports whether a and b are one tag key on a secret.
// Secrets Manager says "Tag keys and values are case sensitive", so Team
// and team are two tags.
// https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_TagResource.html
func SameResourceTagKey(a, b string) bool { return a == b }

// ReservedByAWS reports whether a tag key or value starts with aws:, which
// AWS reserves in any combination of upper and lower case.
// https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_TagResource.html
// https://docs.aws.amazon.com/tag-editor/latest/userguide/best-practices-and-strats.html
func ReservedByAWS(s string) bool { return strings.HasPrefix(strings.ToLower(s), "aws:") }

// SameRoleName reports whether a and b name one IAM role. IAM role names
// "are not distinguished by case. For example, you cannot create roles
// named both PRODROLE and prodrole", so a role ARN written in another case
// still names the same role.
// https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html (RoleName)
func SameRoleName(a, b string) bool { return strings.EqualFold(a, b) }

// SameSecretName reports whether a and b name one secret. Secrets Manager
// documents names as ASCII letters, digits and /_+=.@- without folding
// case, and looks a SecretId up exactly; compare exactly.
// https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html (Name)
func SameSecretName(a, b string) bool { return a == b }

// SameLogGroup reports whether a and b name one CloudWatch Logs group.
// Group names are documented as a-z, A-Z, 0-9 and '_-/.#' and unique in a
// Region, without folding case; compare exactly.
// https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html
func SameLogGroup(a, b string) bool { return a == b }

// SameSessionName reports whether a and b are one role session name. STS
// puts the RoleSessionName into the assumed-role ARN as given, and policies
// match that ARN with case-sensitive string conditions; compare exactly.
// https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html (RoleSessionName)
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_String
func SameSessionName(a, b string) bool { return a == b }

// SameExternalID reports whether a and b are one external ID: a trust
// policy compares sts:ExternalId with StringEquals, which is case
// sensitive.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-user_externalid.html
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_String
func SameExternalID(a, b string) bool { return a == b }
