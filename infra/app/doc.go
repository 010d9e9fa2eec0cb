// Command app is the CDK app cdk.json runs: it loads and validates the
// config named by the `config` context value, plans where each target goes,
// stages the function package and synthesises the service, failing on any
// config problem or unsuppressed cdk-nag finding.
package main
