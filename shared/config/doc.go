// Package config owns stsrotator's one configuration file: the YAML that
// declares every target (a role to assume and the secret its credentials
// land in). It parses, applies defaults and validates in one pass, and
// reports every problem at once, each naming the file, line, field and fix.
//
// The infra app, the functions and the CLI all load targets through this
// package, so a config that synthesises is exactly the config that runs.
package config
