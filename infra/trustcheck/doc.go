// Package trustcheck checks synthesized templates for the exact
// identities issue 18 requires, so the example, the 2,000-target and the
// 10,000-target synths are held to the same rules: no trust, exemption or
// output names a principal by pattern (an IAM path wildcard, a "*" in an
// aws:PrincipalArn value); every shard's rotator role has its literal
// plan.RotatorRoleName and no path; every target secret's resource policy
// denies every write, staging, policy, replication and deletion action and
// every change to stsrotator: tags to all but exact ARNs: that target's
// rotator role and the CDK execution role.
package trustcheck
